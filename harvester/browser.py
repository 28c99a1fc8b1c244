"""Log in through a real browser with Playwright. Playwright is imported here, lazily, only.

Playwright's async API, so that one browser can serve many logins at once (one context each,
see refresh.py); a single login runs the same code under asyncio.run. A private temporary
directory holds the browser profile and whatever Playwright writes, and is removed afterwards
whatever happens.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shlex
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from .errors import (
    BrowserUnavailable,
    LoginFlowError,
    LoginRefused,
    SiteUnreachable,
    UsageError,
)
from .session import Session
from .site import DEFAULT_COOKIE_PREFIX, login_url

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page

log = logging.getLogger(__name__)
T = TypeVar("T")

# Quiet on a closed network, harmless elsewhere (env-notes.md).
CHROMIUM_ARGS = [
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-gpu",
]
SYSTEM_BROWSERS = [
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
]
MAX_TMPDIR_LENGTH = 40
INVALID_LOGIN = "Invalid login"
SESSION_ERROR = "server error that affects your login session"
REQUIRED_ACTIONS = {
    "/login/change_password.php": "the site demands a password change",
    "/user/edit.php": "the site demands that the user complete their profile",
    "/admin/tool/sitepolicy/": "the site demands that the user accept the site policy",
}


@dataclass(frozen=True)
class CapturedLogin:
    """What the browser saw once the login finished."""

    cookie_name: str
    cookie_value: str = field(repr=False)
    sesskey: str = field(repr=False)
    landing_url: str

    def session(self, wwwroot: str, user: str, obtained_at: float) -> Session:
        return Session(
            wwwroot=wwwroot,
            user=user,
            cookie_name=self.cookie_name,
            cookie_value=self.cookie_value,
            sesskey=self.sesskey,
            obtained_at=obtained_at,
        )


@dataclass(frozen=True)
class BrowserChoice:
    executable: str | None  # None: Playwright's own build
    why: str


def choose_browser(own: str | None) -> BrowserChoice:
    """Playwright's own Chromium (at *own*) when installed, else a system Chromium or Chrome."""
    if own and os.path.exists(own):
        return BrowserChoice(None, f"Playwright's own Chromium ({own})")
    for candidate in SYSTEM_BROWSERS:
        path = candidate if os.path.isabs(candidate) else shutil.which(candidate)
        if path and os.access(path, os.X_OK):
            return BrowserChoice(path, f"system browser {path} (Playwright's own is not installed)")
    raise BrowserUnavailable(
        "no Chromium found: install one (Debian/Ubuntu: apt-get install chromium; "
        "or: python -m playwright install chromium)"
    )


@contextmanager
def private_tmpdir() -> Iterator[str]:
    """Point TMPDIR at a fresh 0700 folder while Playwright starts, remove it afterwards.

    Playwright's driver and Chromium inherit TMPDIR and put the temporary profile there, so
    no cookie or cache outlives the login, even when the browser is killed.
    """
    base = tempfile.gettempdir()
    if len(base) > MAX_TMPDIR_LENGTH and os.path.isdir("/tmp"):
        # Chromium puts a unix socket deep inside the profile; a socket path has ~107 bytes.
        base = "/tmp"
    path: str | None = None
    old = os.environ.get("TMPDIR")
    try:
        with _signals_deferred():  # a Ctrl-C lands after the folder exists and is ours to clean
            path = tempfile.mkdtemp(prefix="harvester-browser-", dir=base)
            os.environ["TMPDIR"] = path
        yield path
    finally:
        with _signals_deferred():  # a second Ctrl-C must not leave half a profile behind
            if old is None:
                os.environ.pop("TMPDIR", None)
            else:
                os.environ["TMPDIR"] = old
            if path is not None:
                _stop_browsers_using(path)
                _remove_tree(path)


