"""`harvest doctor`: which keyring, browser and paths are in use and why; are the sites up?"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .config import BrowserOptions, Config, SiteProfile
from .errors import HarvestError


@dataclass(frozen=True)
class Finding:
    topic: str
    ok: bool
    detail: str
    exit_code: int = 0


def keyring_finding() -> Finding:
    from . import keyring_access

    try:
        name = keyring_access.backend_name()
    except HarvestError as exc:
        return Finding("keyring", False, exc.message, exc.exit_code)
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
    from .config import Config, config_path, load_config

    path = config_path()
    why = "HARVEST_CONFIG" if os.environ.get("HARVEST_CONFIG") else "the user config dir"
    try:
        config = load_config(path)
    except HarvestError as exc:
        return Finding("config", False, exc.message, exc.exit_code), Config(path)
    if not config.exists:
        return Finding("config", True, f"{path} (from {why}; not created yet)"), config
    default = f", default {config.default_site}" if config.default_site else ""
    return (
        Finding("config", True, f"{path} (from {why}; {len(config.sites)} sites{default})"),
        config,
    )


def browser_finding(options: BrowserOptions | None = None, timeout: float = 10.0) -> Finding:
    from playwright.sync_api import sync_playwright

    from .browser import choose_browser

    if options is not None and options.endpoint:
        return _endpoint_finding(options.endpoint, timeout)
    try:
        with sync_playwright() as playwright:
            choice = choose_browser(playwright.chromium.executable_path, options)
    except HarvestError as exc:
        return Finding("browser", False, exc.message, exc.exit_code)
    return Finding("browser", True, choice.why)


def _endpoint_finding(endpoint: str, timeout: float) -> Finding:
    """A running browser: is something listening there (and, for CDP, which browser)?"""
    import socket
    from urllib.parse import urlsplit

    from .browser import choose_browser, is_cdp_endpoint

    why = choose_browser(None, BrowserOptions(endpoint=endpoint)).why
    parts = urlsplit(endpoint)
    default_port = 443 if parts.scheme in ("https", "wss") else 80
    try:
        with socket.create_connection((parts.hostname or "", parts.port or default_port), timeout):
            pass
    except OSError as exc:
        return Finding("browser", False, f"{why}: not reachable ({exc.strerror or exc})", 1)
    if is_cdp_endpoint(endpoint) and parts.scheme in ("http", "https"):
        import httpx

        try:
            version = httpx.get(f"{endpoint.rstrip('/')}/json/version", timeout=timeout).json()
            return Finding("browser", True, f"{why}, {version.get('Browser', 'unknown browser')}")
        except (httpx.HTTPError, ValueError):
            return Finding("browser", False, f"{why}: no DevTools answer at /json/version", 1)
    return Finding("browser", True, f"{why}, listening")


def site_findings(profiles: list[SiteProfile], timeout: float) -> list[Finding]:
    """A live look at each site's login page (plain HTTP, no browser)."""
    import httpx

    findings = []
    with httpx.Client(timeout=timeout, follow_redirects=True) as http:
        for profile in profiles:
            topic = f"{profile.alias} ({profile.wwwroot})" if profile.alias else profile.wwwroot
            try:
                page = http.get(profile.login_page)
            except httpx.HTTPError as exc:
                findings.append(Finding(topic, False, f"unreachable: {type(exc).__name__}", 5))
                continue
            if page.status_code == 503:
                retry = page.headers.get("retry-after")
                note = f"; retry after {retry} s" if retry else ""
                findings.append(Finding(topic, False, f"HTTP 503, maintenance{note}", 5))
                continue
            if not str(page.url).startswith(profile.wwwroot):
                where = f"{page.url.scheme}://{page.url.host}:{page.url.port}"
                how = "configured steps" if profile.steps else "no steps: use login --headed"
                findings.append(Finding(topic, True, f"single sign-on at {where} ({how})"))
                continue
            fields = [_id_of(profile.username_selector), _id_of(profile.password_selector)]
            form = all(f'id="{f}"' in page.text for f in fields if f)
            if page.status_code == 200 and form:
                findings.append(Finding(topic, True, "login page with the login form"))
            else:
                findings.append(
                    Finding(topic, False, f"HTTP {page.status_code}, no Totara login form", 7)
                )
    return findings


def _id_of(selector: str) -> str:
    """'#username' → 'username'; anything fancier is not checked without a browser."""
    return selector[1:] if selector.startswith("#") and selector[1:].isidentifier() else ""
