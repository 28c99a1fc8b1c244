"""The files and folders harvester keeps: one way to write a file (atomic, a new 0600 file,
never through a symbolic link) and one check that a folder it needs is not a file."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

from ..errors import NotAFolder


def file_in_the_way(folder: Path) -> Path | None:
    """The first of *folder* and its parents that exists but is not a folder (a file where a
    folder must be), or None when *folder* is, or can be made, a folder."""
    for candidate in (folder, *folder.parents):
        try:
            mode = candidate.stat().st_mode  # a link to a folder is a folder
        except (FileNotFoundError, NotADirectoryError):
            continue  # not there (yet): its parent decides
        except OSError:
            return None  # unreadable: the operation itself reports what is wrong
        return None if stat.S_ISDIR(mode) else candidate
    return None


def require_folder(folder: Path, what: str, setting: str) -> None:
    """NotAFolder (exit 9) naming the path when *folder* or a parent of it is a file. *what*
    says what the folder is for; *setting* how to point harvester elsewhere."""
    blocker = file_in_the_way(folder)
    if blocker is None:
        return
    where = "there" if blocker == folder else f"in {folder}"
    raise NotAFolder(
        f"{blocker} is a file, not a folder: harvester keeps {what} {where}; move the file "
        f"away or set {setting}"
    )


def write_atomic(path: Path, data: bytes, *, prefix: str = ".harvest-") -> None:
    """Write *data* to *path* through a new file of mode 0600 in the same folder, then rename
    it into place: a reader sees the old file or the new one, a symbolic link at *path* is
    replaced (never followed), and no temporary file is left when anything fails (OSError)."""
    fd, temporary = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
