"""keyring's automatic choice of backend, remembered between processes (docs/contract.md, Storage).

keyring chooses its backend by importing every backend it has and asking each whether it can
run here: ~100 ms of every harvest command that touches a secret (its macOS backend runs
ldconfig to look for a library, even on Linux), the largest part of `harvest env` after the
interpreter. The choice depends on the backends installed and on a few environment variables,
so harvester remembers it, keyed by those, and next time loads that backend by name, as
PYTHON_KEYRING_BACKEND would (keyring then still checks that it can run here).

- Only keyring's automatic choice is remembered: PYTHON_KEYRING_BACKEND and keyringrc.cfg are
  read by keyring itself, every time, and win.
- Only keyring's own backends (`keyring.backends.…`) are remembered: the name is read back from
  a file and imported, and nothing else may be imported that way. "No backend" (keyring's fail
  and null stand-ins) is never remembered: a Secret Service started later is found.
- What the choice depends on: keyring's folder and every import folder but the script's own
  (installing or removing a backend changes the folder it lands in), the D-Bus session (the
  Secret Service and KWallet are found on it), the desktop (KWallet's priority) and the macOS
  keychain path.
- A remembered backend that cannot run here, or fails, is forgotten and the call is made again
  with keyring's own choice (keyring_access.py), so a wrong memory costs one retry, never an
  answer keyring would not have given.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

BUILT_IN = "keyring.backends."
# keyring's stand-ins for "no backend": never remembered, so a Secret Service started later on
# the same D-Bus session is found
NOT_KEPT = ("keyring.backends.fail.", "keyring.backends.null.")
KEPT = 16  # situations remembered (a user's D-Bus address rarely changes; tests' do)
# Environment variables keyring's built-in backends and the D-Bus library they use consult.
CONSULTED = ("DBUS_SESSION_BUS_ADDRESS", "XDG_CURRENT_DESKTOP", "KEYCHAIN_PATH")


def memory_file() -> Path:
    from platformdirs import user_cache_path

    return user_cache_path("harvester") / "keyring-backend.json"


def situation() -> str:
    """A digest of what keyring's automatic choice depends on, here and now."""
    import importlib.util

    parts: list[str] = [sys.platform, sys.executable]
    spec = importlib.util.find_spec("keyring")
    origin = spec.origin if spec is not None else None
    # sys.path[0] is the script's folder or the working one, never where backends are installed
    for folder in [*sys.path[1:], os.path.dirname(origin or "")]:
        if not folder:
            continue
        try:
            parts.append(f"{folder}:{os.stat(folder).st_mtime_ns}")
        except OSError:
            parts.append(f"{folder}:-")
    parts.extend(f"{name}={os.environ.get(name, '')}" for name in CONSULTED)
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]


def _read() -> dict[str, str]:
    try:
        with open(memory_file(), encoding="utf-8") as handle:
            found = json.load(handle)
    except (OSError, ValueError):
        return {}
    if not isinstance(found, dict):
        return {}
    return {k: v for k, v in found.items() if isinstance(k, str) and isinstance(v, str)}


def recall(where: str) -> Any | None:
    """The backend keyring chose in this *where*, loaded by name; None when none is
    remembered, or the one remembered cannot run here any more (it is then forgotten)."""
    name = _read().get(where)
    if name is None or not name.startswith(BUILT_IN) or name.startswith(NOT_KEPT):
        return None
    from keyring.core import load_keyring

    try:
        return load_keyring(name)  # imports it and asks its priority: it must be viable here
    except Exception:  # gone, or no longer viable (a Secret Service stopped): ask keyring
        forget(where)
        return None


def remember(where: str, backend: object) -> None:
    """Keep keyring's choice for *where*; nothing is kept for a backend outside keyring's own,
    and a cache folder that cannot be written is no error (the next process asks again)."""
    name = f"{type(backend).__module__}.{type(backend).__name__}"
    if not name.startswith(BUILT_IN) or name.startswith(NOT_KEPT):
        return
    _write(where, name)


def forget(where: str) -> None:
    _write(where, None)


def _write(where: str, name: str | None) -> None:
    known = _read()
    known.pop(where, None)
    if name is not None:
        known[where] = name  # the newest last: the oldest go first
    kept = dict(list(known.items())[-KEPT:])
    path = memory_file()
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(prefix=".keyring-", dir=path.parent)
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:  # mkstemp: 0600
                json.dump(kept, handle)
            os.replace(temporary, path)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
