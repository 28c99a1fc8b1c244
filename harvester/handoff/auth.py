"""TotaraAuth: a Totara session as an `httpx.Auth`, the one home of "attach and renew".

    from harvester import TotaraAuth
    auth = TotaraAuth.from_keyring("https://lms.example.com", "alice")
    with httpx.Client(auth=auth, base_url=auth.wwwroot) as http:
        http.post("/totara/webapi/ajax.php", json={"operationName": "totara_webapi_status",
                                                    "variables": {}})

Requests for the session's own site (its origin, and its folder) get the session cookie and
the X-Totara-Sesskey header; requests anywhere else get nothing. When ajax.php answers
`require_login`, the session is renewed the way `harvest request` renews it (the saved
password, under the (site, user) lock, at most one login per TotaraAuth) and the request sent
again. TotaraClient attaches and renews through these same methods.

Redirects: httpx carries every header but Authorization and Cookie along a redirect it follows
(client option follow_redirects=True), even to another origin. So once httpx's transport has
taken its copy of the headers (the first event it reports through the documented `trace`
request extension), the sesskey is taken off the request again; a redirect built from it
carries neither credential, whatever its target. A transport that reports no trace events
cannot be guarded: with such a transport a followed redirect is reported as a SiteError.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncGenerator, Callable, Generator
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from ..site.ajax import check_operation_name, operation_names_in, session_ended
from ..site.wwwroot import Wwwroot
from ..store.session import Session, normalize_username

if TYPE_CHECKING:
    from ..store.sessions import SessionStore
    from .requests_auth import TotaraRequestsAuth

T = TypeVar("T")
SESSKEY_HEADER = "X-Totara-Sesskey"
# Called when the site says the session is gone; returns a fresh session to retry with.
RefreshHook = Callable[[Session], "Session | None"]
# Renewals per request: the second covers a session that dies again right after the first.
MAX_RENEWALS = 2


def merged_cookie_header(existing: str | None, name: str, value: str) -> str:
    """*existing* Cookie header with our cookie in place of any of the same name (a load
    balancer's cookie stays; a stale or anonymous session cookie goes)."""
    kept = [
        part.strip()
        for part in (existing or "").split(";")
        if part.strip() and part.strip().split("=", 1)[0] != name
    ]
    return "; ".join([*kept, f"{name}={value}"])


def credentials_of(session: Session, existing_cookie: str | None = None) -> dict[str, str]:
    """The headers that carry *session* to its site (*existing_cookie* merged); NoSession when
    a value cannot travel in a header."""
    session.check_sendable()
    return {
        "Cookie": merged_cookie_header(existing_cookie, session.cookie_name, session.cookie_value),
        SESSKEY_HEADER: session.sesskey,
    }


class TotaraAuth(httpx.Auth):
    """Attach one user's Totara session to requests for its site; renew it when it ends."""

    def __init__(self, session: Session, *, on_expired: RefreshHook | None = None) -> None:
        self._session = session
        self.on_expired = on_expired
        self._lock = threading.Lock()

    @classmethod
    def from_keyring(
        cls,
        site: str,
        user: str = "",
        *,
        store: SessionStore | None = None,
        renew: bool = True,
        timeout: float = 30.0,
    ) -> TotaraAuth:
        """The session `harvest login` stored for *user* at *site* (an alias or URL, as --site
        takes); renewed with the saved password when *renew* and one was saved. NoSession
        when there is none."""
        from ..settings.targets import stored_session
        from ..store.sessions import SessionStore
        from ..upkeep.refresh import refresh_hook

        store = store or SessionStore()
        _profile, session = stored_session(site, normalize_username(user), store)
        return cls(session, on_expired=refresh_hook(store, timeout) if renew else None)

    @property
    def session(self) -> Session:
        return self._session

    @property
    def wwwroot(self) -> Wwwroot:
        return self._session.site

    # -- attach -------------------------------------------------------------------------------
    def credentials_for(self, url: str, existing_cookie: str | None = None) -> dict[str, str]:
        """The headers that carry the session to *url*: none unless *url* is on the site."""
        session = self._session
        if not session.site.contains(url):
            return {}
        return credentials_of(session, existing_cookie)

    # -- renew --------------------------------------------------------------------------------
    def renew(self, expired: Session) -> Session | None:
        """A session to use instead of *expired*, which the site refused: the one another
        thread got meanwhile, else one from the renewal hook; None when there is none."""
        with self._lock:
            if self._session is not expired:
                return self._session
            if self.on_expired is None:
                return None
            fresh = self.on_expired(expired)
            if fresh is not None:
                self._session = fresh
            return fresh

    def renewal_steps(
        self, ended: Callable[[Any], bool], first: Session | None = None
    ) -> Generator[tuple[str, Session], Any, None]:
        """The one renewal rule, as steps its caller carries out (each client sends its own
        way; httpx's async flow renews off its event loop):

        - ("send", session): send with *session*, and pass the answer back;
        - ("renew", expired): pass back what `renew(expired)` returns.

        It ends when an answer is not *ended* (the site did not end the session), when no
        fresh session comes, or after MAX_RENEWALS renewals (the second covers a session that
        dies again right after the first). *first*: the session the first send used, when
        the caller sent it before asking (the requests hook)."""
        used = first or self._session
        answer = yield ("send", used)
        for _ in range(MAX_RENEWALS):
            if not ended(answer):
                return
            fresh = yield ("renew", used)
            if fresh is None:
                return
            used = fresh
            answer = yield ("send", used)

    def with_renewal(
        self,
        send: Callable[[Session], T],
        ended: Callable[[T], bool],
        sent: tuple[Session, T] | None = None,
    ) -> T:
        """renewal_steps carried out for a caller that sends by itself (TotaraClient, harvest
        proxy): the last answer, as it is. *sent*: the session a first send used and its
        answer, when the caller sent before asking (harvest proxy, which asks only when an
        answer ended the session)."""
        steps = self.renewal_steps(ended, sent[0] if sent is not None else None)
        step = next(steps)
        answer: Any = None
        while True:
            kind, session = step
            if kind == "send" and sent is not None:
                answer_or_fresh: Any = sent[1]
                sent = None
            else:
                answer_or_fresh = send(session) if kind == "send" else self.renew(session)
            if kind == "send":
                answer = answer_or_fresh
            try:
                step = steps.send(answer_or_fresh)
            except StopIteration:
                return answer  # type: ignore[no-any-return]

    def for_requests(self) -> TotaraRequestsAuth:
        """The same session and renewal as an auth object for the requests library."""
        from .requests_auth import TotaraRequestsAuth

        return TotaraRequestsAuth(self)

    # -- httpx --------------------------------------------------------------------------------
    def _flow(self, request: httpx.Request) -> Generator[Any, Any, None]:
        """Yields ("send", request, read) for a response (read whole when *read*), and
        ("renew", session, False) for a session or None: renewal_steps, for httpx."""
        credentials = self.credentials_for(str(request.url), request.headers.get("Cookie"))
        if not credentials:
            yield ("send", request, False)
            return
        if not _is_ajax(request, self._session.site):  # no answer of it is read for renewal
            request.headers.update(credentials)
            yield ("send", request, False)
            return
        check_names(request.read())
        steps = self.renewal_steps(_require_login)
        step = next(steps)
        while True:
            kind, session = step
            if kind == "send":
                request.headers.update(
                    self.credentials_for(str(request.url), request.headers.get("Cookie"))
                )
                answer = yield ("send", request, True)
            else:
                answer = yield ("renew", session, False)
            try:
                step = steps.send(answer)
            except StopIteration:
                return

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        flow = self._flow(request)
        step = next(flow)
        while True:
            kind, value, read = step
            if kind == "renew":
                answer: Any = self.renew(value)
            else:
                guard = _Guard(value)
                value.extensions = {**value.extensions, "trace": guard.sync_trace}
                answer = yield value
                guard.check(answer)
                if read:
                    answer.read()
            try:
                step = flow.send(answer)
            except StopIteration:
                return

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        import anyio.to_thread

        flow = self._flow(request)
        step = next(flow)
        while True:
            kind, value, read = step
            if kind == "renew":
                # a renewal may log in through a browser: never on the caller's event loop
                answer: Any = await anyio.to_thread.run_sync(self.renew, value)
            else:
                guard = _Guard(value)
                value.extensions = {**value.extensions, "trace": guard.async_trace}
                answer = yield value
                guard.check(answer)
                if read:
                    await answer.aread()
            try:
                step = flow.send(answer)
            except StopIteration:
                return


class _Guard:
    """Takes the sesskey off *request* once the transport has its own copy of the headers
    (its first trace event), so that a redirect httpx builds from the request lacks it."""

    def __init__(self, request: httpx.Request) -> None:
        self.request = request
        self.fired = False
        self.previous = request.extensions.get("trace")

    def _strip(self) -> None:
        self.fired = True
        self.request.headers.pop(SESSKEY_HEADER, None)

    def sync_trace(self, event: str, info: dict[str, Any]) -> None:
        self._strip()
        if self.previous is not None:
            self.previous(event, info)

    async def async_trace(self, event: str, info: dict[str, Any]) -> None:
        self._strip()
        if self.previous is not None:
            await self.previous(event, info)

    def check(self, response: httpx.Response) -> None:
        """A followed redirect through a transport that reports no trace events: the sesskey
        may have gone along; say so instead of carrying on as if nothing happened."""
        if response.history and not self.fired:
            from ..errors import SiteError

            raise SiteError(
                f"{self.request.url.host} redirected and this httpx transport reports no "
                "trace events, so TotaraAuth could not keep the sesskey off the redirect: use "
                "follow_redirects=False with it"
            )


def is_ajax_call(method: str, url: str, wwwroot: Wwwroot) -> bool:
    """A POST to the site's ajax.php: the answers worth reading for require_login."""
    return method.upper() == "POST" and wwwroot.is_ajax(url)


def check_names(body: bytes) -> None:
    """UsageError before anything is sent when an ajax.php body names an operation Totara's
    rule refuses: the session never travels with it."""
    for name in operation_names_in(body):
        check_operation_name(name)


def _is_ajax(request: httpx.Request, wwwroot: Wwwroot) -> bool:
    return is_ajax_call(request.method, str(request.url), wwwroot)


def _require_login(response: httpx.Response) -> bool:
    return says_require_login(response.status_code, response.content)


def says_require_login(status: int, body: bytes) -> bool:
    """Whether an ajax.php answer says the site ended the session (ajax.session_ended). The
    answer is one a user's own client received: odd shapes mean no. (The category's name is
    in the bytes of any answer that has it: a site's JSON escapes no ASCII letter, and parsing
    every answer would cost harvest proxy as much as its parser.)"""
    import json

    if status != 200 or b"require_login" not in body:
        return False
    try:
        payload = json.loads(body)
        first = payload[0] if isinstance(payload, list) and payload else payload
        return session_ended(first)
    except (ValueError, RecursionError, KeyError, IndexError, AttributeError, TypeError):
        return False
