"""`harvest doctor`: which keyring, browser and paths are in use and why; are the sites up?"""

from __future__ import annotations

import os
from dataclasses import dataclass

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


def browser_finding() -> Finding:
    from playwright.sync_api import sync_playwright

    from .browser import choose_browser

    try:
        with sync_playwright() as playwright:
            choice = choose_browser(playwright.chromium.executable_path)
    except HarvestError as exc:
        return Finding("browser", False, exc.message, exc.exit_code)
    return Finding("browser", True, choice.why)


def site_findings(wwwroots: list[str], timeout: float) -> list[Finding]:
    """A live look at each site's login page (plain HTTP, no browser)."""
    import httpx

    from .site import login_url

    findings = []
    with httpx.Client(timeout=timeout, follow_redirects=True) as http:
        for wwwroot in wwwroots:
            try:
                page = http.get(login_url(wwwroot))
            except httpx.HTTPError as exc:
                findings.append(Finding(wwwroot, False, f"unreachable: {type(exc).__name__}", 5))
                continue
            form = 'id="login"' in page.text and 'id="username"' in page.text
            if page.status_code == 200 and form:
                findings.append(Finding(wwwroot, True, "login page with form#login"))
            else:
                findings.append(
                    Finding(wwwroot, False, f"HTTP {page.status_code}, no Totara login form", 7)
                )
    return findings
