"""`harvest status`: what is stored, and (with a check) whether it still works. No secret."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from .errors import HarvestError, NoSession, SiteUnreachable
from .site_http import credential_client
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
    store: SessionStore | None = None,
    *,
    site: str = "",
    user: str = "",
    check: bool = False,
    timeout: float = 30.0,
) -> list[SessionStatus]:
    """Stored sessions from the index, limited to *site* (an alias or URL) and *user* when
    given; with *check*, each asked of its site (and the verified time updated for those that
    pass)."""
    from .targets import site_filter

    store = store or SessionStore()
    wwwroot = site_filter(site)
    rows = []
    for entry in store.entries():
        if (wwwroot and entry.wwwroot != wwwroot) or (user and entry.user != user):
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
    except HarvestError as exc:  # site trouble: the site could not say (one row, not the table)
        row.valid, row.why = None, exc.message
        return
    row.valid, row.why = result.valid, result.reason
    if result.valid:
        verified = session.verified(time.time())
        store.save(verified)
        row.verified_at = verified.verified_at


def check_exit_code(rows: list[SessionStatus]) -> int:
    """After `status --check`: NoSession's code if a session is no longer valid, else
    SiteUnreachable's if a site could not say, else 0."""
    if any(row.valid is False for row in rows):
        return NoSession.exit_code
    if any(row.valid is None for row in rows):
        return SiteUnreachable.exit_code
    return 0
