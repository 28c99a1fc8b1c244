"""What is stored, whether it still works, and ending a session: status and logout."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from .client import credential_client
from .errors import HarvestError, NoSession, SiteUnreachable
from .store import SessionStore
from .verify import check_session

if TYPE_CHECKING:
    import httpx


@dataclass
class SessionStatus:
    """One row of `harvest status`. Holds no secret."""

    site: str
    user: str
    cookie_name: str
    obtained_at: float | None
    verified_at: float | None
    has_password: bool
    valid: bool | None = None  # None: not checked, or the site could not say
    why: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def list_sessions(
    store: SessionStore,
    *,
    site: str | None = None,
    user: str | None = None,
    check: bool = False,
    timeout: float = 30.0,
) -> list[SessionStatus]:
    """Stored sessions from the index; with *check*, each asked of its site (and the
    verified time updated for those that pass)."""
    rows = []
    for entry in store.entries():
        if (site and entry.wwwroot != site) or (user and entry.user != user):
            continue
        if not entry.cookie_name:
            continue  # only a saved password, no session
        row = SessionStatus(
            site=entry.wwwroot,
            user=entry.user,
            cookie_name=entry.cookie_name,
            obtained_at=entry.obtained_at or None,
            verified_at=entry.verified_at,
            has_password=entry.has_password,
        )
        rows.append(row)
    if check:
        with credential_client(timeout) as http:  # one connection pool for all checks
            for row in rows:
                _check_row(store, row, timeout, http)
    return rows


def _check_row(store: SessionStore, row: SessionStatus, timeout: float, http: httpx.Client) -> None:
    try:
        session = store.load(row.site, row.user)
    except NoSession as exc:
        row.valid, row.why = False, exc.message
        return
    if session is None:
        row.valid, row.why = False, "listed, but not in the keyring (run harvest login)"
        return
    try:
        result = check_session(session, timeout=timeout, http=http)
    except SiteUnreachable as exc:
        row.valid, row.why = None, exc.message
        return
    row.valid, row.why = result.valid, result.reason
    if result.valid:
        verified = session.verified(time.time())
        store.save(verified)
        row.verified_at = verified.verified_at


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
                f"{wwwroot}/login/logout.php",
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
