"""The login flow: password → browser → captured session → verified → stored. No printing.

`login` is `harvest login` as a library function: it resolves the site and user, finds the
password (PasswordSource: stdin, the saved one, a prompt), logs in, verifies and stores.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

from .. import redact
from ..errors import (
    BrowserUnavailable,
    HarvestError,
    LoginFlowError,
    LoginRefused,
    SessionEndedAtOnce,
    UsageError,
)
from ..network.browser_trust import browser_network
from ..network.probe import probe
from ..settings.config import BrowserOptions, SiteProfile
from ..settings.reach import network_for
from ..settings.targets import resolve_target
from ..site.http import credential_client
from ..store.session import Session
from ..store.sessions import SessionStore
from .agent_link import agent_login, serves
from .agent_socket import Abandoned, AgentUnavailable, agent_wanted
from .browser.contexts import ContextPool
from .browser.login_pages import WINDOW_CLOSED, capture_headed, login_with_password
from .browser.outcome import CapturedLogin
from .browser.runner import BROWSER_LOST, LazyBrowser, run_with_lazy_browser
from .verify import verify_session

if TYPE_CHECKING:
    import httpx
    from playwright.async_api import Browser

    from ..network.reach import Network

log = logging.getLogger(__name__)
DEFAULT_TIMEOUT = 30.0
DEFAULT_WAIT = 300.0  # seconds a --headed login waits for the person
# A session the site ends before it is verified was most likely ended by something else (another
# login of the user where concurrent logins are limited, an administrator, a kill at random in
# tests/test_faults.py): an unattended login tries once more before it reports it.
ONCE_MORE = "the site ended the new session at once (require_login); logging in once more"


@dataclass(frozen=True)
class PasswordSource:
    """Where an unattended login's password comes from, in this order: one line of *stdin*
    (--password-stdin), else a password saved with --save-password, else *prompt* (a hidden
    prompt at a terminal; None where there is no terminal to ask at)."""

    stdin: TextIO | None = None
    prompt: Callable[[str], str] | None = None


# The browser part of a login done elsewhere (a running agent): (profile, user, password,
# timeout, network, abandon) -> what the browser saw; Abandoned once *abandon* is set.
Capture = Callable[
    [SiteProfile, str, str, float, "Network", "threading.Event | None"], CapturedLogin
]


def login(
    site: str | SiteProfile,
    user: str,
    password: str | PasswordSource | None,
    *,
    store: SessionStore | None = None,
    save_password: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
    headed: bool = False,
    wait: float = DEFAULT_WAIT,
    notify: Callable[[str], None] | None = None,
    browser: BrowserOptions | None = None,
    use_agent: bool = True,
) -> Session:
    """Log *user* in to *site* (a URL or alias, resolved through the config file, or a
    SiteProfile) through Chromium, verify, store and return the session. This is
    `harvest login`: *user* may be empty when the site has a default_user, and *password* a
    PasswordSource that says where to find it.

    Unattended (the default), the password fills the site's form or the profile's configured
    steps in a headless browser. With *headed*, a visible window opens at the login page and a
    person logs in (SSO, MFA); *password* is then not needed and *notify* hears what to do.
    Nothing is written unless the whole login and its verification succeed, so a failed login
    never replaces a working stored session. An unattended login goes through a running
    `harvest agent` unless *use_agent* is False (or HARVEST_AGENT=0): agent_link.py.
    """
    return login_with(
        site,
        user,
        password,
        store=store or SessionStore(),
        save_password=save_password,
        timeout=timeout,
        headed=headed,
        wait=wait,
        notify=notify,
        browser=browser,
        capture=agent_login if agent_wanted(use_agent) else None,
    )


def login_with(
    site: str | SiteProfile,
    user: str,
    password: str | PasswordSource | None,
    *,
    store: SessionStore,
    save_password: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
    headed: bool = False,
    wait: float = DEFAULT_WAIT,
    notify: Callable[[str], None] | None = None,
    browser: BrowserOptions | None = None,
    capture: Capture | None = None,
    own_browser: bool = True,
    before_store: Callable[[], None] = lambda: None,
) -> Session:
    """`login`, with the browser part done by *capture* when it may be (an unattended login
    that the agent serves, agent_link.serves), else in a browser of this process. The agent
    runs a whole `harvest login` with its own warm browser as *capture*, *own_browser* False
    (a login it cannot do that way is AgentUnavailable, for the caller to do itself) and
    *before_store* raising when the caller has gone away (nothing is stored then)."""
    profile, user = resolve_target(site, user, store, for_login=True)
    saved = False
    if isinstance(password, PasswordSource):
        password, saved = _password(password, store, profile.wwwroot, user, headed=headed)
    if not headed and not password:
        raise UsageError("the password is empty")
    if headed and save_password and not password:
        raise UsageError("--save-password needs the password: a --headed login never sees it")
    if password:
        redact.register(password)
    options = profile.browser.merged(browser or BrowserOptions())
    network = network_for(profile)
    leaves: dict[str, bytes] = {}
    if network.trust.insecure and network.tls:  # the browser is started with the site's pin
        leaves[network.origin] = probe(network, timeout) or b""

    checked = False

    def preflight() -> None:
        if checked:
            return
        store.check_available()  # fail on the keyring before a login, not after it
        if not leaves:  # the site, its proxy and its certificate, checked the way we trust
            probe(network, timeout)

    async def work(browsers: LazyBrowser) -> Session:
        # The browser starts while the keyring and the site are checked: they are independent,
        # and a failed check stops the start (the runner closes what was opened).
        checks = asyncio.ensure_future(asyncio.to_thread(preflight))
        starting = asyncio.ensure_future(browsers.get())
        try:
            await checks
        except BaseException:
            starting.cancel()
            with contextlib.suppress(BaseException):
                await starting
            raise
        await starting
        return await sign_in(
            browsers.pool,
            profile,
            user,
            password,
            timeout=timeout,
            headed=headed,
            wait=wait,
            notify=notify or (lambda _message: None),
            network=network,
        )

    why_not = "a --headed login" if headed else serves(profile, network, browser)
    try:
        if password and capture is not None and not why_not:
            # The checks run while the agent logs in (the keyring's first use is the slow part
            # of them); a failed check wins over the agent's answer, as it would over a
            # browser's ("nothing is listening" says more than ERR_CONNECTION_REFUSED).
            # A failed check stops the wait for the agent at once (its browser may wait out
            # the deadline on a page the check already explained).
            abandon = threading.Event()

            def checks_or_abandon() -> None:
                try:
                    preflight()
                except BaseException:
                    abandon.set()
                    raise

            with ThreadPoolExecutor(1, thread_name_prefix="harvester-preflight") as pool:
                # (in this context: what it logs is this login's, contextvars)
                checks = pool.submit(contextvars.copy_context().run, checks_or_abandon)
                try:
                    through_agent = _through_agent(
                        profile, user, password, timeout, network, capture, own_browser, abandon
                    )
                except Abandoned:
                    through_agent = None  # checks.result() raises what the check found
                finally:
                    checks.result()
            checked = True
            if through_agent is not None:
                before_store()
                return _stored(store, through_agent, profile, user, password, save_password)
        if not own_browser:
            raise AgentUnavailable(f"{why_not or 'no password'}: not through the agent")
        session = run_with_lazy_browser(
            work,
            timeout,
            options,
            headless=not headed,
            lost=(lambda: LoginFlowError(WINDOW_CLOSED)) if headed else _browser_lost,
            network=browser_network([network], timeout, leaves),
        )
    except LoginRefused as exc:
        raise _with_saved_hint(exc, user, saved) from None
    before_store()
    return _stored(store, session, profile, user, password, save_password)


def _stored(
    store: SessionStore,
    session: Session,
    profile: SiteProfile,
    user: str,
    password: str | None,
    save_password: bool,
) -> Session:
    store.save(session)
    if save_password and password:
        store.save_password(profile.wwwroot, user, password)
    return session


def _with_saved_hint(exc: LoginRefused, user: str, saved: bool) -> LoginRefused:
    if not saved:
        return exc
    return LoginRefused(
        f"{exc.message}; the saved password was used: replace it with "
        f"harvest login --user {user} --password-stdin --save-password"
    )


def _through_agent(
    profile: SiteProfile,
    user: str,
    password: str,
    timeout: float,
    network: Network,
    capture: Capture,
    fall_back: bool = True,
    abandon: threading.Event | None = None,
) -> Session | None:
    """The login done by *capture* (the running agent) and verified here; None when no agent
    can do it and *fall_back* (then a browser of our own does). The site's answers (a refused
    password, a site that cannot be reached) are raised as they are."""
    with credential_client(timeout, network=network) as http:
        for last in (False, True):  # a session the site ends at once: one more login
            started = time.time()
            if fall_back:
                captured = _agent_capture(
                    profile, user, password, timeout, network, capture, abandon
                )
            else:
                captured = capture(profile, user, password, timeout, network, abandon)
            if captured is None:
                return None
            try:
                return _verified(
                    captured.sessions_of(profile, user, started),
                    captured.landing_url,
                    timeout,
                    http,
                )
            except SessionEndedAtOnce:
                if last:
                    raise
                log.warning(ONCE_MORE)
    raise AssertionError("unreachable")


def _agent_capture(
    profile: SiteProfile,
    user: str,
    password: str,
    timeout: float,
    network: Network,
    capture: Capture = agent_login,
    abandon: threading.Event | None = None,
) -> CapturedLogin | None:
    """The browser part of the login, done by the running agent; None when no agent can do
    it (said, when it matters, by _fall_back). The site's own answers (a refused password)
    are raised as they are."""
    try:
        return capture(profile, user, password, timeout, network, abandon)
    except (AgentUnavailable, BrowserUnavailable) as exc:
        _fall_back(exc)
        return None


def _fall_back(exc: HarvestError) -> None:
    """Say why the agent did not log in, when it matters to the person: it went away, or it
    is another version (no agent running is the ordinary case, said only with --debug)."""
    if isinstance(exc, AgentUnavailable) and exc.message.startswith("no agent is running"):
        log.debug("agent: %s", exc.message)
    else:
        log.warning("%s; logging in with a browser of its own", exc.message)


async def sign_in(
    browser: Browser | ContextPool,
    profile: SiteProfile,
    user: str,
    password: str | None,
    *,
    timeout: float,
    http: httpx.Client | None = None,
    headed: bool = False,
    wait: float = DEFAULT_WAIT,
    notify: Callable[[str], None] | None = None,
    network: Network | None = None,
    use_agent: bool = False,
) -> Session:
    """One login in a context of *browser*, verified outside it; the session is not stored.
    Shared by `login` and `refresh`. *network*: how the site is reached (default: its own).
    With *use_agent*, an unattended login goes through a running agent when there is one;
    *browser* starts only when there is not."""
    network = network or network_for(profile)

    async def verified(captured: CapturedLogin, started: float) -> Session:
        candidates = captured.sessions_of(profile, user, started)
        if http is None:
            with credential_client(timeout, network=network) as own:
                return await asyncio.to_thread(
                    _verified, candidates, captured.landing_url, timeout, own
                )
        return await asyncio.to_thread(_verified, candidates, captured.landing_url, timeout, http)

    if headed:
        started = time.time()
        captured = await capture_headed(
            browser,
            profile,
            user,
            timeout=timeout,
            wait=wait,
            notify=notify or (lambda _message: None),
            network=network,
        )
        return await verified(captured, started)
    if not password:
        raise UsageError("the password is empty")
    redact.register(password)
    for last in (False, True):  # a session the site ends at once: one more login (ONCE_MORE)
        started = time.time()
        captured = await _captured(browser, profile, user, password, timeout, network, use_agent)
        try:
            return await verified(captured, started)
        except SessionEndedAtOnce:
            if last:
                raise
            log.warning(ONCE_MORE)
    raise AssertionError("unreachable")


async def _captured(
    browser: Browser | ContextPool,
    profile: SiteProfile,
    user: str,
    password: str,
    timeout: float,
    network: Network,
    use_agent: bool,
) -> CapturedLogin:
    if use_agent and agent_wanted() and not serves(profile, network, None):
        captured = await asyncio.to_thread(
            _agent_capture, profile, user, password, timeout, network
        )
        if captured is not None:
            return captured
    return await login_with_password(
        browser, profile, user, password, timeout=timeout, network=network
    )


def _browser_lost() -> Exception:
    from ..errors import BrowserUnavailable

    return BrowserUnavailable(BROWSER_LOST)


def _verified(
    candidates: list[Session], landing: str, timeout: float, http: httpx.Client | None
) -> Session:
    """The candidate session the site accepts (verify.py), verified. With one candidate, its
    own verdict; with several (a decoy or stale cookie matched the name too, or a page carried
    more than one sesskey), the first the site accepts, else the verdict on the most likely
    one."""
    first_error: LoginFlowError | None = None
    for session in candidates:
        try:
            return verify_session(session, landing, timeout, http)
        except LoginFlowError as exc:
            first_error = first_error or exc
    assert first_error is not None  # there is always at least one candidate
    raise first_error


def _password(
    source: PasswordSource, store: SessionStore, wwwroot: str, user: str, *, headed: bool
) -> tuple[str | None, bool]:
    """(password, whether it is the saved one). A --headed login needs none."""
    if source.stdin is not None:
        return read_password_line(source.stdin), False
    if headed:
        return None, False
    saved = store.load_password(wwwroot, user)
    if saved:
        return saved, True
    if source.prompt is None:
        raise UsageError("no password: pass --password-stdin and write it to standard input")
    password = source.prompt(f"Password for {user} at {wwwroot}: ")
    if not password:
        raise UsageError("the password is empty")
    return password, False


def read_password_line(stream: TextIO | None = None) -> str:
    """One line from stdin (the trailing newline removed), for --password-stdin."""
    line = (stream or sys.stdin).readline()
    password = line.removesuffix("\n").removesuffix("\r")
    if not password:
        raise UsageError("no password on standard input (--password-stdin reads one line)")
    return password
