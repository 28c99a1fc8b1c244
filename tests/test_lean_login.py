"""Lean browser logins on pages as heavy as Totara's (issue 13): the bundled site carries a real
page's weight, an unattended login loads none of it, and a login that needs scripts still works."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from harvester.devsite import DevSite
from harvester.devsite.faults import Faults
from harvester.devsite.weight import ASSET_PREFIXES
from harvester.logins.browser.launch import choose_browser

from .conftest import ALICE_PASSWORD, BROWSER_ARGS, HarvestRunner, OwnPlaywright

# what the CLI's own browser loads and starts
pytestmark = pytest.mark.own_browser


def requests_to(site: DevSite, *prefixes: str) -> list[str]:
    """Request lines of the access log whose path starts with one of *prefixes*."""
    found = []
    for line in site.access_log:
        method_path = line.split('"')[1]
        path = method_path.split(" ")[1]
        if path.startswith(tuple(site.path + p for p in prefixes)):
            found.append(method_path)
    return found


def login_page_loads(site: DevSite) -> int:
    """GETs of the login page itself (not its ?testsession= redirect)."""
    return sum(f'"GET {site.path}/login/index.php HTTP' in line for line in site.access_log)


def test_a_full_page_load_carries_a_real_totara_pages_weight(
    make_totara_site: Callable[..., DevSite],
) -> None:
    site = make_totara_site({"alice": ALICE_PASSWORD})
    with OwnPlaywright() as playwright:
        # the browser harvester itself would choose (Playwright's own, else the system's)
        choice = choose_browser(playwright.chromium.executable_path)
        browser = playwright.chromium.launch(
            executable_path=choice.executable, args=[BROWSER_ARGS.replace('"', "")]
        )
        page = browser.new_page()
        page.goto(f"{site.url}/login/index.php", wait_until="load")
        login_assets = requests_to(site, *ASSET_PREFIXES)
        page.fill("#username", "alice")
        page.fill("#password", ALICE_PASSWORD)
        with page.expect_navigation(wait_until="load"):
            page.click("#loginbtn")
        page.wait_for_function("window.tui_ready !== undefined")  # the bundle ran
        deadline = time.monotonic() + 30  # the page's own ajax call: waited for, not timed
        while site.count("POST", "/totara/webapi/ajax.php") < 1 and time.monotonic() < deadline:
            page.wait_for_timeout(50)
        browser.close()
    scripts = [r for r in login_assets if "/lib/javascript.php/" in r]
    sheets = [r for r in login_assets if "/theme/styles.php/" in r]
    images = [r for r in login_assets if "/theme/image.php/" in r]
    fonts = [r for r in login_assets if "/theme/font.php/" in r]
    assert (len(scripts), len(sheets), len(images)) == (17, 5, 2), login_assets
    assert fonts, login_assets
    everything = requests_to(site, *ASSET_PREFIXES)
    landing_scripts = [r for r in everything if "/lib/javascript.php/" in r]
    # the dashboard's 22 scripts: the login page's 17 come from the cache, its 5 own are new
    assert len(landing_scripts) - len(scripts) == 5
    assert any("tui_bundle" in r for r in everything)
    assert site.count("POST", "/totara/webapi/ajax.php") == 1  # the page's own string fetch


def test_an_unattended_login_loads_only_documents(
    make_totara_site: Callable[..., DevSite], harvest: HarvestRunner
) -> None:
    site = make_totara_site({"alice": ALICE_PASSWORD})
    result = harvest.login(site.url)
    assert result.code == 0, result.err
    assert requests_to(site, *ASSET_PREFIXES) == []  # no stylesheet, script, image or font
    assert site.count("POST", "/totara/webapi/ajax.php") == 1  # harvester's check, not the page's
    answer = harvest("request", "totara_webapi_status", "-u", "alice", "--site", site.url)
    assert answer.code == 0, answer.err


def test_a_form_written_by_a_script_falls_back_to_a_full_page(
    make_totara_site: Callable[..., DevSite], harvest: HarvestRunner
) -> None:
    site = make_totara_site({"alice": ALICE_PASSWORD}, faults=Faults(form_by_script=True))
    result = harvest.login(site.url, HARVEST_DEBUG="1")
    assert result.code == 0, result.err
    assert "again on a full page" in result.err
    assert login_page_loads(site) == 2  # the lean look, then the full page
    assert site.count("POST", "/login/index.php") == 1


def test_login_needs_scripts_goes_straight_to_a_full_page(
    make_totara_site: Callable[..., DevSite], harvest: HarvestRunner
) -> None:
    site = make_totara_site({"alice": ALICE_PASSWORD}, faults=Faults(form_by_script=True))
    added = harvest("site", "add", "themed", "--url", site.url, "--login-needs-scripts")
    assert added.code == 0, added.err
    result = harvest.login("themed", HARVEST_DEBUG="1")
    assert result.code == 0, result.err
    assert "again on a full page" not in result.err
    assert login_page_loads(site) == 1
    assert requests_to(site, "/lib/javascript.php/")  # a full page: its scripts ran
