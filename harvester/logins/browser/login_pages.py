"""Driving Totara's pages in a browser: the login form, configured identity-provider steps,
a person logging in by hand (--headed), and what the page a login ends on means.

Whether a page shows a logged-in user is decided by login_state.py, the same rule the plain-HTTP
verification uses. Nothing here stores anything: logins/flow.py verifies and stores.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from ...errors import (
    LoginFlowError,
    LoginRefused,
    one_line,
)
from ...settings.config import SiteProfile
from ...site.http import maintenance
from ...site.login_state import PAGE_PROBE, PageState, required_action
from ...site.wwwroot import origin, without_query
from .contexts import ContextPool, pool_of
from .outcome import CapturedLogin, login_ended, read_outcome, translate

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, Page

    from ...network.reach import Network

log = logging.getLogger(__name__)
WINDOW_CLOSED = "the browser window was closed before the login finished; nothing was stored"
# One round trip: every call into the browser costs milliseconds on a busy machine. The form's
# target is resolved by the browser (form.action is absolute); a submit button may override it
# (formaction). Given a user and a secret (a lean page: it runs no script of its own, so nothing
# listens to keystrokes), it also sets the fields and submits the form natively, which is what
# typing and clicking would do, but only a form that posts to *origin*.
FORM_PROBE = """([username, password, button, user, secret, origin]) => {
    const name = document.querySelector(username);
    const field = document.querySelector(password);
    const submit = document.querySelector(button);
    const form = field && field.form;
    let target = form ? form.action : null;
    if (submit && form && submit.form === form && submit.hasAttribute('formaction')) {
        target = submit.formAction;
    }
    const found = {username: !!name, password: !!field, button: !!submit, action: target,
                   submitted: false};
    if (user === null || !name || !form || name.form !== form || !target
        || new URL(target).origin !== origin) {
        return found;
    }
    name.value = user;
    field.value = secret;
    if (submit && submit.form === form && submit.type === 'submit') form.requestSubmit(submit);
    else form.requestSubmit();
    found.submitted = true;
    return found;
}"""
ERROR_PROBE = """(selector) => {
    const found = document.querySelector(selector);
    return found && found.offsetParent !== null ? found.innerText : null;
}"""


async def login_with_password(
    browser: Browser | ContextPool,
    profile: SiteProfile,
    user: str,
    password: str,
    *,
    timeout: float,
    network: Network | None = None,
) -> CapturedLogin:
    """Log in unattended in a context of its own: the site's form, or the profile's configured
    steps (an identity provider's forms, on full pages); return cookie and sesskey.

    The form login runs lean (contexts.py: documents only, no page script) unless the profile
    says its login needs scripts; when the lean page does not show the flow harvester knows
    (no form, say: a theme that writes it with JavaScript), it tries once more on a full page.
    *network*: the site's proxy and client certificate for the context.
    """
    pool = pool_of(browser)
    if profile.steps:
        return await _attempt(pool, profile, user, password, timeout, network, lean=False)
    if not profile.login_needs_scripts:
        try:
            return await _attempt(pool, profile, user, password, timeout, network, lean=True)
        except LoginFlowError as exc:
            log.debug("the lean login did not recognise the flow (%s); again on a full page", exc)
    return await _attempt(pool, profile, user, password, timeout, network, lean=False)


async def _attempt(
    pool: ContextPool,
    profile: SiteProfile,
    user: str,
    password: str,
    timeout: float,
    network: Network | None,
    *,
    lean: bool,
) -> CapturedLogin:
    from playwright.async_api import Error as PlaywrightError

    options = network.context_options() if network is not None else None
    async with pool.page(lean=lean, timeout=timeout, options=options) as page:
        try:
            if profile.steps:
                await _goto(page, profile.login_page)
                await _run_steps(page, profile, user, password, timeout, network)
                deadline = time.monotonic() + timeout
                return await _await_logged_in(
                    page.context, profile, user, deadline, unattended=True
                )
            await _goto_login_page(page, profile)
            selectors = [
                profile.username_selector,
                profile.password_selector,
                profile.submit_selector,
            ]
            credentials = [user, password] if lean else [None, None]
            async with page.expect_navigation(wait_until="domcontentloaded"):
                # lean: look at the form and, when it posts to the site, submit it, in one
                # round trip; a problem raised here ends the wait for a navigation at once
                found = await page.evaluate(
                    FORM_PROBE,
                    [*selectors, *credentials, str(profile.wwwroot.origin)],
                )
                button = _check_form(found, page.url, profile)
                if not found.get("submitted"):  # a person's way: type, then click or Enter
                    await page.fill(profile.username_selector, user)
                    await page.fill(profile.password_selector, password)
                    if button:
                        await page.click(profile.submit_selector, no_wait_after=True)
                    else:
                        await page.press(profile.password_selector, "Enter", no_wait_after=True)
            state = PageState.from_probe(await page.evaluate(PAGE_PROBE, profile.error_selector))
            cookies = await page.context.cookies(profile.wwwroot.cookie_url)
            return read_outcome(page.url, state, cookies, profile, user)
        except PlaywrightError as exc:
            raise translate(exc, profile.wwwroot, timeout, network=network) from None


async def capture_headed(
    browser: Browser | ContextPool,
    profile: SiteProfile,
    user: str,
    *,
    timeout: float,
    wait: float,
    notify: Callable[[str], None],
    network: Network | None = None,
) -> CapturedLogin:
    """Open the login page in a visible window and wait while a person logs in (SSO, MFA,
    anything); capture once a page of the site shows a logged-in user with the cookie and
    M.cfg.sesskey. Closing the window aborts."""
    from playwright.async_api import Error as PlaywrightError

    if isinstance(browser, ContextPool):
        browser = await browser.browser()
    options = network.context_options() if network is not None else {}
    context = await browser.new_context(no_viewport=True, **options)
    try:
        page = await context.new_page()
        page.set_default_timeout(timeout * 1000)
        await _goto(page, profile.login_page)
        notify(
            f"Log in as {user} in the browser window (single sign-on, MFA: whatever the site "
            f"asks). Waiting up to {wait:g} s; close the window to cancel."
        )
        deadline = time.monotonic() + wait
        return await _await_logged_in(
            context, profile, user, deadline, unattended=False, notify=notify
        )
    except PlaywrightError as exc:
        # Whatever was under way (the first page, a navigation, reading the cookies) when the
        # person closed the window fails with the browser's words; say what the person did.
        if await closed_soon(context):
            raise LoginFlowError(WINDOW_CLOSED) from None
        raise translate(exc, profile.wwwroot, timeout, network=network) from None
    finally:
        with contextlib.suppress(Exception):  # the person may have closed it already
            await context.close()


def window_closed(context: BrowserContext) -> bool:
    """Whether the person closed every window (page) of *context*, or the context is gone."""
    return all(page.is_closed() for page in context.pages)


async def closed_soon(context: BrowserContext, within: float = 2.0) -> bool:
    """window_closed, allowing for the order of the browser's news: a navigation that the
    closing aborted (net::ERR_ABORTED, "frame was detached") can be reported before the
    page's close event arrives."""
    deadline = time.monotonic() + within
    while not window_closed(context):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def _goto(page: Page, url: str) -> None:
    response = await page.goto(url, wait_until="domcontentloaded")
    if response is not None:
        down = maintenance(response.status, response.headers, url)
        if down is not None:
            raise down


async def _run_steps(
    page: Page,
    profile: SiteProfile,
    user: str,
    password: str,
    timeout: float,
    network: Network | None,
) -> None:
    from playwright.async_api import Error as PlaywrightError
    from playwright.async_api import Request
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    failed: list[str] = []  # pages that did not load: "net::ERR_… at URL"
    gone = asyncio.Event()

    def note(request: Request) -> None:
        # not ERR_ABORTED: that is a navigation another one replaced, not a page that failed
        why = str(request.failure or "")
        main = request.resource_type == "document" and request.frame == page.main_frame
        if main and "ERR_ABORTED" not in why:
            failed.append(f"{why} at {without_query(request.url)}")
            gone.set()

    def not_loaded() -> Exception:
        # a step went to a page that did not load (an identity provider that is down, or whose
        # certificate fails): said now, not after the next step's wait for its selector
        return translate(Exception(failed[-1]), profile.wwwroot, timeout, network=network)

    page.on("requestfailed", note)
    for number, step in enumerate(profile.steps, 1):
        value = step.value.replace("{username}", user).replace("{password}", password)
        action: Coroutine[Any, Any, object]
        if step.action == "click":
            action = page.click(step.selector)
        elif step.action == "fill":
            action = page.fill(step.selector, value)
        elif step.action == "press":
            action = page.press(step.selector, value)
        elif step.action == "wait_for":
            action = page.wait_for_selector(step.selector)
        else:
            action = page.wait_for_url(step.selector)
        job = asyncio.ensure_future(action)
        watch = asyncio.ensure_future(gone.wait())
        try:
            await asyncio.wait({job, watch}, return_when=asyncio.FIRST_COMPLETED)
            if not job.done():  # the page it waits on did not load
                job.cancel()
                with contextlib.suppress(BaseException):
                    await job
                raise not_loaded()
            job.result()
        except PlaywrightError as exc:
            refused = await _error_text(page, profile.error_selector)
            if refused:
                raise LoginRefused(f"the login for {user} was refused: {refused}") from None
            if not isinstance(exc, PlaywrightTimeout):
                raise
            if failed and page.url.startswith("chrome-error:"):
                raise not_loaded() from None
            raise LoginFlowError(
                f"login step {number} ({step.describe()}) found nothing to act on at "
                f"{without_query(page.url)}: check the site's steps in the config"
            ) from None
        finally:
            watch.cancel()


async def _error_text(page: Page, selector: str) -> str:
    """The visible text of the profile's error element, if one shows."""
    from playwright.async_api import Error as PlaywrightError

    try:
        found = await page.evaluate(ERROR_PROBE, selector)
    except PlaywrightError:
        return ""
    return one_line(found or "")


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
            raise LoginFlowError(WINDOW_CLOSED)
        for page in pages:
            url = page.url
            try:
                if profile.wwwroot.contains(url):
                    probe = await page.evaluate(PAGE_PROBE, profile.error_selector)
                    state = PageState.from_probe(probe)
                    if not unattended and (
                        state.error is not None or required_action(url, profile.wwwroot)
                    ):
                        if notify is not None and url != told:
                            told = url  # the person can retry, or finish the page, right there
                            notify(f"The site shows {without_query(url)}: finish it in the window.")
                        continue
                    if state.ready and login_ended(state, url, profile):
                        cookies = await context.cookies(profile.wwwroot.cookie_url)
                        return read_outcome(url, state, cookies, profile, user)
                elif unattended:
                    refused = await _error_text(page, profile.error_selector)
                    if refused:
                        raise LoginRefused(f"the identity provider refused {user}: {refused}")
            except PlaywrightError:
                continue  # the page is navigating; look again
        now = time.monotonic()
        if now > deadline:
            where = without_query(pages[-1].url)
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


async def _goto_login_page(page: Page, profile: SiteProfile) -> None:
    """Open the login page; a redirect to another origin is single sign-on."""
    await _goto(page, profile.login_page)
    if not profile.wwwroot.contains(page.url):
        raise LoginFlowError(
            f"the login page sent the browser to {without_query(page.url)} (single sign-on): "
            "log in with --headed, or configure the identity provider's steps "
            "(harvest site add ALIAS --url URL --step …)"
        )


def _check_form(found: dict[str, Any], url: str, profile: SiteProfile) -> bool:
    """Check what a form probe found: the fields are there and the form posts to the site's own
    origin (else nothing is typed). True when there is a submit button to click."""
    if not (found["username"] and found["password"]):
        raise LoginFlowError(
            f"{without_query(url)} is not a Totara login page (no "
            f"{profile.username_selector} and {profile.password_selector} fields): check the "
            "site URL, or the selectors in the site config"
        )
    target = found.get("action")
    if target and origin(str(target)) != profile.wwwroot.origin:
        # An injected or broken theme: the password would leave the site. Nothing is typed.
        where = origin(str(target))
        shown = str(where) if where else repr(str(target)[:80])
        raise LoginFlowError(
            f"the login form of {without_query(url)} posts to another origin ({shown}); "
            "harvester types the password only into a form that posts to the site itself"
        )
    return bool(found["button"])
