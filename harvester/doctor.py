"""`harvest doctor`: which keyring, browser and paths are in use and why; are the sites up?"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import BrowserUnavailable, HarvestError, LoginFlowError, SiteTrouble, SiteUnreachable
from .settings.config import BrowserOptions, Config, SiteProfile
from .store.sessions import SessionStore

if TYPE_CHECKING:
    from .network.reach import Network


@dataclass(frozen=True)
class Finding:
    """One line of the report; a problem carries the exit code of the error class it is."""

    topic: str
    ok: bool
    detail: str
    exit_code: int = 0

    @classmethod
    def problem(cls, topic: str, error: HarvestError) -> Finding:
        return cls(topic, False, error.message, error.exit_code)

    @property
    def line(self) -> str:
        return f"{self.topic}: {'ok' if self.ok else 'PROBLEM'}: {self.detail}"


@dataclass(frozen=True)
class DoctorReport:
    state_line: str
    findings: list[Finding]

    @property
    def exit_code(self) -> int:
        """The first problem's exit code, or 0."""
        return next((f.exit_code for f in self.findings if not f.ok), 0)


def run_doctor(options: BrowserOptions | None = None, timeout: float = 10.0) -> DoctorReport:
    """`harvest doctor`: the keyring, browser, config and state in use and why, and a live look
    at every configured site and every site with a stored session."""
    store = SessionStore()
    found_config, config = config_finding()
    findings = [keyring_finding(), browser_finding(options, timeout), found_config]
    wwwroots = {p.wwwroot for p in config.sites.values()} | {e.wwwroot for e in store.entries()}
    findings += site_findings([config.for_wwwroot(w) for w in sorted(wwwroots)], timeout)
    state = f"state dir: {store.state_path} (index of stored sessions: {store.index_file})"
    return DoctorReport(state, findings)


def keyring_finding() -> Finding:
    from .store import keyring_access

    try:
        name = keyring_access.backend_name(fresh=True)  # keyring's choice now, not remembered
    except HarvestError as exc:
        return Finding.problem("keyring", exc)
    if os.environ.get("PYTHON_KEYRING_BACKEND"):
        why = "chosen by PYTHON_KEYRING_BACKEND"
    elif keyring_access.chosen_explicitly():
        why = "chosen in keyring's keyringrc.cfg"
    else:
        why = "keyring's automatic choice (set PYTHON_KEYRING_BACKEND to choose another)"
    return Finding("keyring", True, f"{name}, {why}")


def config_finding() -> tuple[Finding, Config]:
    """The config file in use and whether it reads; an unreadable one is reported, and the
    rest of the checks go on with no configured sites."""
    from .settings.config import Config, config_path, load_config

    path = config_path()
    why = "HARVEST_CONFIG" if os.environ.get("HARVEST_CONFIG") else "the user config dir"
    try:
        config = load_config(path)
    except HarvestError as exc:
        return Finding.problem("config", exc), Config(path)
    if not config.exists:
        return Finding("config", True, f"{path} (from {why}; not created yet)"), config
    default = f", default {config.default_site}" if config.default_site else ""
    return (
        Finding("config", True, f"{path} (from {why}; {len(config.sites)} sites{default})"),
        config,
    )


def browser_finding(options: BrowserOptions | None = None, timeout: float = 10.0) -> Finding:
    from playwright.sync_api import sync_playwright

    from .logins.browser.launch import choose_browser

    if options is not None and options.endpoint:
        return _endpoint_finding(options.endpoint, timeout)
    try:
        with sync_playwright() as playwright:
            choice = choose_browser(playwright.chromium.executable_path, options)
    except HarvestError as exc:
        return Finding.problem("browser", exc)
    return Finding("browser", True, choice.why)


def _endpoint_finding(endpoint: str, timeout: float) -> Finding:
    """A running browser: is something listening there (and, for CDP, which browser)?"""
    from .logins.browser.launch import choose_browser, is_cdp_endpoint
    from .site.http import tcp_probe
    from .site.wwwroot import origin

    why = choose_browser(None, BrowserOptions(endpoint=endpoint)).why
    where = origin(endpoint)
    try:
        if where is None:
            raise SiteUnreachable(f"{endpoint} is not an http(s):// or ws(s):// URL")
        tcp_probe(where.host, where.port, timeout, endpoint)
    except SiteTrouble as exc:
        return Finding.problem(
            "browser", BrowserUnavailable(f"{why}: not reachable ({exc.message})")
        )
    if is_cdp_endpoint(endpoint) and where.scheme in ("http", "https"):
        import httpx

        try:
            version = httpx.get(f"{endpoint.rstrip('/')}/json/version", timeout=timeout).json()
            return Finding("browser", True, f"{why}, {version.get('Browser', 'unknown browser')}")
        except (httpx.HTTPError, ValueError):
            error = BrowserUnavailable(f"{why}: no DevTools answer at /json/version")
            return Finding.problem("browser", error)
    return Finding("browser", True, f"{why}, listening")


def site_findings(profiles: list[SiteProfile], timeout: float) -> list[Finding]:
    """For each site: how it is reached (trust, proxy, client certificate, and why), a look
    through exactly that (probe: the proxy's tunnel, the TLS handshake), then its login page
    (plain HTTP, no browser)."""
    from .network.probe import probe
    from .settings.reach import network_for

    findings = []
    for profile in profiles:
        topic = f"{profile.alias} ({profile.wwwroot})" if profile.alias else profile.wwwroot
        try:
            network = network_for(profile)
        except HarvestError as exc:
            findings.append(Finding.problem(topic, exc))
            continue
        for what, how in network.describe():
            findings.append(Finding(f"{topic} {what}", True, how))
        try:
            probe(network, timeout)
        except SiteTrouble as exc:
            findings.append(Finding.problem(topic, exc))
            continue
        findings.append(_login_page_finding(topic, profile, network, timeout))
    return findings


def _login_page_finding(
    topic: str, profile: SiteProfile, network: Network, timeout: float
) -> Finding:
    import httpx

    from .site.http import exchange, maintenance
    from .site.wwwroot import origin

    # An insecure site's redirects are not followed: its setting never reaches another origin.
    follow = not network.trust.insecure
    with httpx.Client(timeout=timeout, follow_redirects=follow, **network.client_options()) as http:
        try:
            page = exchange(http, "GET", profile.login_page, timeout=timeout, where=profile.wwwroot)
        except SiteTrouble as exc:
            return Finding.problem(topic, exc)
    down = maintenance(page.status, page.headers, profile.login_page)
    if down is not None:
        return Finding.problem(topic, down)
    url = page.url
    if page.is_redirect:
        url = str(httpx.URL(page.url).join(page.headers["location"]))
    if not profile.wwwroot.contains(url):
        where = origin(url)
        shown = str(where) if where else url
        how = "configured steps" if profile.steps else "no steps: use login --headed"
        return Finding(topic, True, f"single sign-on at {shown} ({how})")
    fields = [_id_of(profile.username_selector), _id_of(profile.password_selector)]
    form = all(f'id="{f}"' in page.text for f in fields if f)
    if page.status == 200 and form:
        return Finding(topic, True, "login page with the login form")
    return Finding.problem(topic, LoginFlowError(f"HTTP {page.status}, no Totara login form"))


def _id_of(selector: str) -> str:
    """'#username' → 'username'; anything fancier is not checked without a browser."""
    return selector[1:] if selector.startswith("#") and selector[1:].isidentifier() else ""
