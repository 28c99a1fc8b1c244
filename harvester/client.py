"""TotaraClient: call ajax.php operations with a stored session, on a pooled httpx client.

    from harvester import TotaraClient
    with TotaraClient.from_keyring("https://lms.example.com", "alice") as client:
        data = client.call("totara_webapi_status")

The cookie and the sesskey only ever go to the session's own `ajax.php`: redirects are never
followed and cookies the site sets are not kept. `_nosession` operations carry neither.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .errors import (
    GraphQLError,
    HarvestError,
    InvalidSesskey,
    NoSession,
    SessionExpired,
    UsageError,
)
from .session import Session
from .site_http import credential_client, maintenance, transport_errors
from .wwwroot import ajax_url, normalize_wwwroot

if TYPE_CHECKING:
    import httpx

    from .store import SessionStore

DEFAULT_TIMEOUT = 30.0
Operation = tuple[str, Mapping[str, Any] | None]
# Called when the site says the session is gone; returns a fresh session to retry with.
RefreshHook = Callable[[Session], "Session | None"]
# Renewals per request: the second covers a session that dies again right after the first.
MAX_RENEWALS = 2


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
        self.wwwroot = normalize_wwwroot(wwwroot)
        if session is not None and session.wwwroot != self.wwwroot:
            raise UsageError(f"the session belongs to {session.wwwroot}, not {self.wwwroot}")
        self.session = session
        self.timeout = timeout
        self.on_expired = on_expired
        self._own_http = http is None
        self._http = http if http is not None else credential_client(timeout)

    # -- constructors --------------------------------------------------------------------------
    @classmethod
    def from_keyring(
        cls, wwwroot: str, user: str, *, store: SessionStore | None = None, **options: Any
    ) -> TotaraClient:
        """The session `harvest login` stored for *user*; NoSession when there is none."""
        from .store import SessionStore

        wwwroot = normalize_wwwroot(wwwroot)
        return cls(wwwroot, (store or SessionStore()).require(wwwroot, user), **options)

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
                wwwroot=normalize_wwwroot(wwwroot),
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
            wwwroot=normalize_wwwroot(wwwroot),
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
        payload = [{"operationName": n, "variables": dict(v or {})} for n, v in operations]
        body: Any = payload if len(payload) > 1 else payload[0]
        answer = self._post(body, all(is_nosession(n) for n, _ in operations))
        for _ in range(MAX_RENEWALS):
            if not (
                _category(answer) == "require_login"
                and self.on_expired is not None
                and self.session is not None
            ):
                break
            fresh = self.on_expired(self.session)
            if fresh is None:
                break
            self.session = fresh
            answer = self._post(body, False)
        if isinstance(answer, list):
            if len(answer) != len(payload):
                raise HarvestError(
                    f"{self.wwwroot} answered {len(answer)} results to {len(payload)}"
                )
            return answer
        if len(payload) > 1:
            # A whole-request failure (sesskey, session) is answered once for the batch.
            data_of(answer, operations[0][0])
            return [answer] * len(payload)
        return [answer]

    def _post(self, body: Any, nosession: bool) -> Any:
        headers = {"Accept": "application/json"}
        if not nosession:
            if self.session is None:
                raise NoSession(
                    f"operations not ending in _nosession need a session for {self.wwwroot}: "
                    "pass --user (after harvest login)"
                )
            headers["Cookie"] = self.session.cookie_header
            headers["X-Totara-Sesskey"] = self.session.sesskey
        with transport_errors(self.wwwroot, self.timeout):
            response = self._http.post(ajax_url(self.wwwroot), json=body, headers=headers)
        down = maintenance(response.status_code, response.headers, self.wwwroot)
        if down is not None:
            raise down
        if response.is_redirect:
            raise HarvestError(
                f"{ajax_url(self.wwwroot)} redirected (HTTP {response.status_code}); not "
                "following: the session stays with its own origin. Is the site URL right?"
            )
        try:
            return response.json()
        except ValueError:
            raise HarvestError(
                f"{ajax_url(self.wwwroot)} answered HTTP {response.status_code} without JSON"
            ) from None

    # -- lifetime ------------------------------------------------------------------------------
    def close(self) -> None:
        if self._own_http:
            self._http.close()

    def __enter__(self) -> TotaraClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _category(answer: Any) -> str | None:
    if isinstance(answer, dict) and answer.get("errors"):
        first = answer["errors"][0]
        if isinstance(first, dict):
            category = (first.get("extensions") or {}).get("category")
            return str(category) if category is not None else None
    return None


def data_of(answer: Any, operation: str) -> dict[str, Any]:
    if not isinstance(answer, dict):
        raise HarvestError(f"{operation}: the site's answer is not a JSON object")
    errors = answer.get("errors")
    if errors:
        first = errors[0] if isinstance(errors[0], dict) else {}
        message = str(first.get("message") or answer.get("error") or "unknown error")
        category = _category(answer)
        if category == "require_login":
            raise SessionExpired(
                f"{operation}: {message} (require_login): the session has expired or was "
                "logged out: run harvest login again",
                category=category,
                operation=operation,
                site_message=message,
            )
        if category == "require_refresh":
            raise InvalidSesskey(
                f"{operation}: {message} (require_refresh): the sesskey does not belong to the "
                "cookie: run harvest login again",
                category=category,
                operation=operation,
                site_message=message,
            )
        raise GraphQLError(
            f"{operation}: {message} ({category or 'no category'})",
            category=category,
            operation=operation,
            site_message=message,
        )
    data = answer.get("data")
    if not isinstance(data, dict):
        raise HarvestError(f"{operation}: the site's answer has no data")
    return data
