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
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from .config import BrowserOptions, SiteProfile
from .errors import (
    BrowserUnavailable,
    LoginFlowError,
    LoginRefused,
    SiteUnreachable,
    UsageError,
)
from .session import Session

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, Page, Playwright

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


def choose_browser(own: str | None, options: BrowserOptions | None = None) -> BrowserChoice:
    """The browser asked for (*options*), else Playwright's own Chromium (at *own*) when
    installed, else a system Chromium or Chrome."""
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


def is_cdp_endpoint(endpoint: str) -> bool:
    """http(s)://host:port and ws://…/devtools/… speak CDP; other ws:// URLs are Playwright
    browser servers (`playwright run-server`)."""
    lowered = endpoint.lower()
    return lowered.startswith(("http://", "https://")) or "/devtools/" in lowered


def run_with_browser(
    work: Callable[[Browser], Awaitable[T]],
    timeout: float,
    options: BrowserOptions | None = None,
    *,
    headless: bool = True,
) -> T:
    """Start (or connect to) a browser, run `await work(browser)`, close what we opened."""

    async def main(browsers: LazyBrowser) -> T:
        return await work(await browsers.get())

    return run_with_lazy_browser(main, timeout, options, headless=headless)


class LazyBrowser:
    """One shared browser, started by the first caller that needs it (many may never do).

    `lost` is set when the browser goes away under us (killed, crashed, remote end closed).
    """

    def __init__(
        self, timeout: float, options: BrowserOptions | None = None, *, headless: bool = True
    ) -> None:
        self.timeout = timeout
        self.options = options or BrowserOptions()
        self.headless = headless
        self.started = False
        self.lost = asyncio.Event()
        self._closing = False
        self._stack = contextlib.AsyncExitStack()
        self._browser: Browser | None = None
        self._lock = asyncio.Lock()
        self._watch: asyncio.Task[None] | None = None

    async def get(self) -> Browser:
        async with self._lock:
            if self.lost.is_set():
                raise BrowserUnavailable(BROWSER_LOST)
            if self._browser is None:
                self._browser = await self._stack.enter_async_context(
                    open_browser(self.timeout, self.options, headless=self.headless)
                )
                self._browser.on("disconnected", lambda _browser: self._on_lost())
                if not self.options.endpoint:
                    self._watch = asyncio.ensure_future(self._watch_processes())
                self.started = True
            return self._browser

    def _on_lost(self) -> None:
        if not self._closing:
            self.lost.set()

    async def _watch_processes(self) -> None:
        """Playwright does not always notice a killed browser (its driver can wait forever):
        the processes started in our private folder tell."""
        folder = os.environ.get("TMPDIR", "")
        if not folder or not os.path.isdir("/proc"):
            return
        while not self._closing:
            await asyncio.sleep(0.25)
            if not self._closing and not _processes_using(folder):
                self._on_lost()
                return

    async def aclose(self) -> None:
        self._closing = True
        if self._watch is not None:
            self._watch.cancel()
        if self.lost.is_set():
            # the driver may hang on a dead browser: give it a moment, then leave it to the
            # process exit (private_tmpdir still removes the folder)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._stack.aclose(), 5)
            return
        await self._stack.aclose()


BROWSER_LOST = "the browser exited during the login (killed or crashed); nothing was stored"


def run_with_lazy_browser(
    work: Callable[[LazyBrowser], Awaitable[T]],
    timeout: float,
    options: BrowserOptions | None = None,
    *,
    headless: bool = True,
) -> T:
    """Run `await work(browsers)` in a fresh event loop; a browser starts only if asked for.

    The private temporary folder wraps the whole event loop, so it is removed even when a
    signal tears the loop down half way. If the browser goes away mid-work, the work is
    cancelled and BrowserUnavailable raised.
    """
    with private_tmpdir():

        async def main() -> T:
            browsers = LazyBrowser(timeout, options, headless=headless)
            try:
                job = asyncio.ensure_future(work(browsers))
                lost = asyncio.ensure_future(browsers.lost.wait())
                await asyncio.wait({job, lost}, return_when=asyncio.FIRST_COMPLETED)
                if job.done():
                    lost.cancel()
                    return job.result()
                job.cancel()
                with contextlib.suppress(BaseException):
                    await job
                raise BrowserUnavailable(BROWSER_LOST)
            finally:
                await browsers.aclose()

        return _run_bounded(main())


