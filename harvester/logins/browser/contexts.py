"""Browser contexts for logins: lean ones that load only what a login needs, kept warm for the
next user, and full ones for pages that need everything.

A lean context runs no page script and fetches no sub-resource: only documents are loaded (the
login page, the redirects, the landing page), whatever their origin, so a single sign-on
redirect is still seen; stylesheets, images, fonts, scripts, media and the page's own XHRs are
aborted before they leave the browser. The cookie and the sesskey are in the documents (the
Set-Cookie of the login POST's answer, the inline `M.cfg` of the landing page), so a login
needs nothing else (docs/totara-protocol.md, "Page weight").

A warm context serves one login at a time and has its cookies cleared before the next user's;
with scripts off, nothing else in it can hold a user's state.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, Page, Route


async def _documents_only(route: Route) -> None:
    if route.request.resource_type == "document":
        await route.continue_()
    else:
        await route.abort("blockedbyclient")


# A warm context is closed after this many logins: its renderer's memory grows with every
# page it has shown (measured: 50 logins in one context peaked at 667 MiB; recycled every 16,
# 577 MiB in the same time; every 8, 552 MiB but 20 % slower).
RECYCLE_AFTER = 16


class ContextPool:
    """Pages to log in with, from one browser. `keep` holds lean contexts for reuse."""

    def __init__(self, browser: Callable[[], Awaitable[Browser]], *, keep: bool = False) -> None:
        self._browser = browser
        self.keep = keep
        # idle lean contexts by their options (a site's proxy and client certificate)
        self._idle: dict[str, list[tuple[BrowserContext, Page]]] = {}
        self._uses: dict[int, int] = {}

    async def browser(self) -> Browser:
        return await self._browser()

    @contextlib.asynccontextmanager
    async def page(
        self, *, lean: bool, timeout: float, options: dict[str, Any] | None = None
    ) -> AsyncIterator[Page]:
        """A fresh page in a context of its own (a warm lean one with the same *options* when
        there is one idle). *options*: the site's context options (Network.context_options)."""
        options = options or {}
        key = json.dumps(options, sort_keys=True)
        idle = self._idle.setdefault(key, [])
        if lean and idle:
            context, page = idle.pop()
        else:
            browser = await self._browser()
            context = await browser.new_context(java_script_enabled=not lean, **options)
            if lean:
                await context.route("**/*", _documents_only)
            page = await context.new_page()
        page.set_default_timeout(timeout * 1000)
        reuse = False
        uses = self._uses.pop(id(context), 0) + 1
        try:
            yield page
            reuse = lean and self.keep and not page.is_closed() and uses < RECYCLE_AFTER
        finally:
            if reuse:
                self._uses[id(context)] = uses
                await context.clear_cookies()  # the next user starts with none of this one's
                idle.append((context, page))
            else:
                await context.close()  # promptly: a context holds a renderer and its memory

    async def aclose(self) -> None:
        for idle in self._idle.values():
            while idle:
                context, _page = idle.pop()
                with contextlib.suppress(Exception):
                    await context.close()


def pool_of(browser: Browser | ContextPool, *, keep: bool = False) -> ContextPool:
    """A ContextPool for *browser* (keeping lean contexts for reuse with *keep*), or *browser*
    itself if it is one."""
    if isinstance(browser, ContextPool):
        return browser

    async def this() -> Browser:
        return browser

    return ContextPool(this, keep=keep)
