"""The event loop a browser job runs in: one lazily started browser, a watchdog for a browser
that dies under us, and a teardown that cannot hang.

Playwright's async API, so that one browser can serve many logins at once (one context each,
see refresh.py); a single login runs the same code. The private temporary folder
(processes.py) wraps the whole event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ...errors import BrowserUnavailable
from ...network.browser_trust import BrowserNetwork
from ...settings.config import BrowserOptions
from .contexts import ContextPool
from .launch import open_browser
from .processes import private_tmpdir, processes_using

if TYPE_CHECKING:
    from playwright.async_api import Browser

T = TypeVar("T")
BROWSER_LOST = "the browser exited during the login (killed or crashed); nothing was stored"
TEARDOWN_GRACE = 10.0


class LazyBrowser:
    """One shared browser, started by the first caller that needs it (many may never do).

    `lost` is set when the browser goes away under us (killed, crashed, remote end closed).
    """

    def __init__(
        self,
        timeout: float,
        options: BrowserOptions | None = None,
        *,
        headless: bool = True,
        network: BrowserNetwork | Callable[[], BrowserNetwork] | None = None,
        folder: str = "",
    ) -> None:
        self.timeout = timeout
        self.folder = folder  # the run's private folder (processes.private_tmpdir)
        self.options = options or BrowserOptions()
        self.headless = headless
        self.network = network
        self.started = False
        self.lost = asyncio.Event()
        self._closing = False
        self._stack = contextlib.AsyncExitStack()
        self._browser: Browser | None = None
        self._lock = asyncio.Lock()
        self._watch: asyncio.Task[None] | None = None
        # warm lean contexts, one per concurrent login, reused for the next user (contexts.py)
        self.pool = ContextPool(self.get, keep=True)

    async def get(self) -> Browser:
        async with self._lock:
            if self.lost.is_set():
                raise BrowserUnavailable(BROWSER_LOST)
            if self._browser is None:
                if callable(self.network):  # worked out only when a browser is needed
                    self.network = await asyncio.to_thread(self.network)
                self._browser = await self._stack.enter_async_context(
                    open_browser(
                        self.timeout,
                        self.options,
                        headless=self.headless,
                        network=self.network,
                        folder=Path(self.folder) if self.folder else None,
                    )
                )
                self._browser.on("disconnected", lambda _browser: self._on_lost())
                if not self.options.endpoint:
                    self._watch = asyncio.ensure_future(self._watch_processes())
                self.started = True
            return self._browser

    async def unless_lost(self, work: Awaitable[T], lost: Callable[[], Exception]) -> T:
        """*work*'s result, unless the browser goes away first (killed, crashed, its last
        window closed): then *work* is cancelled and *lost()* raised. A browser killed
        mid-work can fail the work (a closed page) before the watchdog's next look: such a
        failure is the lost browser's too."""
        job = asyncio.ensure_future(work)
        gone = asyncio.ensure_future(self.lost.wait())
        try:
            await asyncio.wait({job, gone}, return_when=asyncio.FIRST_COMPLETED)
            if job.done():
                failed = not job.cancelled() and job.exception() is not None
                if not failed or not (self.lost.is_set() or self.processes_gone()):
                    return job.result()
            job.cancel()
            with contextlib.suppress(BaseException):
                await job
            raise lost()
        finally:
            gone.cancel()

    def _on_lost(self) -> None:
        if not self._closing:
            self.lost.set()

    def processes_gone(self) -> bool:
        """Whether a browser we started has no process left (a look at /proc, now)."""
        folder = self.folder
        if not self.started or self.options.endpoint or not folder or not os.path.isdir("/proc"):
            return False
        return not processes_using(folder)

    async def _watch_processes(self) -> None:
        """Playwright does not always notice a killed browser (its driver can wait forever):
        the processes started in our private folder tell."""
        folder = self.folder
        if not folder or not os.path.isdir("/proc"):
            return
        while not self._closing:
            await asyncio.sleep(0.25)
            if not self._closing and not processes_using(folder):
                self._on_lost()
                return

    async def aclose(self) -> None:
        self._closing = True
        if self._watch is not None:
            self._watch.cancel()
        if not self.lost.is_set() and self._browser is not None:
            await self.pool.aclose()
        if self.lost.is_set():
            # the driver may hang on a dead browser: give it a moment, then leave it to the
            # process exit (private_tmpdir still removes the folder)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._stack.aclose(), 5)
            return
        await self._stack.aclose()


def run_with_browser(
    work: Callable[[Browser], Awaitable[T]],
    timeout: float,
    options: BrowserOptions | None = None,
    *,
    headless: bool = True,
    network: BrowserNetwork | None = None,
) -> T:
    """Start (or connect to) a browser, run `await work(browser)`, close what we opened."""

    async def main(browsers: LazyBrowser) -> T:
        return await work(await browsers.get())

    return run_with_lazy_browser(main, timeout, options, headless=headless, network=network)


def run_with_lazy_browser(
    work: Callable[[LazyBrowser], Awaitable[T]],
    timeout: float,
    options: BrowserOptions | None = None,
    *,
    headless: bool = True,
    lost: Callable[[], Exception] = lambda: BrowserUnavailable(BROWSER_LOST),
    network: BrowserNetwork | Callable[[], BrowserNetwork] | None = None,
) -> T:
    """Run `await work(browsers)` in a fresh event loop; a browser starts only if asked for.

    The private temporary folder wraps the whole event loop, so it is removed even when a
    signal tears the loop down half way. If the browser goes away mid-work, the work is
    cancelled and *lost()* raised (BrowserUnavailable; a headed login, whose browser goes
    away when the person closes its last window, says that instead). *network*: what the
    browser must trust (network/browser_trust.py).
    """
    with private_tmpdir() as folder:

        async def main() -> T:
            browsers = LazyBrowser(
                timeout, options, headless=headless, network=network, folder=folder
            )
            try:
                return await browsers.unless_lost(work(browsers), lost)
            finally:
                await browsers.aclose()

        return _run_bounded(main())


def _run_bounded(main: Coroutine[Any, Any, T]) -> T:
    """asyncio.run(), except that after an interruption the teardown waits at most
    TEARDOWN_GRACE seconds for Playwright: a driver that was hit by the same Ctrl-C may never
    answer, and asyncio.run would wait for it forever. What is left then is cleaned up by
    private_tmpdir (the browser processes) and by our exit (the driver reads EOF and quits)."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(main)
    finally:
        try:
            pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.wait(pending, timeout=TEARDOWN_GRACE))
            loop.run_until_complete(
                asyncio.wait([loop.create_task(loop.shutdown_asyncgens())], timeout=1)
            )
        finally:
            loop.set_exception_handler(lambda _loop, _context: None)  # "Task was destroyed…"
            loop.close()