TEARDOWN_GRACE = 10.0


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


@asynccontextmanager
async def open_browser(
    timeout: float, options: BrowserOptions | None = None, *, headless: bool = True
) -> AsyncIterator[Browser]:
    """A browser for this run: launched (and closed with its driver when the block ends), or,
    with options.endpoint, a running one we connect to and only disconnect from. Call it inside
    private_tmpdir() (run_with_browser does) so a launched profile never outlives the run."""
    from playwright.async_api import Error as PlaywrightError
    from playwright.async_api import async_playwright

    options = options or BrowserOptions()
    async with async_playwright() as playwright:
        if options.endpoint:
            browser = await _connect(playwright, options.endpoint, timeout)
        else:
            if not headless:
                _check_display()
            choice = choose_browser(playwright.chromium.executable_path, options)
            log.debug("browser: %s", choice.why)
            extra = list(options.args) + shlex.split(os.environ.get("HARVEST_BROWSER_ARGS", ""))
            try:
                browser = await playwright.chromium.launch(
                    headless=headless,
                    executable_path=choice.executable,
                    channel=options.channel or None,
                    args=CHROMIUM_ARGS + extra,
                    timeout=timeout * 1000,
                )
            except PlaywrightError as exc:
                raise BrowserUnavailable(f"the browser did not start: {_first_line(exc)}") from None
        try:
            yield browser
        finally:
            # A launched browser quits; a connected one only loses our contexts and connection.
            await browser.close()


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
            f"cannot use the browser at {endpoint} (--browser-endpoint): {_first_line(exc)}"
        ) from None


def _check_display() -> None:
    import sys

    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        raise BrowserUnavailable(
            "--headed needs a screen and there is none (no DISPLAY or WAYLAND_DISPLAY): run it "
            "in your desktop session, over ssh -X, or under xvfb-run"
        )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


async def login_with_password(
    browser: Browser,
    profile: SiteProfile,
    user: str,
    password: str,
    *,
    timeout: float,
) -> CapturedLogin:
    """Log in unattended in a fresh context of *browser*: the site's form, or the profile's
    configured steps (an identity provider's forms); return cookie and sesskey."""
    from playwright.async_api import Error as PlaywrightError

    context = await browser.new_context()
    try:
        page = await context.new_page()
        page.set_default_timeout(timeout * 1000)
        try:
            if profile.steps:
                await _goto(page, profile.login_page)
                await _run_steps(page, profile, user, password)
                deadline = time.monotonic() + timeout
                return await _await_logged_in(context, profile, user, deadline, unattended=True)
            button = await _open_login_page(page, profile)
            async with page.expect_navigation(wait_until="domcontentloaded"):
                await page.fill(profile.username_selector, user)
                await page.fill(profile.password_selector, password)
                if button:
                    await page.click(profile.submit_selector, no_wait_after=True)
                else:
                    await page.press(profile.password_selector, "Enter", no_wait_after=True)
            outcome = await page.evaluate(OUTCOME_PROBE, profile.error_selector)
            cookies = await context.cookies(profile.wwwroot)
            return _read_outcome(page.url, outcome, cookies, profile, user)
        except PlaywrightError as exc:
            raise _translate(exc, profile.wwwroot, timeout) from None
    finally:
        await context.close()  # promptly: a context holds a renderer and its memory


async def capture_headed(
    browser: Browser,
    profile: SiteProfile,
    user: str,
    *,
    timeout: float,
    wait: float,
    notify: Callable[[str], None],
) -> CapturedLogin:
    """Open the login page in a visible window and wait while a person logs in (SSO, MFA,
    anything); capture once a page of the site shows a logged-in user with the cookie and
    M.cfg.sesskey. Closing the window aborts."""
    from playwright.async_api import Error as PlaywrightError

    context = await browser.new_context(no_viewport=True)
    try:
        page = await context.new_page()
        page.set_default_timeout(timeout * 1000)
        try:
            await _goto(page, profile.login_page)
        except PlaywrightError as exc:
            raise _translate(exc, profile.wwwroot, timeout) from None
        notify(
            f"Log in as {user} in the browser window (single sign-on, MFA: whatever the site "
            f"asks). Waiting up to {wait:g} s; close the window to cancel."
        )
        deadline = time.monotonic() + wait
        return await _await_logged_in(
            context, profile, user, deadline, unattended=False, notify=notify
        )
    finally:
        with contextlib.suppress(Exception):  # the person may have closed it already
            await context.close()


