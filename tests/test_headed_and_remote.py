"""Headed single sign-on under a virtual screen (the test plays the person), and logins on a
browser that someone else runs: over the Chrome DevTools Protocol, and a Playwright server."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import keyring
import pytest
from playwright.sync_api import Page, sync_playwright

from harvester.devsite import DevSite
from harvester.testing.private_keyring import stop_process

from .conftest import (
    ALICE_PASSWORD,
    BROWSER_ARGS,
    HarvestRunner,
    free_port,
    person_page,
    wait_for_port,
)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="no system Chromium")


@pytest.fixture
def sso_site(make_totara_site: Callable[..., DevSite]) -> DevSite:
    """A site whose login page sends everyone straight to its identity provider."""
    return make_totara_site({"alice": ALICE_PASSWORD}, idp="redirect", cookie_suffix="sso")


def headed_login(
    harvest: HarvestRunner, site: DevSite, display: str, person: Callable[[Page], None]
) -> tuple[int, str, str]:
    """`harvest login --headed` with its window reachable over CDP; *person* acts in the tab
    that shows the identity provider. Returns exit code, stdout, stderr."""
    assert site.idp_url
    port = free_port()
    proc = harvest.popen(
        "login", "--user", "alice", "--site", site.url, "--headed", "--wait", "90",
        DISPLAY=display,
        HARVEST_BROWSER_ARGS=f"{BROWSER_ARGS} --remote-debugging-port={port}",
    )  # fmt: skip
    try:
        try:
            playwright, page = person_page(port, site.idp_url)
        except AssertionError as exc:
            stop_process(proc)
            raise AssertionError(f"{exc}; harvest said: {proc.communicate()[1]!r}") from None
        try:
            person(page)
        finally:
            playwright.stop()  # type: ignore[attr-defined]
        out, err = proc.communicate(timeout=90)
    finally:
        stop_process(proc)
    return proc.returncode, out, err


@pytest.mark.parametrize("folder", ["", "/totara"], ids=["root", "sub-path"])
def test_headed_sso_login_captures_the_session_the_person_made(
    harvest: HarvestRunner, make_totara_site: Callable[..., DevSite], display: str, folder: str
) -> None:
    sso_site = make_totara_site(
        {"alice": ALICE_PASSWORD}, idp="redirect", cookie_suffix="sso", path=folder
    )

    def person(page: Page) -> None:  # username, Next, password, Sign in, at the provider
        page.fill("#idp-username", "alice")
        page.click("#idp-next")
        page.fill("#idp-password", ALICE_PASSWORD)
        page.click("#idp-signin")

    code, out, err = headed_login(harvest, sso_site, display, person)
    assert code == 0, err
    assert "Log in as alice in the browser window" in err  # told the person what to do
    assert "Logged in alice" in out and "TotaraSessionsso" in out
    answer = harvest(
        "request", "totara_job_my_assignments", "--user", "alice", "--site", sso_site.url
    )
    assert answer.code == 0, answer.err
    assert '"idnumber": "alice"' in answer.out
    assert not list(harvest.tmpdir.iterdir())  # the headed profile is gone too


def test_closing_the_window_aborts_cleanly_and_stores_nothing(
    harvest: HarvestRunner, sso_site: DevSite, display: str
) -> None:
    code, _out, err = headed_login(harvest, sso_site, display, lambda page: page.close())
    assert code == 7, err
    assert "window was closed" in err
    assert keyring.get_password(f"harvester:session:{sso_site.url}", "alice") is None
    assert not list(harvest.tmpdir.iterdir())


def test_headed_without_a_screen_says_how_to_get_one(harvest: HarvestRunner, site: DevSite) -> None:
    env = {k: "" for k in ("DISPLAY", "WAYLAND_DISPLAY")}
    result = harvest("login", "--user", "alice", "--site", site.url, "--headed", **env)
    assert result.code == 1
    assert "--headed needs a screen" in result.err and "xvfb-run" in result.err


@pytest.fixture
def remote_chromium() -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """`chromium --headless=new --remote-debugging-port=PORT`, as a grid node runs it."""
    assert CHROMIUM
    port = free_port()
    profile = tempfile.mkdtemp(prefix="hvt-cdp-", dir="/tmp")
    proc = subprocess.Popen(
        [
            CHROMIUM, "--headless=new", f"--remote-debugging-port={port}",
            "--remote-debugging-address=127.0.0.1", f"--user-data-dir={profile}",
            "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync",
            "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1", "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its helpers share our pid's group: stopped together below
    )  # fmt: skip
    try:
        wait_for_port(port)
        yield port, proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        shutil.rmtree(profile, ignore_errors=True)


@needs_chromium
def test_login_through_a_remote_browser_over_cdp_leaves_it_running(
    harvest: HarvestRunner, site: DevSite, remote_chromium: tuple[int, subprocess.Popen[bytes]]
) -> None:
    port, proc = remote_chromium
    endpoint = f"http://127.0.0.1:{port}"
    first = harvest.login(site.url, "--browser-endpoint", endpoint)
    assert first.code == 0, first.err
    assert proc.poll() is None  # harvester never closes a browser it did not start
    second = harvest.login(site.url, user="bob", password="bob's pw with spaces & $(symbols)",
                           HARVEST_BROWSER_ENDPOINT=endpoint)  # fmt: skip
    assert second.code == 0, second.err
    assert proc.poll() is None
    doctor = harvest("doctor", "--browser-endpoint", endpoint)
    assert f"a running browser at {endpoint} (Chrome DevTools Protocol), Chrome/" in doctor.out
    gone = harvest("doctor", "--browser-endpoint", f"http://127.0.0.1:{free_port()}")
    assert gone.code == 1 and "browser: PROBLEM:" in gone.out and "not reachable" in gone.out
    # each login had its own context and closed it: only the browser's own default is left
    with sync_playwright() as playwright:
        browser = playwright.chromium.connect_over_cdp(endpoint)
        assert len(browser.contexts) == 1
        assert all(not page.url.startswith(site.url) for page in browser.contexts[0].pages)


@needs_chromium
def test_open_in_a_remote_browser_shows_the_user_and_leaves_the_browser_running(
    harvest: HarvestRunner, site: DevSite, remote_chromium: tuple[int, subprocess.Popen[bytes]]
) -> None:
    """The window is a page of a context harvester made in someone else's browser; the
    browser's own target list shows it whenever it was made (a CDP client sees only the
    contexts that existed when it connected)."""
    import httpx

    port, proc = remote_chromium
    devtools = f"http://127.0.0.1:{port}"
    assert harvest.login(site.url).code == 0
    opened = harvest.popen(
        "open", "/totara/dashboard/", "--user", "alice", "--site", site.url,
        "--browser-endpoint", devtools, DISPLAY="",  # the remote browser shows it
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        shown: list[dict[str, str]] = []
        while not shown and time.monotonic() < deadline:
            targets = httpx.get(f"{devtools}/json/list", timeout=10).json()
            shown = [
                t for t in targets
                if t["url"] == f"{site.url}/totara/dashboard/" and t["title"] == "Totara: Dashboard"
            ]  # fmt: skip
            time.sleep(0.2)
        assert shown, "no logged-in dashboard (an anonymous visit is sent to the login page)"
        httpx.get(f"{devtools}/json/close/{shown[0]['id']}", timeout=10)
        _out, err = opened.communicate(timeout=60)
    finally:
        stop_process(opened)
    assert opened.returncode == 0, err
    assert proc.poll() is None  # a browser harvester did not start keeps running


@needs_chromium
def test_login_through_a_playwright_browser_server(
    harvest: HarvestRunner, site: DevSite, tmp_path: Path
) -> None:
    """A Playwright browser server (what `playwright run-server` and launchServer() serve),
    pointed at the installed Chromium, started with the Node that ships with Playwright."""
    import playwright

    driver = Path(playwright.__file__).parent / "driver"
    script = tmp_path / "server.js"
    script.write_text(
        "const { chromium } = require(process.argv[2]);\n"
        "(async () => {\n"
        f"  const server = await chromium.launchServer({{ executablePath: {CHROMIUM!r}, "
        "host: '127.0.0.1', port: 0, args: ['--disable-gpu'] });\n"
        "  console.log(server.wsEndpoint());\n"
        "  process.on('SIGTERM', async () => { await server.close(); process.exit(0); });\n"
        "})();\n"
    )
    server = subprocess.Popen(
        [str(driver / "node"), str(script), str(driver / "package")],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert server.stdout is not None
        endpoint = server.stdout.readline().strip()
        assert endpoint.startswith("ws://127.0.0.1:"), endpoint
        result = harvest.login(site.url, "--browser-endpoint", endpoint)
        assert result.code == 0, result.err
        assert server.poll() is None
    finally:
        stop_process(server)
