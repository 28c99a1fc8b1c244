"""The login flow: browser → captured session → verified → stored. No printing here."""

from __future__ import annotations

import asyncio
import sys
import time
from typing import TYPE_CHECKING, TextIO

from . import redact
from .browser import login_with_password, run_with_browser
from .errors import LoginRefused, UsageError
from .session import Session
from .site import DEFAULT_COOKIE_PREFIX, check_reachable
from .store import SessionStore
from .verify import verify_session

if TYPE_CHECKING:
    import httpx
    from playwright.async_api import Browser

DEFAULT_TIMEOUT = 30.0


def login(
    wwwroot: str,
    user: str,
    password: str,
    *,
    store: SessionStore | None = None,
    save_password: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
    cookie_prefix: str = DEFAULT_COOKIE_PREFIX,
) -> Session:
    """Log *user* in to *wwwroot* through headless Chromium, verify, store and return the session.

    Nothing is written unless the whole login and its verification succeed, so a failed login
    never replaces a working stored session.
    """
    if not user:
        raise UsageError("no user given: pass --user NAME")
    if not password:
        raise UsageError("the password is empty")
    redact.register(password)
    store = store or SessionStore()
    store.check_available()  # fail before a browser starts, not after a login
    check_reachable(wwwroot, timeout)

    async def work(browser: Browser) -> Session:
        return await sign_in(
            browser, wwwroot, user, password, timeout=timeout, cookie_prefix=cookie_prefix
        )

    session = run_with_browser(work, timeout)
    store.save(session)
    if save_password:
        store.save_password(wwwroot, user, password)
    return session


async def sign_in(
    browser: Browser,
    wwwroot: str,
    user: str,
    password: str,
    *,
    timeout: float,
    http: httpx.Client | None = None,
    cookie_prefix: str = DEFAULT_COOKIE_PREFIX,
) -> Session:
    """One login in a context of *browser*, verified outside it; the session is not stored.
    Shared by `login` and `refresh`."""
    redact.register(password)
    started = time.time()
    captured = await login_with_password(
        browser, wwwroot, user, password, timeout=timeout, cookie_prefix=cookie_prefix
    )
    redact.register(captured.cookie_value, captured.sesskey)
    session = captured.session(wwwroot, user, obtained_at=started)
    return await asyncio.to_thread(verify_session, session, captured.landing_url, timeout, http)


def saved_password_refused(exc: LoginRefused, user: str) -> LoginRefused:
    return LoginRefused(
        f"{exc.message}; the saved password was used: replace it with "
        f"harvest login --user {user} --password-stdin --save-password"
    )


def read_password_line(stream: TextIO | None = None) -> str:
    """One line from stdin (the trailing newline removed), for --password-stdin."""
    line = (stream or sys.stdin).readline()
    password = line.removesuffix("\n").removesuffix("\r")
    if not password:
        raise UsageError("no password on standard input (--password-stdin reads one line)")
    return password
