"""`harvest logout`: end a session on the site (logout with its sesskey) and remove it locally."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import NoSession, SiteError, SiteMaintenance, SiteTrouble, StateUnwritable
from ..logins.verify import check_session
from ..settings.reach import network_for_site
from ..site.http import credential_client, exchange, maintenance
from ..site.wwwroot import Wwwroot
from ..store.sessions import SessionStore


@dataclass(frozen=True)
class LogoutResult:
    ended_on_site: bool
    note: str


def logout(
    store: SessionStore, wwwroot: Wwwroot, user: str, *, timeout: float = 30.0, local: bool = False
) -> LogoutResult:
    """End the session on the site (logout with its sesskey) and remove it locally.

    Only a site that answers require_login has "already ended" a session. When the site cannot
    end it (unreachable, in trouble, in maintenance), SiteUnreachable (exit 5) says so, and the
    local copy is kept, so that a later logout can still end it there; with *local* it is
    removed all the same (a site that is gone for good).
    """
    # Under the (site, user) lock, as every writer: a refresh or check running meanwhile cannot
    # write the session back after it is gone (they re-read it under the same lock).
    with store.lock(wwwroot, user):
        return _logout(store, wwwroot, user, timeout=timeout, local=local)


def _logout(
    store: SessionStore, wwwroot: Wwwroot, user: str, *, timeout: float, local: bool
) -> LogoutResult:
    try:
        session = store.load(wwwroot, user)
        if session is not None:
            session.check_sendable()
    except NoSession:  # a damaged entry cannot end anything on the site: it only goes here
        store.delete(wwwroot, user)
        return LogoutResult(False, f"the stored session of {user} was damaged; removed it")
    if session is None:
        store.delete(wwwroot, user)  # an index row without a secret
        raise NoSession(f"no stored session for {user} at {wwwroot}: nothing to log out")
    kept = "kept it here: run harvest logout again when the site answers (--local drops it)"
    removed = "removed it here (--local)" if local else kept
    try:
        with credential_client(timeout, network=network_for_site(session.site)) as http:
            alive = check_session(session, timeout=timeout, http=http)
            if alive.ended:
                store.delete(wwwroot, user)
                return LogoutResult(
                    False,
                    f"the site had already ended {user}'s session ({alive.reason}); removed it",
                )
            answer = exchange(
                http,
                "GET",
                wwwroot.logout_url,
                timeout=timeout,
                where=wwwroot,
                params={"sesskey": session.sesskey},
                headers={"Cookie": session.cookie_header},
            )
        down = maintenance(answer.status, answer.headers, wwwroot)
        if down is not None:
            raise down
        if answer.status not in (302, 303):
            raise SiteError(
                f"{wwwroot.logout_url} answered HTTP {answer.status}, not the logout's redirect"
            )
    except SiteTrouble as exc:
        if local:
            store.delete(wwwroot, user)
        message = f"could not end {user}'s session on {wwwroot} ({exc.message}); {removed}"
        if isinstance(exc, SiteMaintenance):  # the same error, its Retry-After kept
            raise SiteMaintenance(message, exc.retry_after) from exc
        raise type(exc)(message) from exc
    try:
        store.delete(wwwroot, user)
    except StateUnwritable as exc:
        raise StateUnwritable(
            f"ended {user}'s session on {wwwroot}, but {exc.message}: the stored copy (now dead) "
            "is still there; run harvest logout again once the state folder can be written"
        ) from None
    return LogoutResult(True, f"logged {user} out of {wwwroot} and removed the session")


def logout_user(
    site: str,
    user: str,
    *,
    forget_password: bool = False,
    timeout: float = 30.0,
    local: bool = False,
    store: SessionStore | None = None,
) -> LogoutResult:
    """`harvest logout`: resolve *site* and *user*, log out; with *forget_password* the saved
    password goes too, whatever happened on the site."""
    from ..settings.targets import resolve_target

    store = store or SessionStore()
    profile, user = resolve_target(site, user, store)
    try:
        return logout(store, profile.wwwroot, user, timeout=timeout, local=local)
    finally:
        if forget_password:
            store.delete_password(profile.wwwroot, user)
