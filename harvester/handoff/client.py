"""TotaraClient: call ajax.php operations with a stored session, on a pooled httpx client.

    from harvester import TotaraClient
    with TotaraClient.from_keyring("https://lms.example.com", "alice") as client:
        data = client.call("totara_webapi_status")

The cookie and the sesskey only ever go to the session's own `ajax.php`: redirects are never
followed and cookies the site sets are not kept. `_nosession` operations carry neither.
Attaching the session and renewing it are TotaraAuth's (auth.py); this client adds the
deadline, the size bound and the shape checks of every answer.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import NoSession, UsageError
from ..settings.reach import network_for_site
from ..site.ajax import data_of, parse_answer, session_ended
from ..site.http import credential_client, exchange
from ..site.wwwroot import Wwwroot
from ..store.session import Session
from .auth import RefreshHook, TotaraAuth

if TYPE_CHECKING:
    import httpx

    from ..store.sessions import SessionStore

DEFAULT_TIMEOUT = 30.0
Operation = tuple[str, Mapping[str, Any] | None]


def is_nosession(operation: str) -> bool:
    return operation.endswith("_nosession")


class TotaraClient:
    """A client for one site's ajax.php, optionally holding one user's session."""

    def __init__(
        self,
        wwwroot: str,
        session: Session | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        on_expired: RefreshHook | None = None,
        http: httpx.Client | None = None,
    ) -> None:
        self.wwwroot = Wwwroot(wwwroot)
        if session is not None and session.wwwroot != self.wwwroot:
            raise UsageError(f"the session belongs to {session.wwwroot}, not {self.wwwroot}")
        self.auth = None if session is None else TotaraAuth(session, on_expired=on_expired)
        self.timeout = timeout
        self._own_http = http is None
        if http is None:  # reached the way the site is configured (its CAs, proxy, client cert)
            http = credential_client(timeout, network=network_for_site(self.wwwroot))
        self._http = http

    @property
    def session(self) -> Session | None:
        """The session in use (a renewal replaces it)."""
        return None if self.auth is None else self.auth.session

    # -- constructors --------------------------------------------------------------------------
    @classmethod
    def from_keyring(
        cls,
        site: str,
        user: str = "",
        *,
        store: SessionStore | None = None,
        renew: bool = False,
        **options: Any,
    ) -> TotaraClient:
        """The session `harvest login` stored for *user* at *site* (a URL or alias, as --site
        takes); NoSession when there is none. *renew*: log in again with the saved password
        when the site ends the session (as harvest request does)."""
        timeout = options.get("timeout", DEFAULT_TIMEOUT)
        auth = TotaraAuth.from_keyring(site, user, store=store, renew=renew, timeout=timeout)
        options.setdefault("on_expired", auth.on_expired)
        return cls(auth.wwwroot, auth.session, **options)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **options: Any) -> TotaraClient:
        """From the variables `harvest env` and `harvest exec` set (TOTARA_WWWROOT, …)."""
        env = os.environ if environ is None else environ
        wwwroot = env.get("TOTARA_WWWROOT")
        if not wwwroot:
            raise NoSession(
                "TOTARA_WWWROOT is not set: run inside harvest exec, or eval harvest env"
            )
        session = None
        if (
            env.get("TOTARA_COOKIE_NAME")
            and env.get("TOTARA_SESSION")
            and env.get("TOTARA_SESSKEY")
        ):
            session = Session(
                wwwroot=Wwwroot(wwwroot),
                user=env.get("TOTARA_USER", ""),
                cookie_name=env["TOTARA_COOKIE_NAME"],
                cookie_value=env["TOTARA_SESSION"],
                sesskey=env["TOTARA_SESSKEY"],
            )
        return cls(wwwroot, session, **options)

    @classmethod
    def from_values(
        cls, wwwroot: str, cookie_name: str, cookie_value: str, sesskey: str, **options: Any
    ) -> TotaraClient:
        session = Session(
            wwwroot=Wwwroot(wwwroot),
            user="",
            cookie_name=cookie_name,
            cookie_value=cookie_value,
            sesskey=sesskey,
        )
        return cls(wwwroot, session, **options)

    # -- calls ---------------------------------------------------------------------------------
    def call(self, operation: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Run one operation; return its `data`, or raise the error the site answered."""
        [data] = self.batch([(operation, variables)])
        return data

    def batch(self, operations: Sequence[Operation]) -> list[dict[str, Any]]:
        """Run several operations in one request; their `data`, in order. The first error
        raises (its `operation` names which)."""
        answers = self.request(operations)
        return [
            data_of(answer, name) for answer, (name, _) in zip(answers, operations, strict=True)
        ]

    def request(self, operations: Sequence[Operation]) -> list[Any]:
        """The raw JSON answer of each operation (`{"data": …}` or `{"errors": …}`)."""
        if not operations:
            raise UsageError("no operation to run")
        from ..operations.checks import check_request

        # Totara's name rule and the batch rule; the variables are the caller's business
        check_request(operations, variables=False)
        payload = [{"operationName": n, "variables": dict(v or {})} for n, v in operations]
        body: Any = payload if len(payload) > 1 else payload[0]
        nosession = all(is_nosession(n) for n, _ in operations)
        if nosession:
            answer = self._post(body, None)
        elif self.auth is None:
            raise NoSession(
                f"operations not ending in _nosession need a session for {self.wwwroot}: "
                "pass --user (after harvest login)"
            )
        else:  # TotaraAuth attaches the session and decides on renewals: one home for both
            auth = self.auth
            answer = auth.with_renewal(lambda _used: self._post(body, auth), session_ended)
        if isinstance(answer, list):
            return answer
        if len(payload) > 1:
            # A whole-request failure (sesskey, session) is answered once for the batch.
            data_of(answer, operations[0][0])
            return [answer] * len(payload)
        return [answer]

    def _post(self, body: Any, auth: TotaraAuth | None) -> Any:
        """POST *body*, with *auth*'s session attached (None: a _nosession request)."""
        headers = {"Accept": "application/json"}
        url = self.wwwroot.ajax_url
        if auth is not None:
            headers.update(auth.credentials_for(url))
        answer = exchange(
            self._http, "POST", url, timeout=self.timeout, where=self.wwwroot, json=body,
            headers=headers,
        )  # fmt: skip
        return parse_answer(answer, url, len(body) if isinstance(body, list) else None)

    # -- lifetime ------------------------------------------------------------------------------
    def close(self) -> None:
        if self._own_http:
            self._http.close()

    def __enter__(self) -> TotaraClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
