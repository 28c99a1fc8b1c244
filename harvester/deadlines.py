"""A deadline kept on a worker thread: the one way harvester stops waiting for a call that may
block past its time (a site gone silent mid-answer, a keyring daemon that is stopped or waits
for a prompt). The worker is a daemon, kept for the next call; one stuck past its deadline is
left behind and a new one started, and none keeps the process alive."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class Workers:
    """Daemon threads that run calls, kept for the next one (a thread per HTTP exchange cost
    more than the exchange on loopback). One that is stuck past its deadline is left behind
    and a new one started; being daemons, none keeps the process alive."""

    def __init__(self) -> None:
        self._tasks: queue.SimpleQueue[tuple[Callable[[], Any], dict[str, Any], threading.Event]]
        self._tasks = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0

    def run(self, fn: Callable[[], T], timeout: float) -> T:
        """fn() on a worker; its result or its exception; TimeoutError after *timeout*."""
        box: dict[str, Any] = {}
        done = threading.Event()
        with self._lock:
            if self._idle:
                self._idle -= 1
            else:
                threading.Thread(target=self._serve, name="harvester-worker", daemon=True).start()
        self._tasks.put((fn, box, done))
        if not done.wait(timeout):
            raise TimeoutError
        if "error" in box:
            raise box["error"]
        result: T = box["value"]
        return result

    def _serve(self) -> None:
        while True:
            fn, box, done = self._tasks.get()
            try:
                box["value"] = fn()
            except BaseException as exc:  # re-raised in the caller's thread
                box["error"] = exc
            done.set()
            with self._lock:
                self._idle += 1


_WORKERS = Workers()


def run_within(fn: Callable[[], T], timeout: float) -> T:
    """fn() on a worker thread: its result or its exception, or TimeoutError after *timeout*
    seconds (the call goes on, abandoned, on its daemon thread)."""
    return _WORKERS.run(fn, timeout)
