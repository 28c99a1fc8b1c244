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
from urllib.parse import urljoin

from ..errors import (
    GraphQLError,
    InvalidSesskey,
    LoginFlowError,
    SessionEndedAtOnce,
    SessionExpired,
    SiteError,
)
from ..settings.reach import network_for_site
from ..site.ajax import data_of, parse_answer
from ..site.http import Answer, credential_client, exchange, maintenance
from ..site.login_state import PageState, logged_in_reason
from ..site.wwwroot import without_query
from ..store.session import Session

if TYPE_CHECKING:
    import httpx

# A page every Totara site has and that needs a logged-in user.
CHECK_PAGE = "/user/profile.php"
STATUS_OPERATION = "totara_webapi_status"


@dataclass(frozen=True)
class SessionCheck:
    valid: bool
    reason: str  # why not, or "logged in"
    ended: bool = False  # the site said so itself (require_login): the session is over there


def check_session(
    session: Session,
    *,
    page_url: str | None = None,
    timeout: float = 30.0,
    http: httpx.Client | None = None,
) -> SessionCheck:
    """Ask the site whether *session* is alive. Raises SiteUnreachable (SiteError for an answer
    that is not Totara's) when the site cannot say: site trouble is never a dead session.
    Pass *http* (a site.http.credential_client) to reuse its connections across many checks."""
    session.check_sendable()
    headers = {"Cookie": session.cookie_header}
    target = page_url if page_url and session.site.contains(page_url) else None
    target = target or session.site.url(CHECK_PAGE)
    url = session.site.ajax_url
    if http is None:
        client_for = credential_client(timeout, network=network_for_site(session.site))
    with contextlib.nullcontext(http) if http else client_for as client:
        answer = exchange(
            client,
            "POST",
            url,
            timeout=timeout,
            where=session.wwwroot,
            headers={**headers, "X-Totara-Sesskey": session.sesskey},
            json={"operationName": STATUS_OPERATION, "variables": {}},
        )
        why, ended = _status_verdict(parse_answer(answer, url), url)
        if why is not None:
            return SessionCheck(False, why, ended)
        page = exchange(
            client, "GET", target, timeout=timeout, where=session.wwwroot, headers=headers
        )
    return _check_page(page, target, session)


def _status_verdict(item: Any, url: str) -> tuple[str | None, bool]:
    """(None, False) when totara_webapi_status answered ok; (why not, whether the site ended
    the session) for an answer that says the session is no good; SiteError for any other."""
    try:
        data = data_of(item, STATUS_OPERATION)
    except SessionExpired as exc:
        return f"expired or logged out: {exc.site_message} (require_login)", True
    except InvalidSesskey:
        return "the sesskey does not belong to the cookie (require_refresh)", False
    except GraphQLError as exc:
        raise SiteError(
            f"{url} answered {STATUS_OPERATION} with an error ({exc.site_message}, "
            f"{exc.category or 'no category'}): the site is in trouble"
        ) from None
    status = data.get(STATUS_OPERATION)
    if not isinstance(status, dict) or status.get("status") != "ok":
        raise SiteError(f"{url} answered {STATUS_OPERATION} without status ok: not a Totara answer")
    return None, False


def _check_page(page: Answer, target: str, session: Session) -> SessionCheck:
    down = maintenance(page.status, page.headers, target)
    if down is not None:
        raise down
    if page.is_redirect:  # to the login page, a required-action page, an identity provider
        where = without_query(urljoin(target, page.headers["location"]))
        return SessionCheck(False, f"not logged in ({target} redirected to {where})")
    if page.status != 200:
        raise SiteError(f"{target} answered HTTP {page.status}: the site is in trouble")
    state = PageState.from_html(page.text)
    why = logged_in_reason(state, target, session.site, session.sesskey)
    return SessionCheck(why is None, why or "logged in")


def verify_session(
    session: Session, page_url: str | None, timeout: float, http: httpx.Client | None = None
) -> Session:
    """Return *session* marked verified, or raise LoginFlowError / SiteUnreachable."""
    result = check_session(session, page_url=page_url, timeout=timeout, http=http)
    if result.ended:
        raise SessionEndedAtOnce(
            f"the site ended the new session before it could be verified ({result.reason}): "
            "something ends this user's sessions (another login of the same user where "
            "concurrent logins are limited, an administrator), or the login page only looked "
            "logged in"
        )
    if not result.valid:
        raise LoginFlowError(
            f"the site does not accept the captured session ({result.reason}); "
            "the login page may not be a standard Totara login"
        )
    return session.verified()