def _processes_using(path: str) -> list[int]:
    """Pids whose command line names *path*: the browser processes started for this login
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


def _stop_browsers_using(path: str, grace: float = 5.0) -> None:
    """After a Ctrl-C the browser is still shutting down, and would write its profile (cookies
    included) back after we removed it: wait for it to exit, then kill what is left of it."""
    import signal

    deadline = time.monotonic() + grace
    while pids := _processes_using(path):
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
def _signals_deferred() -> Iterator[None]:
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


def run_with_browser(work: Callable[[Browser], Awaitable[T]], timeout: float) -> T:
    """Start a headless browser, run `await work(browser)`, close everything; return its result."""

    async def main(browsers: LazyBrowser) -> T:
        return await work(await browsers.get())

    return run_with_lazy_browser(main, timeout)


class LazyBrowser:
    """One shared browser, started by the first caller that needs it (many may never do)."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.started = False
        self._stack = contextlib.AsyncExitStack()
        self._browser: Browser | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> Browser:
        async with self._lock:
            if self._browser is None:
                self._browser = await self._stack.enter_async_context(open_browser(self.timeout))
                self.started = True
            return self._browser

    async def aclose(self) -> None:
        await self._stack.aclose()


def run_with_lazy_browser(work: Callable[[LazyBrowser], Awaitable[T]], timeout: float) -> T:
    """Run `await work(browsers)` in a fresh event loop; a browser starts only if asked for.

    The private temporary folder wraps the whole event loop, so it is removed even when a
    signal tears the loop down half way.
    """
    with private_tmpdir():

        async def main() -> T:
            browsers = LazyBrowser(timeout)
            try:
                return await work(browsers)
            finally:
                await browsers.aclose()

        return asyncio.run(main())


@asynccontextmanager
async def open_browser(timeout: float) -> AsyncIterator[Browser]:
    """A headless browser that is closed, with its driver, when the block ends. Call it
    inside private_tmpdir() (run_with_browser does) so the profile never outlives the run."""
    from playwright.async_api import Error as PlaywrightError
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        choice = choose_browser(playwright.chromium.executable_path)
        log.debug("browser: %s", choice.why)
        extra = shlex.split(os.environ.get("HARVEST_BROWSER_ARGS", ""))
        try:
            browser = await playwright.chromium.launch(
                headless=True,
                executable_path=choice.executable,
                args=CHROMIUM_ARGS + extra,
                timeout=timeout * 1000,
            )
        except PlaywrightError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise BrowserUnavailable(f"the browser did not start: {first}") from None
        try:
            yield browser
        finally:
            await browser.close()


async def login_with_password(
    browser: Browser,
    wwwroot: str,
    user: str,
    password: str,
    *,
    timeout: float,
    cookie_prefix: str = DEFAULT_COOKIE_PREFIX,
) -> CapturedLogin:
    """Fill the site's login form in a fresh context of *browser*; return cookie and sesskey."""
    from playwright.async_api import Error as PlaywrightError

    context = await browser.new_context()
    try:
        page = await context.new_page()
        page.set_default_timeout(timeout * 1000)
        try:
            button = await _open_login_page(page, login_url(wwwroot))
            async with page.expect_navigation(wait_until="domcontentloaded"):
                await page.fill("#username", user)
                await page.fill("#password", password)
                if button:
                    await page.click("#loginbtn", no_wait_after=True)
                else:
                    await page.press("#password", "Enter", no_wait_after=True)
            outcome = await page.evaluate(OUTCOME_PROBE)
            cookies = await context.cookies(wwwroot)
            return _read_outcome(page.url, outcome, cookies, wwwroot, user, cookie_prefix)
        except PlaywrightError as exc:
            raise _translate(exc, wwwroot, timeout) from None
    finally:
        await context.close()  # promptly: a context holds a renderer and its memory


# One round trip each: every call into the browser costs milliseconds on a busy machine.
FORM_PROBE = """() => ({
    form: !!document.querySelector('form#login'),
    username: !!document.querySelector('#username'),
    password: !!document.querySelector('#password'),
    button: !!document.querySelector('#loginbtn'),
})"""
OUTCOME_PROBE = """() => {
    const error = document.querySelector('#loginerrormessage');
    let sesskey = (window.M && M.cfg && M.cfg.sesskey) || null;
    if (!sesskey) {
        const found = document.documentElement.innerHTML.match(/"sesskey":"([^"]+)"/);
        sesskey = found ? found[1] : null;
    }
    return {
        error: error ? error.innerText : null,
        bodyClass: document.body ? document.body.className : '',
        sesskey: sesskey,
    };
}"""


