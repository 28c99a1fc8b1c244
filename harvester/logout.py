"""`harvest logout`: end a session on the site (logout with its sesskey) and remove it locally."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import HarvestError, NoSession, SiteUnreachable
from .site_http import credential_client
from .store import SessionStore
from .verify import check_session
from .wwwroot import logout_url


@dataclass(frozen=True)
class LogoutResult:
    ended_on_site: bool
    note: str


def logout(store: SessionStore, wwwroot: str, user: str, *, timeout: float = 30.0) -> LogoutResult:
    """End the session on the site (logout with its sesskey) and remove it locally.

    A session the site no longer knows is still removed locally. When the site cannot be
    reached the local copy is removed too, and SiteUnreachable says so.
    """
    import httpx

    session = store.load(wwwroot, user)
    if session is None:
        store.delete(wwwroot, user)  # an index row without a secret
        raise NoSession(f"no stored session for {user} at {wwwroot}: nothing to log out")
    try:  # whatever the site says, the local copy goes
        with credential_client(timeout) as http:
            alive = check_session(session, timeout=timeout, http=http)
            if not alive.valid:
                return LogoutResult(
                    False,
                    f"the site had already ended {user}'s session ({alive.reason}); removed it",
                )
            answer = http.get(
                logout_url(wwwroot),
                params={"sesskey": session.sesskey},
                headers={"Cookie": session.cookie_header},
            )
    except (httpx.HTTPError, SiteUnreachable) as exc:
        raise SiteUnreachable(
            f"removed {user}'s session locally, but could not reach {wwwroot} to end it there "
            f"({type(exc).__name__}); it ends when the site's session timeout passes"
        ) from None
    finally:
        store.delete(wwwroot, user)
    if answer.status_code in (302, 303):
        return LogoutResult(True, f"logged {user} out of {wwwroot} and removed the session")
    raise HarvestError(
        f"removed {user}'s session locally; {wwwroot}/login/logout.php answered "
        f"HTTP {answer.status_code}, so it may still be alive on the site"
    )


def logout_user(
    site: str,
    user: str,
    *,
    forget_password: bool = False,
    timeout: float = 30.0,
    store: SessionStore | None = None,
) -> LogoutResult:
    """`harvest logout`: resolve *site* and *user*, log out; with *forget_password* the saved
    password goes too, whatever happened on the site."""
    from .targets import resolve_target

    store = store or SessionStore()
    profile, user = resolve_target(site, user, store)
    try:
        return logout(store, profile.wwwroot, user, timeout=timeout)
    finally:
        if forget_password:
            store.delete_password(profile.wwwroot, user)
