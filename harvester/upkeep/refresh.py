"""Keep sessions fresh: verify each, log in again (with the saved password) where it died.

Many users share one browser, one context each, at most `concurrency` logins at a time. Each
(site, user) is renewed under a cross-process file lock, and the stored session is re-read
once the lock is held: when several processes find the same session expired at once, one logs
in and the others find its result.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..errors import HarvestError, NoSession, SiteTrouble, UsageError, first_line
from ..logins.browser.runner import LazyBrowser, run_with_lazy_browser
from ..logins.flow import sign_in
from ..logins.verify import check_session
from ..network.browser_trust import browser_network
from ..redact import redact
from ..settings.config import BrowserOptions, Config, load_config
from ..settings.reach import network_for
from ..settings.targets import Target
from ..site.http import CredentialClients
from ..site.wwwroot import Wwwroot
from ..store.session import Session
from ..store.sessions import SessionStore

ALIVE, REFRESHED, FAILED, REMOVED = "alive", "refreshed", "failed", "removed"
MINIMUM_REFRESH_EVERY = 10.0  # refresh --every: more often only hammers the site
log = logging.getLogger(__name__)


def default_concurrency() -> int:
    """One login per two cores, at most 8. Logins are CPU-bound in the browser: on 2 cores,
    50 re-logins took 72 s one at a time and 88 s four at a time (scripts/bench)."""
    return max(1, min(8, (os.cpu_count() or 1) // 2))


@dataclass
class RefreshResult:
    """What became of one session in a round. A failure keeps its typed error."""

    wwwroot: str
    user: str
    outcome: str  # alive, refreshed, failed, or removed (logged out while the round ran)
    detail: str
    session: Session | None = field(default=None, repr=False)
    error: HarvestError | None = None

    @property
    def ok(self) -> bool:
        return self.outcome != FAILED

    @property
    def exit_code(self) -> int:
        return 0 if self.error is None else self.error.exit_code


def round_exit_code(results: Sequence[RefreshResult]) -> int:
    """0 when every session is alive at the end; else the failures' exit code (1 when they
    differ)."""
    codes = {r.exit_code for r in results if not r.ok}
    if not codes:
        return 0
    return codes.pop() if len(codes) == 1 else 1


class RoundFailed(HarvestError):
    """Some sessions of a refresh round could not be kept alive (each said on its own line);
    the exit code is theirs when they agree, else 1."""

    def __init__(self, results: Sequence[RefreshResult]) -> None:
        failed = [r for r in results if not r.ok]
        first = failed[0]
        more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
        super().__init__(
            f"{len(failed)} of {len(results)} sessions failed: {first.user} at {first.wwwroot}: "
            f"{first.detail}{more}"
        )
        self.exit_code = round_exit_code(results)


def check_round(results: Sequence[RefreshResult]) -> None:
    """RoundFailed unless every session of the round is alive at its end."""
    if any(not r.ok for r in results):
        raise RoundFailed(results)


def refresh_sessions(
    store: SessionStore,
    targets: list[Target],
    *,
    concurrency: int | None = None,
    timeout: float = 30.0,
    on_result: Callable[[RefreshResult], None] | None = None,
    config: Config | None = None,
    browser: BrowserOptions | None = None,
    relogin: bool = True,
    use_agent: bool = True,
) -> list[RefreshResult]:
    """Verify every target; log the dead ones in again, each the way its site is configured
    (form or identity-provider steps). One failure never stops the others.

    The shared browser is *browser* over the sites' configured one (when they agree). With
    *relogin* False, dead sessions are only reported (a live one another process stored since
    is still picked up). The logins go through a running agent (*use_agent*, unless
    HARVEST_AGENT=0) when no browser was chosen here; the shared browser starts only when one
    of them cannot."""
    limit = concurrency or default_concurrency()
    if limit < 1:
        raise UsageError("--concurrency must be at least 1")
    config = config or load_config()
    configured = {config.for_wwwroot(t.wwwroot).browser for t in targets}
    base = configured.pop() if len(configured) == 1 else BrowserOptions()
    options = base.merged(browser or BrowserOptions())
    use_agent = use_agent and browser in (None, BrowserOptions())

    # What had a session when the round began: one gone by the time its lock is held was logged
    # out meanwhile, and is not logged in again behind the user's back.
    listed = {(e.wwwroot, e.user) for e in store.entries() if e.cookie_name}
    # one browser for every site: it trusts the CAs each of them needs (browser_trust.py)
    networks = {network_for(config.for_wwwroot(t.wwwroot)) for t in targets}

    async def work(browsers: LazyBrowser) -> list[RefreshResult]:
        slots = asyncio.Semaphore(limit)
        with CredentialClients(timeout) as http:  # one connection pool per way of reaching

            async def one(target: Target) -> RefreshResult:
                result = await _refresh_one(
                    store,
                    config,
                    target,
                    browsers,
                    slots,
                    http,
                    timeout,
                    relogin=relogin,
                    was_listed=(target.wwwroot, target.user) in listed,
                    use_agent=use_agent,
                )
                if on_result is not None:
                    on_result(result)
                return result

            return list(await asyncio.gather(*(one(t) for t in targets)))

    return run_with_lazy_browser(
        work, timeout, options, network=lambda: browser_network(networks, timeout)
    )


async def _refresh_one(
    store: SessionStore,
    config: Config,
    target: Target,
    browsers: LazyBrowser,
    slots: asyncio.Semaphore,
    http: CredentialClients,
    timeout: float,
    *,
    relogin: bool,
    was_listed: bool = False,
    use_agent: bool = True,
) -> RefreshResult:
    wwwroot, user = target.wwwroot, target.user

    def failed(exc: HarvestError) -> RefreshResult:
        return RefreshResult(wwwroot, user, FAILED, exc.message, error=exc)

    from filelock import Timeout

    lock = store.lock(wwwroot, user)
    try:
        await asyncio.to_thread(lock.acquire)
    except Timeout:
        return failed(
            HarvestError(f"another harvester process held {user}'s lock for {lock.timeout:g} s")
        )
    try:
        damaged = False
        try:
            session = await asyncio.to_thread(store.load, wwwroot, user)
        except NoSession:
            session, damaged = None, True  # a damaged entry is replaced by a fresh login
        if session is None and was_listed and not damaged:
            return RefreshResult(
                wwwroot, user, REMOVED, "logged out while this round ran; not logging in again"
            )
        profile = config.for_wwwroot(wwwroot)
        network = network_for(profile)
        client = http(network)
        if session is not None:
            check = await asyncio.to_thread(check_session, session, timeout=timeout, http=client)
            if check.valid:  # the check itself is a request: it also keeps the session alive
                verified = session.verified()
                await asyncio.to_thread(store.save, verified)
                return RefreshResult(wwwroot, user, ALIVE, "still logged in", verified)
            why = check.reason
        else:
            why = "no stored session"
        if not relogin:
            raise NoSession(f"{why}; not logging in again (this process already did once)")
        password = await asyncio.to_thread(store.load_password, wwwroot, user)
        if not password:
            raise NoSession(
                f"{why}, and no saved password: run harvest login --user {user} "
                f"--site {wwwroot} --save-password (or --headed for single sign-on)"
            )
        async with slots:
            fresh = await sign_in(
                browsers.pool,
                profile,
                user,
                password,
                timeout=timeout,
                http=client,
                network=network,
                use_agent=use_agent,
            )
        await asyncio.to_thread(store.save, fresh)
        return RefreshResult(wwwroot, user, REFRESHED, f"logged in again ({why})", fresh)
    except HarvestError as exc:
        return failed(exc)
    except Exception as exc:  # one user's surprise must not take the others down
        return failed(HarvestError(redact(f"unexpected {type(exc).__name__}: {first_line(exc)}")))
    finally:
        lock.release()


def _refresh_single(
    store: SessionStore,
    wwwroot: Wwwroot,
    user: str,
    timeout: float,
    config: Config | None,
    relogin: bool,
) -> RefreshResult:
    [result] = refresh_sessions(
        store,
        [Target(wwwroot, user)],
        concurrency=1,
        timeout=timeout,
        config=config,
        relogin=relogin,
    )
    if result.session is None:
        raise result.error or NoSession(result.detail)  # removed: logged out meanwhile
    return result


def refresh_hook(
    store: SessionStore, timeout: float = 30.0, *, login_every: float | None = None
) -> Callable[[Session], Session | None]:
    """For TotaraClient(on_expired=…): renew an expired session when a saved password allows
    it; None (so the SessionExpired stands) when no password was saved or the login failed.

    Renewal happens under the (site, user) lock, so of many processes that find the session
    dead at once, one logs in and the others pick its session up. A process logs in at most
    once: if the session dies again after that, it only adopts one renewed by another. A
    long-running one (harvest proxy) passes *login_every*: it may log in again once that many
    seconds have passed since its last login."""
    last_login: float | None = None

    def renew(expired: Session) -> Session | None:
        nonlocal last_login
        if not store.load_password(expired.wwwroot, expired.user):
            return None
        now = time.monotonic()
        allowed = last_login is None or (
            login_every is not None and now - last_login >= login_every
        )
        result = _refresh_single(store, expired.site, expired.user, timeout, None, relogin=allowed)
        if result.outcome == REFRESHED:
            last_login = now
            log.debug("logged %s in again at %s", expired.user, expired.wwwroot)
        return result.session

    return renew


# -- --every ------------------------------------------------------------------------------------
def repeat(
    interval: float,
    run_round: Callable[[], list[RefreshResult]],
    stop: threading.Event,
    wake: threading.Event,
    *,
    jitter: float = 0.1,
    max_backoff: int = 8,
) -> None:
    """Run rounds until *stop* is set, between rounds only. Each wait is the interval ± jitter;
    while a site is unreachable the wait doubles, up to max_backoff times the interval. Setting
    *wake* (harvest refresh --every: SIGUSR1) ends the wait at once: the next round starts now,
    and a wake during a round starts one more round right after it. Whoever sets *stop* sets
    *wake* too, so that a wait ends for the stop."""
    backoff = 1
    while not stop.is_set():
        wake.clear()
        results = run_round()
        if stop.is_set():  # a stop during the round ends it here, whatever the wake did
            return
        unreachable = any(r.exit_code == SiteTrouble.exit_code for r in results)
        backoff = min(backoff * 2, max_backoff) if unreachable else 1
        wait = interval * backoff * (1 + random.uniform(-jitter, jitter))
        wake.wait(wait)
