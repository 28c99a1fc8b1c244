"""Every call into the OS keyring goes through here: a timeout, and errors that name the fix.

`keyring` is imported lazily: it costs ~70 ms, and only commands that touch secrets pay it. Its
automatic choice of backend is remembered between processes (keyring_choice.py).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from ..deadlines import run_within
from ..errors import KeyringUnavailable, UsageError, one_line
from ..inputs import seconds

T = TypeVar("T")

DEFAULT_TIMEOUT = 30.0


def _transient(exc: BaseException) -> bool:
    """An error gnome-keyring gives now and then under concurrent writes (an item replaced
    between the search and the read: secretstorage's ItemNotFoundException; its collection
    briefly unavailable: keyring's InitError), seen in 2 of 3 refreshes of 50 users here. A call
    that meets one is tried again after RETRY_PAUSES, then reported. Their types are imported
    only once such an error happened."""
    from keyring.errors import InitError

    try:
        from secretstorage.exceptions import ItemNotFoundException
    except ImportError:  # not on Linux
        return isinstance(exc, InitError)
    return isinstance(exc, (InitError, ItemNotFoundException))


RETRY_PAUSES = (0.05, 0.2, 0.5)
FIX = (
    "start a Secret Service in your D-Bus session (gnome-keyring-daemon, KeePassXC), or choose "
    "an encrypted file backend explicitly: pip install 'harvester[cryptfile]' and set "
    "PYTHON_KEYRING_BACKEND=keyrings.cryptfile.cryptfile.CryptFileKeyring"
)


def keyring_timeout() -> float:
    raw = os.environ.get("HARVEST_KEYRING_TIMEOUT", "")
    if not raw:
        return DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        raise UsageError(
            f"HARVEST_KEYRING_TIMEOUT must be a number of seconds, not {raw!r}"
        ) from None
    return seconds(value, "HARVEST_KEYRING_TIMEOUT")


def _with_timeout(fn: Callable[[], T], what: str) -> T:
    """Run *fn* on a worker (deadlines.py); give up after HARVEST_KEYRING_TIMEOUT seconds.

    A Secret Service daemon that is stopped (or a prompt nobody answers) would otherwise
    hang the command forever. Transient Secret Service errors are tried again first.
    """
    timeout = keyring_timeout()
    box: dict[str, Any] = {}

    def attempt() -> T:
        try:
            return fn()
        except Exception:
            if not _chosen.remembered:
                raise
            _chosen.forget()  # a remembered backend failed: once more, as keyring chooses now
            return fn()

    def run() -> None:
        for pause in (*RETRY_PAUSES, None):
            try:
                box["value"] = attempt()
                return
            except BaseException as exc:  # re-raised in the caller's thread
                if pause is None or not _transient(exc):
                    box["error"] = exc
                    return
                time.sleep(pause)  # the Secret Service was busy with another write: again

    try:
        run_within(run, timeout)
    except TimeoutError:
        raise KeyringUnavailable(
            f"the keyring did not answer within {timeout:g} s while {what}: is the Secret Service "
            "daemon stopped or waiting for a prompt? (HARVEST_KEYRING_TIMEOUT sets the limit)"
        ) from None
    if "error" in box:
        raise _translate(box["error"], what) from None
    return box["value"]  # type: ignore[no-any-return]


def _translate(exc: BaseException, what: str) -> BaseException:
    if isinstance(exc, KeyringUnavailable):
        return exc
    if not isinstance(exc, Exception):
        return exc  # KeyboardInterrupt, SystemExit: let them through untouched
    from keyring import errors as kerr

    if isinstance(exc, kerr.NoKeyringError):
        return KeyringUnavailable(f"no usable OS keyring backend: {FIX}")
    if isinstance(exc, kerr.KeyringLocked):
        return KeyringUnavailable(
            "the keyring is locked and could not be unlocked: unlock your login keyring "
            "(on a headless server: gnome-keyring-daemon --unlock) and try again"
        )
    # Keyring and D-Bus messages name services and paths, never the secret itself.
    detail = one_line(exc)
    return KeyringUnavailable(f"the keyring failed while {what}: {type(exc).__name__}: {detail}")


class _Choice:
    """This process's backend: whatever keyring holds (its own choice, PYTHON_KEYRING_BACKEND,
    keyringrc.cfg, a backend a library user set with keyring.set_keyring()); when it holds
    none, keyring's automatic choice, remembered between processes (keyring_choice.py)."""

    def __init__(self) -> None:
        self.recalled: Any = None  # the backend this put in keyring, from memory
        self.where = ""
        self.lock = threading.Lock()  # the proxy's and refresh's workers share it

    @property
    def remembered(self) -> bool:
        """Whether the backend keyring holds is the one recalled from memory."""
        import keyring

        in_use = getattr(keyring.core, "_keyring_backend", None)
        return self.recalled is not None and in_use is self.recalled

    def get(self, *, fresh: bool = False) -> Any:
        """The backend; *fresh*: not one from memory (keyring chooses again)."""
        import keyring

        from . import keyring_choice

        with self.lock:
            in_use = getattr(keyring.core, "_keyring_backend", None)  # set once chosen
            if in_use is not None and not (fresh and self.remembered):
                return in_use
            self.recalled = None
            if chosen_explicitly():
                keyring.core.init_backend()
                return keyring.get_keyring()
            self.where = keyring_choice.situation()
            recalled = None if fresh else keyring_choice.recall(self.where)
            if recalled is not None:
                keyring.set_keyring(recalled)  # what keyring would choose: it answers the same
                self.recalled = recalled
                return recalled
            keyring.core.init_backend()  # keyring's own automatic choice, made now
            chosen = keyring.get_keyring()
            keyring_choice.remember(self.where, chosen)
            return chosen

    def forget(self) -> None:
        """The remembered backend failed: forget it, and let keyring choose afresh."""
        from . import keyring_choice

        keyring_choice.forget(self.where)
        self.get(fresh=True)


