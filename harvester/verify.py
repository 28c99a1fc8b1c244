"""Is a session really alive? Asked of the site, never guessed from the cookie's presence.

Two checks (totara-protocol.md): `totara_webapi_status` with cookie and sesskey proves the pair
belongs together; a page fetched with the cookie that carries the same `M.cfg.sesskey` and no
`notloggedin` body class proves a user is logged in. Redirects are never followed, so the cookie
never travels to another origin.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .errors import LoginFlowError, SiteUnreachable
from .session import Session
from .site import ajax_url

if TYPE_CHECKING:
    import httpx

_SESSKEY_RE = re.compile(r'"sesskey":"([^"]+)"')
_BODY_RE = re.compile(r"<body[^>]*\bclass=\"([^\"]*)\"", re.IGNORECASE)
# A page every Totara site has and that needs a logged-in user.
CHECK_PAGE = "/user/profile.php"


@dataclass(frozen=True)
class SessionCheck:
    valid: bool
    reason: str  # why not, or "logged in"


def _same_origin(a: str, b: str) -> bool:
    pa, pb = urlsplit(a), urlsplit(b)
    return (pa.scheme, pa.netloc) == (pb.scheme, pb.netloc)


def check_session(
    session: Session,
    *,
    page_url: str | None = None,
    timeout: float = 30.0,
    http: httpx.Client | None = None,
) -> SessionCheck:
    """Ask the site whether *session* is alive. Raises SiteUnreachable when it cannot say.
    Pass *http* (a client.credential_client) to reuse its connections across many checks."""
    import httpx

    from .client import credential_client

    headers = {"Cookie": session.cookie_header}
    target = page_url if page_url and _same_origin(page_url, session.wwwroot) else None
    target = target or session.wwwroot + CHECK_PAGE
    try:
        with contextlib.nullcontext(http) if http else credential_client(timeout) as client:
            answer = client.post(
                ajax_url(session.wwwroot),
                headers={**headers, "X-Totara-Sesskey": session.sesskey},
                json={"operationName": "totara_webapi_status", "variables": {}},
            )
            status = _status_of(answer)
            if status != "ok":
                return SessionCheck(False, status)
            page = client.get(target, headers=headers)
    except httpx.TimeoutException:
        raise SiteUnreachable(f"{session.wwwroot} did not answer within {timeout:g} s") from None
    except httpx.TransportError as exc:
        raise SiteUnreachable(f"cannot reach {session.wwwroot}: {type(exc).__name__}") from None
    return _check_page(page, target, session.sesskey)


def _check_page(page: httpx.Response, target: str, sesskey: str) -> SessionCheck:
    if page.status_code != 200:
        where = page.headers.get("location", "")
        return SessionCheck(False, f"{target} answered HTTP {page.status_code} {where}".strip())
    found = _SESSKEY_RE.search(page.text)
    body = _BODY_RE.search(page.text)
    if body is not None and "notloggedin" in body.group(1).split():
        return SessionCheck(False, f"not logged in ({target} says notloggedin)")
    if found is None or found.group(1) != sesskey:
        return SessionCheck(False, f"the sesskey does not match the one {target} carries")
    return SessionCheck(True, "logged in")


def verify_session(
    session: Session, page_url: str | None, timeout: float, http: httpx.Client | None = None
) -> Session:
    """Return *session* marked verified, or raise LoginFlowError / SiteUnreachable."""
    result = check_session(session, page_url=page_url, timeout=timeout, http=http)
    if not result.valid:
        raise LoginFlowError(
            f"the site does not accept the captured session ({result.reason}); "
            "the login page may not be a standard Totara login"
        )
    return session.verified()


def _status_of(answer: Any) -> str:
    try:
        payload = answer.json()
    except ValueError:
        return f"ajax.php answered HTTP {answer.status_code}, not JSON"
    if isinstance(payload, dict):
        data = payload.get("data") or {}
        status = (data.get("totara_webapi_status") or {}).get("status")
        if status:
            return str(status)
        errors = payload.get("errors") or [{}]
        category = (errors[0].get("extensions") or {}).get("category", "no category")
        meaning = {
            "require_login": "expired or logged out",
            "require_refresh": "the sesskey does not belong to the cookie",
        }.get(category, errors[0].get("message", ""))
        return f"{meaning} ({category})"
    return f"ajax.php answered HTTP {answer.status_code}"
