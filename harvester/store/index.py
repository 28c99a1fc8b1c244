"""The non-secret index of stored sessions: `<state dir>/sessions.json`.

The keyring cannot list its entries, so this file records which (site, user) pairs exist, their
cookie name, when they were obtained and verified, and whether a password is saved. It never
holds a secret, and it is a cache: a damaged index (not JSON, another shape, a directory in its
place) is set aside for inspection, named in one warning, and rebuilt from the rows that can be
read; no command fails because of it (docs/contract.md, "Storage").
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypedDict

from ..errors import StateUnwritable, UsageError
from ..site.wwwroot import Wwwroot
from .files import require_folder, write_atomic

log = logging.getLogger(__name__)


class IndexRow(TypedDict):
    """One row of sessions.json, as stored."""

    wwwroot: Wwwroot
    user: str
    cookie_name: str
    obtained_at: float
    verified_at: float | None
    has_password: bool


class SessionIndex:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / "sessions.json"

    def check_folder(self) -> None:
        """NotAFolder (exit 9) when the state folder is a file or lies under one: that is no
        damaged index, and nothing can be stored until the file is moved."""
        require_folder(self.folder, "its state", "XDG_STATE_HOME to a folder")

    def rows(self) -> list[IndexRow]:
        """The rows that can be read; a damaged file is set aside and rebuilt from them."""
        self.check_folder()
        rows, damage = self._read()
        if damage:
            self._set_aside(damage, rows)
        return rows

    def edit(self, change: Callable[[list[IndexRow]], None]) -> None:
        """Apply *change* to the rows under the index's lock and write them atomically.
        StateUnwritable (exit 9) when the state folder cannot be written: nothing changed."""
        from filelock import FileLock

        self.check_folder()
        try:
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            with FileLock(str(self.path) + ".lock", timeout=30):
                rows, damage = self._read()
                if damage:
                    self._set_aside(damage, None)
                change(rows)
                self._write(rows)
        except OSError as exc:
            raise StateUnwritable(
                f"cannot write the index of stored sessions {self.path} "
                f"({exc.strerror or type(exc).__name__}); nothing was changed"
            ) from None

    def _read(self) -> tuple[list[IndexRow], str]:
        """(readable rows, what was wrong with the file or "")."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return [], ""
        except OSError as exc:
            return [], f"cannot read it ({exc.strerror or type(exc).__name__})"
        try:
            data = json.loads(raw.decode("utf-8"))
        except (ValueError, RecursionError):
            return [], "not JSON"
        sessions = data.get("sessions") if isinstance(data, dict) else None
        if not isinstance(sessions, list):
            return [], "not an index (no list of sessions)"
        rows = [row for row in map(_row, sessions) if row is not None]
        damage = "" if len(rows) == len(sessions) else f"{len(sessions) - len(rows)} bad rows"
        return rows, damage

    def _set_aside(self, damage: str, rebuilt: list[IndexRow] | None) -> None:
        """Move the damaged file (or folder) aside, say so once, write *rebuilt* in its place."""
        kept = self.path.with_name(f"sessions.json.damaged-{time.strftime('%Y%m%dT%H%M%S')}")
        try:
            os.replace(self.path, kept)
        except OSError:
            log.warning("the index %s is damaged (%s); could not set it aside", self.path, damage)
            return
        log.warning("the index %s was damaged (%s): kept as %s, rebuilt", self.path, damage, kept)
        if rebuilt is not None:
            with contextlib.suppress(OSError):  # else the next write rebuilds it
                self._write(rebuilt)

    def _write(self, rows: list[IndexRow]) -> None:
        rows.sort(key=lambda e: (e["wwwroot"], e["user"]))
        text = json.dumps({"v": 1, "sessions": rows}, indent=1)
        write_atomic(self.path, text.encode("utf-8"), prefix=".sessions.")


def _row(raw: object) -> IndexRow | None:
    """A row as this version writes it; None for one that cannot be read (missing site or
    user, a wrong type). Extra keys are dropped; a missing optional field gets its default."""
    if not isinstance(raw, dict):
        return None
    site, user = raw.get("wwwroot"), raw.get("user")
    cookie, obtained, verified = (raw.get(k) for k in ("cookie_name", "obtained_at", "verified_at"))
    number = (int, float)
    if not (isinstance(site, str) and site and isinstance(user, str) and user):
        return None
    try:
        wwwroot = Wwwroot(site)  # parsed here, at the edge: the rest of harvester gets the value
    except UsageError:
        return None
    if not isinstance(cookie, (str, type(None))) or isinstance(obtained, bool):
        return None
    if not isinstance(obtained, (*number, type(None))) or not isinstance(
        verified, (*number, type(None))
    ):
        return None
    return {
        "wwwroot": wwwroot,
        "user": user,
        "cookie_name": cookie or "",
        "obtained_at": float(obtained or 0.0),
        "verified_at": None if verified is None else float(verified),
        "has_password": bool(raw.get("has_password")),
    }


def pop(rows: list[IndexRow], wwwroot: str, user: str) -> IndexRow | None:
    for i, row in enumerate(rows):
        if row["wwwroot"] == wwwroot and row["user"] == user:
            return rows.pop(i)
    return None