async def _open_login_page(page: Page, url: str) -> bool:
    """Open the login page; True when it has a #loginbtn to click."""
    response = await page.goto(url, wait_until="domcontentloaded")
    if response is not None and response.status == 503:
        retry = response.headers.get("retry-after")
        raise SiteUnreachable(
            f"{url} answered 503 (maintenance)" + (f"; retry after {retry} s" if retry else "")
        )
    found = await page.evaluate(FORM_PROBE)
    if not (found["form"] and found["username"] and found["password"]):
        status = f"HTTP {response.status}" if response is not None else "no response"
        raise LoginFlowError(
            f"{page.url} is not a Totara login page ({status}; no form#login with #username "
            "and #password): check the site URL"
        )
    return bool(found["button"])


def _read_outcome(
    landing: str,
    outcome: dict[str, Any],
    cookies: Any,
    wwwroot: str,
    user: str,
    cookie_prefix: str,
) -> CapturedLogin:
    if outcome["error"] is not None:
        text = " ".join(str(outcome["error"]).split())[:200]
        if SESSION_ERROR in text:
            raise LoginFlowError(
                f"the site rejected the login form itself ({text}); it may need a newer harvester"
            )
        raise LoginRefused(
            f"the site refused the login for {user}: {text or INVALID_LOGIN} "
            "(wrong password, unknown user or locked account)"
        )
    path = urlsplit(landing).path
    for prefix, what in REQUIRED_ACTIONS.items():
        if path.startswith(urlsplit(wwwroot).path + prefix):
            raise LoginFlowError(
                f"{what} ({landing}): log in once in a browser and finish that page, then retry"
            )
    if "notloggedin" in str(outcome["bodyClass"]).split():
        raise LoginFlowError(f"after the login form the page {landing} still shows no user")
    session_cookies = [
        c for c in cookies if str(c.get("name", "")).startswith(cookie_prefix) and c.get("value")
    ]
    if not session_cookies:
        raise LoginFlowError(
            f"the login finished on {landing} but the site set no {cookie_prefix}* cookie"
        )
    # Several matches (e.g. a stale cookie of another suffix on a parent path): the most specific.
    cookie = max(session_cookies, key=lambda c: len(str(c.get("path", ""))))
    sesskey = outcome["sesskey"]
    if not sesskey:
        raise LoginFlowError(f"the landing page {landing} carries no M.cfg.sesskey")
    return CapturedLogin(str(cookie["name"]), str(cookie["value"]), str(sesskey), landing)


def _translate(exc: Exception, wwwroot: str, timeout: float) -> Exception:
    text = str(exc)
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    if type(exc).__name__ == "TimeoutError":
        return SiteUnreachable(f"{wwwroot} did not answer within {timeout:g} s (--timeout)")
    for marker in (
        "ERR_CONNECTION_REFUSED",
        "ERR_NAME_NOT_RESOLVED",
        "ERR_ADDRESS_UNREACHABLE",
        "ERR_CONNECTION_RESET",
        "ERR_CONNECTION_CLOSED",
        "ERR_INTERNET_DISCONNECTED",
        "ERR_EMPTY_RESPONSE",
        "ERR_TIMED_OUT",
        "ERR_CONNECTION_TIMED_OUT",
    ):
        if marker in text:
            return SiteUnreachable(f"cannot reach {wwwroot}: {marker}")
    if "ERR_UNSAFE_PORT" in text:
        return UsageError(f"Chromium refuses to connect to the port of {wwwroot} (ERR_UNSAFE_PORT)")
    if "ERR_CERT_" in text:
        found = re.search(r"ERR_CERT_[A-Z_]+", text)
        code = found.group(0) if found else "ERR_CERT"
        return SiteUnreachable(f"the TLS certificate of {wwwroot} does not verify ({code})")
    return LoginFlowError(f"the browser failed during the login: {first[:200]}")