async def _goto(page: Page, url: str) -> None:
    response = await page.goto(url, wait_until="domcontentloaded")
    if response is not None and response.status == 503:
        retry = response.headers.get("retry-after")
        raise SiteUnreachable(
            f"{url} answered 503 (maintenance)" + (f"; retry after {retry} s" if retry else "")
        )


async def _run_steps(page: Page, profile: SiteProfile, user: str, password: str) -> None:
    from playwright.async_api import Error as PlaywrightError

    for number, step in enumerate(profile.steps, 1):
        value = step.value.replace("{username}", user).replace("{password}", password)
        try:
            if step.action == "click":
                await page.click(step.selector)
            elif step.action == "fill":
                await page.fill(step.selector, value)
            elif step.action == "press":
                await page.press(step.selector, value)
            elif step.action == "wait_for":
                await page.wait_for_selector(step.selector)
            else:
                await page.wait_for_url(step.selector)
        except PlaywrightError as exc:
            refused = await _error_text(page, profile.error_selector)
            if refused:
                raise LoginRefused(f"the login for {user} was refused: {refused}") from None
            if type(exc).__name__ != "TimeoutError":
                raise
            raise LoginFlowError(
                f"login step {number} ({step.describe()}) found nothing to act on at "
                f"{_without_query(page.url)}: check the site's steps in the config"
            ) from None


async def _error_text(page: Page, selector: str) -> str:
    """The visible text of the profile's error element, if one shows."""
    from playwright.async_api import Error as PlaywrightError

    try:
        found = await page.evaluate(ERROR_PROBE, selector)
    except PlaywrightError:
        return ""
    return " ".join(str(found or "").split())[:200]


async def _await_logged_in(
    context: BrowserContext,
    profile: SiteProfile,
    user: str,
    deadline: float,
    *,
    unattended: bool,
    notify: Callable[[str], None] | None = None,
) -> CapturedLogin:
    """Poll the context's pages until one is a logged-in page of the site.

    Unattended, an error shown by the site or the identity provider is a refused login; with
    a person at the window it is theirs to retry.
    """
    from playwright.async_api import Error as PlaywrightError

    reminded = time.monotonic()
    told = ""
    while True:
        pages = [p for p in context.pages if not p.is_closed()]
        if not pages:
            raise LoginFlowError("the browser window was closed before the login finished")
        for page in pages:
            url = page.url
            try:
                if _on_site(url, profile.wwwroot):
                    outcome = await page.evaluate(OUTCOME_PROBE, profile.error_selector)
                    if not unattended and (
                        outcome["error"] is not None or _required_action(url, profile.wwwroot)
                    ):
                        if notify is not None and url != told:
                            told = url  # the person can retry, or finish the page, right there
                            notify(
                                f"The site shows {_without_query(url)}: finish it in the window."
                            )
                        continue
                    if outcome["ready"] and not _still_logging_in(outcome, url, profile):
                        cookies = await context.cookies(profile.wwwroot)
                        return _read_outcome(url, outcome, cookies, profile, user)
                elif unattended:
                    refused = await _error_text(page, profile.error_selector)
                    if refused:
                        raise LoginRefused(f"the identity provider refused {user}: {refused}")
            except PlaywrightError:
                continue  # the page is navigating; look again
        now = time.monotonic()
        if now > deadline:
            where = _without_query(pages[-1].url)
            if unattended:
                raise LoginFlowError(
                    f"the login steps finished but no logged-in page of {profile.wwwroot} "
                    f"showed within the timeout (the browser is at {where})"
                )
            raise LoginFlowError(
                f"no login finished in the browser window in time (--wait); at {where}"
            )
        if notify is not None and now - reminded > 30:
            reminded = now
            notify(
                f"Still waiting for the login in the browser window ({deadline - now:.0f} s left)."
            )
        await asyncio.sleep(0.25)


