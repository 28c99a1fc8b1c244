"""Is a session really alive? Asked of the site, never guessed from the cookie's presence.

Two checks (docs/totara-protocol.md): `totara_webapi_status` with cookie and sesskey proves the
pair belongs together; a page fetched with the cookie that is a logged-in page carrying the same
sesskey (login_state.py) proves a user is logged in. Redirects are never followed, so the cookie
never travels to another origin.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .errors import LoginFlowError
from .login_state import PageState, logged_in_reason
from .session import Session
from .site_http import credential_client, transport_errors
from .wwwroot import ajax_url

if TYPE_CHECKING:
    import httpx

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
    Pass *http* (a site_http.credential_client) to reuse its connections across many checks."""
    headers = {"Cookie": session.cookie_header}
    target = page_url if page_url and _same_origin(page_url, session.wwwroot) else None
    target = target or session.wwwroot + CHECK_PAGE
    with (
        transport_errors(session.wwwroot, timeout),
        contextlib.nullcontext(http) if http else credential_client(timeout) as client,
    ):
        answer = client.post(
            ajax_url(session.wwwroot),
            headers={**headers, "X-Totara-Sesskey": session.sesskey},
            json={"operationName": "totara_webapi_status", "variables": {}},
        )
        status = _status_of(answer)
        if status != "ok":
            return SessionCheck(False, status)
        page = client.get(target, headers=headers)
    return _check_page(page, target, session)


def _check_page(page: httpx.Response, target: str, session: Session) -> SessionCheck:
    if page.status_code != 200:
        where = page.headers.get("location", "")
        return SessionCheck(False, f"{target} answered HTTP {page.status_code} {where}".strip())
    why = logged_in_reason(PageState.from_html(page.text), target, session.wwwroot, session.sesskey)
    return SessionCheck(why is None, why or "logged in")


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
