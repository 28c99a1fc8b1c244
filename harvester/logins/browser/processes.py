"""The private temporary folder a launched browser lives in, and cleaning up after it.

Playwright's driver puts the browser's temporary profile in its TMPDIR, so starting the driver
with TMPDIR at a fresh 0700 folder for the run (launch.py: only the driver's start sees it; the
folder is passed on explicitly, never left in this process's environment) means no cookie or
cache outlives the login, even when the browser is killed; and the processes whose command
line names that folder are exactly the browser processes we started (never kill by name).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)
MAX_TMPDIR_LENGTH = 40


@contextmanager
def private_tmpdir() -> Iterator[str]:
    """A fresh 0700 folder for the browser of this run; removed afterwards, after stopping what
    is left of the browser processes started in it."""
    base = tempfile.gettempdir()
    if len(base) > MAX_TMPDIR_LENGTH and os.path.isdir("/tmp"):
        # Chromium puts a unix socket deep inside the profile; a socket path has ~107 bytes.
        base = "/tmp"
    path: str | None = None
    try:
        with signals_deferred():  # a Ctrl-C lands after the folder exists and is ours to clean
            path = tempfile.mkdtemp(prefix="harvester-browser-", dir=base)
        yield path
    finally:
        with signals_deferred():  # a second Ctrl-C must not leave half a profile behind
            if path is not None:
                stop_processes_using(path)
                _remove_tree(path)


def processes_using(path: str) -> list[int]:
    """Pids whose command line names *path*: the browser processes started for this run
    (their --user-data-dir lies inside it), and nothing else. Linux only; elsewhere none."""
    needle = path.encode()
    found = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                if needle in handle.read():
                    found.append(int(entry))
        except OSError:
            continue
    return found


def stop_processes_using(path: str, grace: float = 5.0) -> None:
    """After a Ctrl-C the browser is still shutting down, and would write its profile (cookies
    included) back after we removed it: wait for it to exit, then kill what is left of it."""
    import signal

    deadline = time.monotonic() + grace
    while pids := processes_using(path):
        if time.monotonic() > deadline:
            for pid in pids:
                with contextlib.suppress(OSError):  # it may have exited just now
                    os.kill(pid, signal.SIGKILL)
            log.debug("killed %d browser processes that outlived the login", len(pids))
            time.sleep(0.1)
            return
        time.sleep(0.05)


def _remove_tree(path: str) -> None:
    for _ in range(20):
        shutil.rmtree(path, ignore_errors=True)
        if not os.path.exists(path):
            return
        time.sleep(0.05)
    log.debug("could not remove %s", path)


@contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM until the block ends (main thread only; elsewhere a no-op)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