def _still_logging_in(outcome: dict[str, Any], url: str, profile: SiteProfile) -> bool:
    """A page of the site that is not the end of a login yet: no sesskey, or not logged in
    without an error to report (the login page before the person acts)."""
    if outcome["error"] is not None:
        return False
    if _required_action(url, profile.wwwroot):
        return False
    return not outcome["sesskey"] or "notloggedin" in str(outcome["bodyClass"]).split()


def _on_site(url: str, wwwroot: str) -> bool:
    return url == wwwroot or url.startswith(wwwroot + "/") or url.startswith(wwwroot + "?")


def _without_query(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def _required_action(url: str, wwwroot: str) -> str | None:
    path = urlsplit(url).path
    for prefix, what in REQUIRED_ACTIONS.items():
        if path.startswith(urlsplit(wwwroot).path + prefix):
            return what
    return None


# One round trip each: every call into the browser costs milliseconds on a busy machine.
FORM_PROBE = """([username, password, button]) => ({
    username: !!document.querySelector(username),
    password: !!document.querySelector(password),
    button: !!document.querySelector(button),
})"""
OUTCOME_PROBE = """(errorSelector) => {
    const error = document.querySelector(errorSelector);
    let sesskey = (window.M && M.cfg && M.cfg.sesskey) || null;
    if (!sesskey) {
        const found = document.documentElement.innerHTML.match(/"sesskey":"([^"]+)"/);
        sesskey = found ? found[1] : null;
    }
    return {
        error: error ? error.innerText : null,
        bodyClass: document.body ? document.body.className : '',
        sesskey: sesskey,
        ready: document.readyState !== 'loading',
    };
}"""
ERROR_PROBE = """(selector) => {
    const found = document.querySelector(selector);
    return found && found.offsetParent !== null ? found.innerText : null;
}"""


async def _open_login_page(page: Page, profile: SiteProfile) -> bool:
    """Open the login page; True when it has a submit button to click."""
    url = profile.login_page
    await _goto(page, url)
    if not _on_site(page.url, profile.wwwroot):
        raise LoginFlowError(
            f"the login page sent the browser to {_without_query(page.url)} (single sign-on): "
            "log in with --headed, or configure the identity provider's steps "
            "(harvest site add ALIAS --url URL --step …)"
        )
    found = await page.evaluate(
        FORM_PROBE,
        [profile.username_selector, profile.password_selector, profile.submit_selector],
    )
    if not (found["username"] and found["password"]):
        raise LoginFlowError(
            f"{_without_query(page.url)} is not a Totara login page (no "
            f"{profile.username_selector} and {profile.password_selector} fields): check the "
            "site URL, or the selectors in the site config"
        )
    return bool(found["button"])


def _read_outcome(
    landing: str,
    outcome: dict[str, Any],
    cookies: Any,
    profile: SiteProfile,
    user: str,
) -> CapturedLogin:
    landing_shown = _without_query(landing)
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
    what = _required_action(landing, profile.wwwroot)
    if what:
        raise LoginFlowError(
            f"{what} ({landing_shown}): log in once in a browser and finish that page, then "
            "retry; nothing was stored"
        )
    if "notloggedin" in str(outcome["bodyClass"]).split():
        raise LoginFlowError(f"after the login form the page {landing_shown} still shows no user")
    session_cookies = [
        c for c in cookies if profile.cookie_matches(str(c.get("name", ""))) and c.get("value")
    ]
    if not session_cookies:
        raise LoginFlowError(
            f"the login finished on {landing_shown} but the site set no {profile.cookie_label} "
            "cookie"
        )
    # Several matches (e.g. a stale cookie of another suffix on a parent path): the most specific.
    cookie = max(session_cookies, key=lambda c: len(str(c.get("path", ""))))
    sesskey = outcome["sesskey"]
    if not sesskey:
        raise LoginFlowError(f"the landing page {landing_shown} carries no M.cfg.sesskey")
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
