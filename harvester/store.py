"""Sessions in the OS keyring, plus a small non-secret index of what is stored.

Keyring layout (docs/contract.md, "Storage"): service `harvester:session:<wwwroot>`, username
`<user>`, secret = the session JSON; saved passwords under `harvester:password:<wwwroot>`. The
keyring cannot list its entries, so `<state dir>/sessions.json` records which (site, user) pairs
exist and when they were obtained and verified. The index never holds a secret.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

from . import keyring_access
from .errors import NoSession, UsageError
from .session import Session

if TYPE_CHECKING:
    from filelock import BaseFileLock

SESSION_SERVICE = "harvester:session:{wwwroot}"
PASSWORD_SERVICE = "harvester:password:{wwwroot}"


def state_dir() -> Path:
    from platformdirs import user_state_path

    return user_state_path("harvester", appauthor=False)


class IndexRow(TypedDict):
    """One row of sessions.json, as stored."""

    wwwroot: str
    user: str
    cookie_name: str
    obtained_at: float
    verified_at: float | None
    has_password: bool


@dataclass(frozen=True)
class IndexEntry:
    wwwroot: str
    user: str
    cookie_name: str
    obtained_at: float
    verified_at: float | None
    has_password: bool = False


class SessionStore:
    """Reads and writes sessions and saved passwords; keeps the index in step."""

    def __init__(self, state_path: Path | None = None) -> None:
        self.state_path = state_path or state_dir()

    # -- secrets -------------------------------------------------------------------------------
    def check_available(self) -> None:
        keyring_access.check_available()

    def load(self, wwwroot: str, user: str) -> Session | None:
        secret = keyring_access.get_secret(SESSION_SERVICE.format(wwwroot=wwwroot), user)
        return None if secret is None else Session.from_secret(user, secret)

    def require(self, wwwroot: str, user: str) -> Session:
        """The stored session, or NoSession naming the command that makes one."""
        session = self.load(wwwroot, user)
        if session is None:
            raise NoSession(
                f"no stored session for {user} at {wwwroot}: "
                f"run harvest login --user {user} --site {wwwroot}"
            )
        return session

    def save(self, session: Session) -> None:
        keyring_access.set_secret(
            SESSION_SERVICE.format(wwwroot=session.wwwroot), session.user, session.to_secret()
        )
        self._update_index(session)

    def delete(self, wwwroot: str, user: str) -> bool:
        found = keyring_access.delete_secret(SESSION_SERVICE.format(wwwroot=wwwroot), user)
        self._drop_from_index(wwwroot, user)
        return found

    def load_password(self, wwwroot: str, user: str) -> str | None:
        return keyring_access.get_secret(PASSWORD_SERVICE.format(wwwroot=wwwroot), user)

    def save_password(self, wwwroot: str, user: str, password: str) -> None:
        keyring_access.set_secret(PASSWORD_SERVICE.format(wwwroot=wwwroot), user, password)
        self._edit_index(lambda entries: _mark_password(entries, wwwroot, user, True))

    def delete_password(self, wwwroot: str, user: str) -> bool:
        found = keyring_access.delete_secret(PASSWORD_SERVICE.format(wwwroot=wwwroot), user)
        self._edit_index(lambda entries: _mark_password(entries, wwwroot, user, False))
        return found

    def site_for(self, user: str | None) -> str:
        """The one site *user* has a stored session for (used when --site is left out)."""
        sites = sorted({e.wwwroot for e in self.entries() if user is None or e.user == user})
        who = f" for {user}" if user else ""
        if len(sites) == 1:
            return sites[0]
        if not sites:
            raise UsageError(f"no site given and no stored session{who}: pass --site URL")
        raise UsageError(f"several sites have sessions{who}: pass --site ({', '.join(sites)})")

    def lock(self, wwwroot: str, user: str, timeout: float = 300.0) -> BaseFileLock:
        """A cross-process lock for one (site, user): held while a session is checked and
        renewed, so that concurrent processes log in once and share the result. The OS
        releases it when its holder dies."""
        import hashlib

        from filelock import FileLock

        digest = hashlib.sha256(f"{wwwroot}\n{user}".encode()).hexdigest()[:32]
        folder = self.state_path / "locks"
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        return FileLock(str(folder / f"{digest}.lock"), timeout=timeout, thread_local=False)

    # -- the non-secret index ------------------------------------------------------------------
    @property
    def index_file(self) -> Path:
        return self.state_path / "sessions.json"

    def entries(self) -> list[IndexEntry]:
        return [IndexEntry(**raw) for raw in self._read_index()]

    def _read_index(self) -> list[IndexRow]:
        try:
            data = json.loads(self.index_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except ValueError:
            return []  # a damaged index only loses the listing, never a secret
        sessions = data.get("sessions") if isinstance(data, dict) else None
        return [_row(s) for s in sessions or [] if isinstance(s, dict) and _valid_entry(s)]

    def _update_index(self, session: Session) -> None:
        def edit(entries: list[IndexRow]) -> None:
            old = _pop(entries, session.wwwroot, session.user)
            entries.append(
                {
                    "wwwroot": session.wwwroot,
                    "user": session.user,
                    "cookie_name": session.cookie_name,
                    "obtained_at": session.obtained_at,
                    "verified_at": session.verified_at,
                    "has_password": bool(old and old["has_password"]),
                }
            )

        self._edit_index(edit)

    def _drop_from_index(self, wwwroot: str, user: str) -> None:
        def edit(entries: list[IndexRow]) -> None:
            old = _pop(entries, wwwroot, user)
            if old and old["has_password"]:
                entries.append({**old, "cookie_name": "", "obtained_at": 0.0, "verified_at": None})

        self._edit_index(edit)

    def _edit_index(self, edit: Callable[[list[IndexRow]], None]) -> None:
        from filelock import FileLock

        self.state_path.mkdir(parents=True, exist_ok=True, mode=0o700)
        with FileLock(str(self.index_file) + ".lock", timeout=30):
            entries = self._read_index()
            edit(entries)
            entries.sort(key=lambda e: (e["wwwroot"], e["user"]))
            fd, tmp = tempfile.mkstemp(dir=self.state_path, prefix=".sessions.", suffix=".tmp")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    json.dump({"v": 1, "sessions": entries}, out, indent=1)
                os.replace(tmp, self.index_file)
            except BaseException:
                os.unlink(tmp)
                raise


def _valid_entry(raw: dict[str, object]) -> bool:
    return isinstance(raw.get("wwwroot"), str) and isinstance(raw.get("user"), str)


def _row(raw: dict[str, object]) -> IndexRow:
    """An index row as this version writes it (older rows may lack a field)."""
    obtained = raw.get("obtained_at")
    verified = raw.get("verified_at")
    return {
        "wwwroot": str(raw["wwwroot"]),
        "user": str(raw["user"]),
        "cookie_name": str(raw.get("cookie_name") or ""),
        "obtained_at": float(obtained) if isinstance(obtained, (int, float)) else 0.0,
        "verified_at": float(verified) if isinstance(verified, (int, float)) else None,
        "has_password": bool(raw.get("has_password")),
    }


def _pop(entries: list[IndexRow], wwwroot: str, user: str) -> IndexRow | None:
    for i, entry in enumerate(entries):
        if entry["wwwroot"] == wwwroot and entry["user"] == user:
            return entries.pop(i)
    return None


def _mark_password(entries: list[IndexRow], wwwroot: str, user: str, value: bool) -> None:
    entry = _pop(entries, wwwroot, user)
    if entry is None:
        if not value:
            return
        entry = {
            "wwwroot": wwwroot,
            "user": user,
            "cookie_name": "",
            "obtained_at": 0.0,
            "verified_at": None,
            "has_password": value,
        }
    entry["has_password"] = value
    if value or entry["cookie_name"]:
        entries.append(entry)
