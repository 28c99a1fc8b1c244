"""Sessions in the OS keyring, plus a small non-secret index of what is stored.

Keyring layout (docs/contract.md, "Storage"): service `harvester:session:<wwwroot>`, username
`<user>`, secret = the session JSON; saved passwords under `harvester:password:<wwwroot>`. The
keyring cannot list its entries, so an index (index.py) records which (site, user) pairs exist.

Keyring and index never tell different stories: every change writes the index first and the
keyring second, and puts the index back when the keyring write fails; an index that cannot be
written is StateUnwritable (exit 9) with nothing changed. The pair is written under a short
per-(site, user) write lock, so two processes saving the same user at once cannot leave one's
index row beside the other's secret.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from ..errors import NoSession, StateUnwritable, UsageError
from ..site.wwwroot import Wwwroot
from . import keyring_access
from .index import IndexRow, SessionIndex, pop
from .session import Session

if TYPE_CHECKING:
    from filelock import BaseFileLock

SESSION_SERVICE = "harvester:session:{wwwroot}"
PASSWORD_SERVICE = "harvester:password:{wwwroot}"
T = TypeVar("T")
WRITE_WAIT = 60.0  # seconds a save waits for another process's save of the same user


def state_dir() -> Path:
    from platformdirs import user_state_path

    return user_state_path("harvester", appauthor=False)


@dataclass(frozen=True)
class IndexEntry:
    wwwroot: Wwwroot
    user: str
    cookie_name: str
    obtained_at: float
    verified_at: float | None
    has_password: bool = False


class SessionStore:
    """Reads and writes sessions and saved passwords; keeps the index in step."""

    def __init__(self, state_path: Path | None = None) -> None:
        self.state_path = state_path or state_dir()
        self.index = SessionIndex(self.state_path)

    # -- secrets -------------------------------------------------------------------------------
    def check_available(self) -> None:
        keyring_access.check_available()

    def load(self, wwwroot: str, user: str) -> Session | None:
        self.index.check_folder()  # a file in its place is said as such, before the keyring
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
        def change(rows: list[IndexRow]) -> None:
            old = pop(rows, session.wwwroot, session.user)
            rows.append(
                {
                    "wwwroot": session.site,
                    "user": session.user,
                    "cookie_name": session.cookie_name,
                    "obtained_at": session.obtained_at,
                    "verified_at": session.verified_at,
                    "has_password": bool(old and old["has_password"]),
                }
            )

        service = SESSION_SERVICE.format(wwwroot=session.wwwroot)
        self._both(
            change,
            session.wwwroot,
            session.user,
            lambda: keyring_access.set_secret(service, session.user, session.to_secret()),
        )

    def delete(self, wwwroot: str, user: str) -> bool:
        def change(rows: list[IndexRow]) -> None:
            old = pop(rows, wwwroot, user)
            if old and old["has_password"]:
                rows.append({**old, "cookie_name": "", "obtained_at": 0.0, "verified_at": None})

        service = SESSION_SERVICE.format(wwwroot=wwwroot)
        return self._both(
            change, wwwroot, user, lambda: keyring_access.delete_secret(service, user)
        )

    def load_password(self, wwwroot: str, user: str) -> str | None:
        return keyring_access.get_secret(PASSWORD_SERVICE.format(wwwroot=wwwroot), user)

    def save_password(self, wwwroot: Wwwroot, user: str, password: str) -> None:
        service = PASSWORD_SERVICE.format(wwwroot=wwwroot)
        self._both(
            lambda rows: _mark_password(rows, wwwroot, user, True),
            wwwroot,
            user,
            lambda: keyring_access.set_secret(service, user, password),
        )

    def delete_password(self, wwwroot: Wwwroot, user: str) -> bool:
        service = PASSWORD_SERVICE.format(wwwroot=wwwroot)
        return self._both(
            lambda rows: _mark_password(rows, wwwroot, user, False),
            wwwroot,
            user,
            lambda: keyring_access.delete_secret(service, user),
        )

    def _both(
        self,
        change: Callable[[list[IndexRow]], None],
        wwwroot: str,
        user: str,
        write_keyring: Callable[[], T],
    ) -> T:
        """The index first, then the keyring; if the keyring write fails, the index row is put
        back as it was, so the two never disagree."""
        from filelock import Timeout

        before: list[IndexRow] = []

        def remember_and_change(rows: list[IndexRow]) -> None:
            before.extend(r for r in rows if r["wwwroot"] == wwwroot and r["user"] == user)
            change(rows)

        # Not the renewal lock (self.lock), which a caller may hold around this write: a lock
        # file of its own, always taken second, so the two never wait for each other in turn.
        write_lock = self._lock_file(wwwroot, user, "write", timeout=WRITE_WAIT)
        try:
            write_lock.acquire()
        except Timeout:
            raise StateUnwritable(
                f"another harvester process has been writing {user} at {wwwroot} for "
                f"{WRITE_WAIT:.0f} s; nothing was changed"
            ) from None
        except OSError as exc:
            raise StateUnwritable(
                f"cannot take the write lock {write_lock.lock_file} "
                f"({exc.strerror or type(exc).__name__}); nothing was changed"
            ) from None
        try:
            self.index.edit(remember_and_change)
            try:
                return write_keyring()
            except BaseException:

                def undo(rows: list[IndexRow]) -> None:
                    pop(rows, wwwroot, user)
                    rows.extend(before)

                self.index.edit(undo)
                raise
        finally:
            write_lock.release()

    def site_for(self, user: str | None) -> Wwwroot:
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
        return self._lock_file(wwwroot, user, "", timeout)

    def _lock_file(self, wwwroot: str, user: str, kind: str, timeout: float) -> BaseFileLock:
        import hashlib

        self.index.check_folder()  # a file in the state folder's place is said as such

        from filelock import FileLock

        digest = hashlib.sha256(f"{wwwroot}\n{user}".encode()).hexdigest()[:32]
        suffix = f".{kind}.lock" if kind else ".lock"
        folder = self.state_path / "locks"
        try:
            # the state folder first, 0700 as the index makes it (parents get the umask's mode)
            self.state_path.mkdir(parents=True, exist_ok=True, mode=0o700)
            folder.mkdir(exist_ok=True, mode=0o700)
        except OSError as exc:
            raise StateUnwritable(
                f"cannot make the lock folder {folder} ({exc.strerror or type(exc).__name__})"
            ) from None
        return FileLock(str(folder / f"{digest}{suffix}"), timeout=timeout, thread_local=False)

    def save_if_current(self, session: Session, wait: float = 5.0) -> bool:
        """Save *session* (a newer verified time, say) only if it is still the stored one,
        re-read under its (site, user) lock: never write back a session that was removed or
        replaced meanwhile. True when saved; False too when the lock stays held *wait* seconds
        (another process is renewing it: its result is newer anyway)."""
        from filelock import Timeout

        try:
            with self.lock(session.wwwroot, session.user, timeout=wait):
                try:
                    current = self.load(session.wwwroot, session.user)
                except NoSession:
                    return False
                if current is None or current.cookie_value != session.cookie_value:
                    return False
                self.save(session)
                return True
        except Timeout:  # only acquiring the lock raises it
            return False

    # -- the non-secret index ------------------------------------------------------------------
    @property
    def index_file(self) -> Path:
        return self.index.path

    def entries(self) -> list[IndexEntry]:
        return [IndexEntry(**row) for row in self.index.rows()]


def _mark_password(entries: list[IndexRow], wwwroot: Wwwroot, user: str, value: bool) -> None:
    entry = pop(entries, wwwroot, user)
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
