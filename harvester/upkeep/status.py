"""`harvest status`: what is stored, and (with a check) whether it still works. No secret."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from ..errors import HarvestError, NoSession, SiteTrouble
from ..logins.verify import check_session
from ..settings.reach import network_for_site
from ..site.http import CredentialClients
from ..store.sessions import SessionStore


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
    from ..settings.targets import site_filter

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
        with CredentialClients(timeout) as http:  # one connection pool per way of reaching
            for row in rows:
                _check_row(store, row, timeout, http)
    return rows


def _check_row(
    store: SessionStore, row: SessionStatus, timeout: float, http: CredentialClients
) -> None:
    try:
        session = store.load(row.site, row.user)
    except NoSession as exc:
        row.valid, row.why = False, exc.message
        return
    if session is None:
        row.valid, row.why = False, "listed, but not in the keyring (run harvest login)"
        return
    try:
        client = http(network_for_site(session.site))
        result = check_session(session, timeout=timeout, http=client)
    except HarvestError as exc:  # site trouble: the site could not say (one row, not the table)
        row.valid, row.why = None, exc.message
        return
    row.valid, row.why = result.valid, result.reason
    if result.valid:
        verified = session.verified(time.time())
        if store.save_if_current(verified):  # never write back a session logged out meanwhile
            row.verified_at = verified.verified_at


def check_verdict(rows: list[SessionStatus]) -> None:
    """After `status --check`: NoSession if a session is no longer valid, else SiteTrouble
    if a site could not say; nothing when all are alive."""
    invalid = [row for row in rows if row.valid is False]
    unknown = [row for row in rows if row.valid is None]
    if invalid:
        first = invalid[0]
        raise NoSession(
            f"{len(invalid)} of {len(rows)} sessions are no longer valid ({first.user} at "
            f"{first.site}: {first.why}): run harvest refresh, or harvest login"
        )
    if unknown:
        first = unknown[0]
        raise SiteTrouble(
            f"the site could not say for {len(unknown)} of {len(rows)} sessions ({first.user} "
            f"at {first.site}: {first.why})"
        )