_chosen = _Choice()


def _backend(*, fresh: bool = False) -> Any:
    from keyring.backends import fail

    backend = _chosen.get(fresh=fresh)
    if isinstance(backend, fail.Keyring):
        raise KeyringUnavailable(f"no usable OS keyring backend: {FIX}")
    name = f"{type(backend).__module__}.{type(backend).__name__}"
    if "Plaintext" in name and not chosen_explicitly():
        raise KeyringUnavailable(
            f"keyring chose {name}, which stores secrets unencrypted; harvester will not use it "
            "unless you select it by name (PYTHON_KEYRING_BACKEND): " + FIX
        )
    return backend


def chosen_explicitly() -> bool:
    if os.environ.get("PYTHON_KEYRING_BACKEND"):
        return True
    from keyring.util import platform_

    return os.path.exists(os.path.join(platform_.config_root(), "keyringrc.cfg"))


def backend_name(*, fresh: bool = False) -> str:
    """The backend in use; *fresh*: as keyring chooses it now, not as remembered."""
    backend = _with_timeout(lambda: _backend(fresh=fresh), "choosing a backend")
    return f"{type(backend).__module__}.{type(backend).__name__}"


def check_available() -> None:
    """Fail early (before a login is stored, while the browser starts) when no keyring can
    hold the session."""
    _with_timeout(_backend, "choosing a backend")


def get_secret(service: str, user: str) -> str | None:
    def run() -> str | None:
        value = _backend().get_password(service, user)
        return None if value is None else str(value)

    return _with_timeout(run, "reading a secret")


def set_secret(service: str, user: str, secret: str) -> None:
    _with_timeout(lambda: _backend().set_password(service, user, secret), "storing a secret")


def delete_secret(service: str, user: str) -> bool:
    """Delete an entry; False when there was none."""

    def run() -> bool:
        from keyring.errors import PasswordDeleteError

        try:
            _backend().delete_password(service, user)
        except PasswordDeleteError:
            return False
        return True

    return _with_timeout(run, "deleting a secret")
