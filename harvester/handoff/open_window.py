"""`harvest open`: a visible browser window at a page of the site, logged in as the user from
the stored session, for a person who wants to see what that user sees.

The window's context starts from the session cookie exactly as stored (cookie_files.py); what
happens in it is never read back or stored, and its profile is a private temporary folder
removed at the end (browser/processes.py). Closing the window (its last tab) ends the command.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..errors import UsageError
from ..inputs import text
from ..settings.config import BrowserOptions
from ..site.wwwroot import Wwwroot
from ..store.sessions import SessionStore

if TYPE_CHECKING:
    from playwright.async_api import Browser

# How often the window is looked at; closing it ends the command within this.
POLL_SECONDS = 0.25


def page_url(wwwroot: Wwwroot, path: str) -> str:
    """*path* (`/course/view.php?id=2`, `course/…`, or a whole URL of the site) as a URL of
    the site; the home page for "". A URL elsewhere is a UsageError: the window would carry
    the session nowhere else anyway, and nothing but the site is what the command is for."""
    path = text(path, "the page (PATH)").strip()
    if "://" in path.split("?", 1)[0]:
        if not wwwroot.contains(path):
            raise UsageError(f"{path} is not a page of {wwwroot}: PATH must be on the site")
        return path
    return wwwroot.url(path)


def open_window(
    site: str,
    user: str,
    path: str = "",
    *,
    store: SessionStore | None = None,
    timeout: float = 30.0,
    browser: BrowserOptions | None = None,
    notify: Callable[[str], None] | None = None,
) -> str:
    """Show *path* of the site logged in as *user* until the person closes the window; the
    URL that was opened."""
    from ..logins.browser.launch import check_display
    from ..logins.browser.outcome import translate
    from ..logins.browser.runner import run_with_browser
    from ..network.browser_trust import browser_network
    from ..settings.reach import network_for
    from ..settings.targets import stored_session
    from .cookie_files import storage_state

    profile, session = stored_session(site, user, store or SessionStore())
    url = page_url(session.site, path)
    session.check_sendable()
    options = profile.browser.merged(browser or BrowserOptions())
    if not options.endpoint:
        check_display("harvest open")
    state = storage_state(session)  # the window has no use for the sesskey
    network = network_for(profile)

    async def show(running: Browser) -> str:
        from playwright.async_api import Error as PlaywrightError

        context = await running.new_context(
            storage_state=state,  # type: ignore[arg-type]
            no_viewport=True,
            **network.context_options(),
        )
        try:
            page = await context.new_page()
            try:
                # the page is the person's once its document is there; its scripts, images and
                # own ajax calls go on loading in front of them
                await page.goto(url, timeout=timeout * 1000, wait_until="domcontentloaded")
            except PlaywrightError as exc:
                if page.is_closed():  # closed by the person before it finished loading
                    return url
                raise translate(
                    exc, session.wwwroot, timeout, "harvest open", network=network
                ) from None
            if notify is not None:
                notify(f"Showing {url} as {session.user}; close the window to finish")
            while any(not p.is_closed() for p in context.pages):
                await asyncio.sleep(POLL_SECONDS)
            return url
        finally:
            with contextlib.suppress(PlaywrightError):
                await context.close()

    trust = browser_network([network], timeout)
    return run_with_browser(show, timeout, options, headless=False, network=trust)
