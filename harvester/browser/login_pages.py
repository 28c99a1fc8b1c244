"""Driving Totara's pages in a browser: the login form, configured identity-provider steps,
a person logging in by hand (--headed), and what the page a login ends on means.

Whether a page shows a logged-in user is decided by login_state.py, the same rule the plain-HTTP
verification uses. Nothing here stores anything: login_flow.py verifies and stores.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..config import SiteProfile
from ..errors import (
    LoginFlowError,
    LoginRefused,
    SiteUnreachable,
    UsageError,
    first_line,
    one_line,
)
from ..login_state import PAGE_PROBE, PageState, required_action
from ..session import Session, header_safe
from ..site_http import maintenance
from ..wwwroot import cookie_url, on_site, origin, same_origin, without_query

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, Page

INVALID_LOGIN = "Invalid login"
SESSION_ERROR = "server error that affects your login session"
# One round trip: every call into the browser costs milliseconds on a busy machine.
# The form's target is resolved by the browser (form.action is absolute); a submit button may
# override it (formaction).
FORM_PROBE = """([username, password, button]) => {
    const field = document.querySelector(password);
    const submit = document.querySelector(button);
    const form = field && field.form;
    let target = form ? form.action : null;
    if (submit && submit.form === form && submit.hasAttribute('formaction')) {
        target = submit.formAction;
    }
    return {
        username: !!document.querySelector(username),
        password: !!field,
        button: !!submit,
        action: target,
    };
}"""
ERROR_PROBE = """(selector) => {
    const found = document.querySelector(selector);
    return found && found.offsetParent !== null ? found.innerText : null;
}"""


@dataclass(frozen=True)
class CapturedLogin:
    """What the browser saw once the login finished. `cookies` are the candidate session
    cookies (name, value), most likely first; the site's answer decides which one is real
    (login_flow.sign_in), not the order: a stale or decoy cookie can match the name too."""

    cookies: tuple[tuple[str, str], ...] = field(repr=False)
    sesskey: str = field(repr=False)
    landing_url: str

    def sessions(self, wwwroot: str, user: str, obtained_at: float) -> list[Session]:
        return [
            Session(
                wwwroot=wwwroot,
                user=user,
                cookie_name=name,
                cookie_value=value,
                sesskey=self.sesskey,
                obtained_at=obtained_at,
            )
            for name, value in self.cookies
        ]


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
            state = PageState.from_probe(await page.evaluate(PAGE_PROBE, profile.error_selector))
            cookies = await context.cookies(cookie_url(profile.wwwroot))
            return _read_outcome(page.url, state, cookies, profile, user)
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
    if response is not None:
        down = maintenance(response.status, response.headers, url)
        if down is not None:
            raise down


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
                f"{without_query(page.url)}: check the site's steps in the config"
            ) from None


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
            raise LoginFlowError("the browser window was closed before the login finished")
        for page in pages:
            url = page.url
            try:
                if on_site(url, profile.wwwroot):
                    probe = await page.evaluate(PAGE_PROBE, profile.error_selector)
                    state = PageState.from_probe(probe)
                    if not unattended and (
                        state.error is not None or required_action(url, profile.wwwroot)
                    ):
                        if notify is not None and url != told:
                            told = url  # the person can retry, or finish the page, right there
                            notify(f"The site shows {without_query(url)}: finish it in the window.")
                        continue
                    if state.ready and _login_ended(state, url, profile):
                        cookies = await context.cookies(cookie_url(profile.wwwroot))
                        return _read_outcome(url, state, cookies, profile, user)
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


async def _open_login_page(page: Page, profile: SiteProfile) -> bool:
    """Open the login page; True when it has a submit button to click."""
    url = profile.login_page
    await _goto(page, url)
    if not on_site(page.url, profile.wwwroot):
        raise LoginFlowError(
            f"the login page sent the browser to {without_query(page.url)} (single sign-on): "
            "log in with --headed, or configure the identity provider's steps "
            "(harvest site add ALIAS --url URL --step …)"
        )
    found = await page.evaluate(
        FORM_PROBE,
        [profile.username_selector, profile.password_selector, profile.submit_selector],
    )
    if not (found["username"] and found["password"]):
        raise LoginFlowError(
            f"{without_query(page.url)} is not a Totara login page (no "
            f"{profile.username_selector} and {profile.password_selector} fields): check the "
            "site URL, or the selectors in the site config"
        )
    target = found.get("action")
    if target and not same_origin(str(target), profile.wwwroot):
        # An injected or broken theme: the password would leave the site. Nothing is typed.
        where = origin(str(target))
        shown = str(where) if where else repr(str(target)[:80])
        raise LoginFlowError(
            f"the login form of {without_query(page.url)} posts to another origin ({shown}); "
            "harvester types the password only into a form that posts to the site itself"
        )
    return bool(found["button"])


def _login_ended(state: PageState, url: str, profile: SiteProfile) -> bool:
    """A page of the site that ends a login: a logged-in page, or one with something to report
    (a login error, a required-action page). The login page before anyone acts is neither."""
    return (
        state.error is not None or bool(required_action(url, profile.wwwroot)) or (state.shows_user)
    )


def _read_outcome(
    landing: str,
    state: PageState,
    cookies: Sequence[Any],
    profile: SiteProfile,
    user: str,
) -> CapturedLogin:
    landing_shown = without_query(landing)
    if state.error is not None:
        text = state.error
        if SESSION_ERROR in text:
            raise LoginFlowError(
                f"the site rejected the login form itself ({text}); it may need a newer harvester"
            )
        raise LoginRefused(
            f"the site refused the login for {user}: {text or INVALID_LOGIN} "
            "(wrong password, unknown user or locked account)"
        )
    what = required_action(landing, profile.wwwroot)
    if what:
        raise LoginFlowError(
            f"{what} ({landing_shown}): log in once in a browser and finish that page, then "
            "retry; nothing was stored"
        )
    if state.not_logged_in:
        raise LoginFlowError(f"after the login form the page {landing_shown} still shows no user")
    session_cookies = [
        c
        for c in cookies
        if profile.cookie_matches(str(c.get("name", ""))) and header_safe(str(c.get("value", "")))
    ]
    if not session_cookies:
        raise LoginFlowError(
            f"the login finished on {landing_shown} but the site set no {profile.cookie_label} "
            "cookie"
        )
    # Several matches (a stale cookie of another suffix, a decoy): the most specific path
    # first, then the ones that change at login; the site's answer picks (login_flow.sign_in).
    ranked = sorted(session_cookies, key=lambda c: -len(str(c.get("path", ""))))
    sesskey = state.sesskey
    if not sesskey:
        raise LoginFlowError(f"the landing page {landing_shown} carries no M.cfg.sesskey")
    if not header_safe(sesskey):
        raise LoginFlowError(
            f"the landing page {landing_shown} carries a sesskey that is not plain ASCII "
            "(Totara's are 10 letters and digits): not a Totara page harvester can use"
        )
    candidates = tuple((str(c["name"]), str(c["value"])) for c in ranked)
    return CapturedLogin(candidates, sesskey, landing)


def _translate(exc: Exception, wwwroot: str, timeout: float) -> Exception:
    """A Playwright error during a login, as the error of ours that says what happened."""
    text = str(exc)
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
    return LoginFlowError(f"the browser failed during the login: {first_line(exc)}")
