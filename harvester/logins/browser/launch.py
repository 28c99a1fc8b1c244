"""Which browser runs the logins, and starting it or connecting to a running one.

Automatically: Playwright's own Chromium when installed, else a system Chromium or Chrome. The
user may name an executable, a Playwright channel, or a running browser's endpoint (CDP or a
Playwright browser server); each choice says where it came from (`harvest doctor` shows it).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shlex
import shutil
import sys
import tempfile
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ...errors import BrowserUnavailable, first_line
from ...network.browser_trust import BrowserNetwork
from ...settings.config import BrowserOptions

if TYPE_CHECKING:
    from playwright.async_api import Browser, Playwright

log = logging.getLogger(__name__)

# Quiet on a closed network, harmless elsewhere (docs/environment.md).
CHROMIUM_ARGS = [
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-gpu",
]
# Chromium's headless shell (the old headless mode, its own binary since Chromium 132; Debian:
# chromium-headless-shell) is what Playwright runs headless with its own builds. Here it started
# and stopped in 512 ms against 732 ms for `chromium --headless`, and a first login in a new
# context took 286 ms against 600 ms (docs/benchmarks.md): a system one is preferred for
# headless logins. A --headed login needs the full browser.
HEADLESS_SHELLS = [
    "/usr/lib/chromium/chromium-headless-shell",  # Debian's, without its wrapper script
    "chromium-headless-shell",
    "chrome-headless-shell",
]
SYSTEM_BROWSERS = [
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
]


@dataclass(frozen=True)
class BrowserChoice:
    executable: str | None  # None: Playwright's own build (or a channel, or a running browser)
    why: str


def choose_browser(
    own: str | None, options: BrowserOptions | None = None, *, headless: bool = True
) -> BrowserChoice:
    """The browser asked for (*options*), else Playwright's own Chromium (at *own*) when
    installed, else a system Chromium or Chrome (its headless shell first, for a *headless*
    one)."""
    if options is not None and options.endpoint:
        kind = "Chrome DevTools Protocol" if is_cdp_endpoint(options.endpoint) else "Playwright"
        return BrowserChoice(None, f"a running browser at {options.endpoint} ({kind})")
    if options is not None and options.path:
        if not os.access(options.path, os.X_OK):
            raise BrowserUnavailable(f"no browser at {options.path} (--browser-path)")
        return BrowserChoice(options.path, f"{options.path}, asked for by --browser-path/config")
    if options is not None and options.channel:
        return BrowserChoice(None, f"Playwright channel {options.channel!r}, asked for")
    if own and os.path.exists(own):
        return BrowserChoice(None, f"Playwright's own Chromium ({own})")
    for candidate in (HEADLESS_SHELLS if headless else []) + SYSTEM_BROWSERS:
        path = candidate if os.path.isabs(candidate) else shutil.which(candidate)
        if path and os.access(path, os.X_OK):
            return BrowserChoice(path, f"system browser {path} (Playwright's own is not installed)")
    raise BrowserUnavailable(
        "no Chromium found: install one (Debian/Ubuntu: apt-get install chromium; "
        "or: python -m playwright install chromium)"
    )


def is_cdp_endpoint(endpoint: str) -> bool:
    """http(s)://host:port and ws://…/devtools/… speak CDP; other ws:// URLs are Playwright
    browser servers (`playwright run-server`)."""
    lowered = endpoint.lower()
    return lowered.startswith(("http://", "https://")) or "/devtools/" in lowered


@asynccontextmanager
async def open_browser(
    timeout: float,
    options: BrowserOptions | None = None,
    *,
    headless: bool = True,
    network: BrowserNetwork | None = None,
    folder: Path | None = None,
) -> AsyncIterator[Browser]:
    """A browser for this run: launched (and closed with its driver when the block ends), or,
    with options.endpoint, a running one we connect to and only disconnect from. Call it inside
    the *folder* of processes.private_tmpdir() (the runner does) so a launched profile never
    outlives the run. *network*: the CAs and pins the sites of this run need
    (network/browser_trust.py)."""
    from playwright.async_api import Error as PlaywrightError
    from playwright.async_api import async_playwright

    options = options or BrowserOptions()
    network = network or BrowserNetwork()
    folder = folder or Path(tempfile.gettempdir())
    driver = async_playwright()
    async with _driver_starts():  # one at a time: each driver sees its own environment
        with network.driver_env(folder):
            playwright = await driver.__aenter__()
    try:
        if options.endpoint:
            browser = await _connect(playwright, options.endpoint, timeout)
        else:
            if not headless:
                check_display()
            choice = choose_browser(playwright.chromium.executable_path, options, headless=headless)
            log.debug("browser: %s", choice.why)
            extra = list(options.args) + shlex.split(os.environ.get("HARVEST_BROWSER_ARGS", ""))
            try:
                browser = await playwright.chromium.launch(
                    headless=headless,
                    executable_path=choice.executable,
                    channel=options.channel or None,
                    args=CHROMIUM_ARGS + network.launch_args() + extra,
                    env=network.browser_env(folder),
                    timeout=timeout * 1000,
                )
            except PlaywrightError as exc:
                raise BrowserUnavailable(f"the browser did not start: {first_line(exc)}") from None
        try:
            yield browser
        finally:
            # A launched browser quits; a connected one only loses our contexts and connection.
            await browser.close()
    finally:
        await driver.__aexit__(None, None, None)


_STARTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


def _driver_starts() -> asyncio.Lock:
    """The lock that makes drivers start one at a time, one per event loop."""
    loop = asyncio.get_running_loop()
    lock = _STARTS.get(loop)
    if lock is None:
        lock = _STARTS[loop] = asyncio.Lock()
    return lock


async def _connect(playwright: Playwright, endpoint: str, timeout: float) -> Browser:
    from playwright.async_api import Error as PlaywrightError

    cdp = is_cdp_endpoint(endpoint)
    log.debug("browser: connecting to %s over %s", endpoint, "CDP" if cdp else "Playwright")
    try:
        if cdp:
            return await playwright.chromium.connect_over_cdp(endpoint, timeout=timeout * 1000)
        return await playwright.chromium.connect(endpoint, timeout=timeout * 1000)
    except PlaywrightError as exc:
        raise BrowserUnavailable(
            f"cannot use the browser at {endpoint} (--browser-endpoint): {first_line(exc)}"
        ) from None


def check_display(what: str = "--headed") -> None:
    """A headed browser needs a screen; say how to get one when there is none."""
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        raise BrowserUnavailable(
            f"{what} needs a screen and there is none (no DISPLAY or WAYLAND_DISPLAY): run it "
            "in your desktop session, over ssh -X, or under xvfb-run"
        )
