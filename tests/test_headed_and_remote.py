"""Headed single sign-on under a virtual screen (the test plays the person), and logins on a
browser that someone else runs: over the Chrome DevTools Protocol, and a Playwright server."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import keyring
import pytest
from playwright.sync_api import Page

from harvester.devsite import DevSite
from harvester.devsite.app import Request
from harvester.logins.browser.login_pages import WINDOW_CLOSED
from harvester.testing.private_keyring import stop_process

from .conftest import (
    ALICE_PASSWORD,
    BROWSER_ARGS,
    HarvestRunner,
    OwnPlaywright,
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
    harvest: HarvestRunner,
    site: DevSite,
    display: str,
    person: Callable[[Page], None] | Callable[[int], None],
    *,
    over_http: bool = False,
) -> tuple[int, str, str]:
    """`harvest login --headed` with its window reachable over CDP; *person* acts in the tab
    that shows the identity provider (or, *over_http*, is given the DevTools port alone: a
    tab whose first page is still loading is not yet a page to a CDP client). Returns exit
    code, stdout, stderr."""
    assert site.idp_url
    port = free_port()
    proc = harvest.popen(
        "login", "--user", "alice", "--site", site.url, "--headed", "--wait", "90",
        DISPLAY=display,
        HARVEST_BROWSER_ARGS=f"{BROWSER_ARGS} --remote-debugging-port={port}",
    )  # fmt: skip
    try:
        if over_http:
            person(port)  # type: ignore[arg-type]
            return_code_and_output = proc.communicate(timeout=90)
            return proc.returncode, *return_code_and_output
        try:
            playwright, page = person_page(port, site.idp_url)
        except AssertionError as exc:
            stop_process(proc)
            raise AssertionError(f"{exc}; harvest said: {proc.communicate()[1]!r}") from None
        try:
            person(page)  # type: ignore[arg-type]
        finally:
            playwright.stop()
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


class Gate:
    """DevSite.hold for one request: the first that *matches* is held until `release` (a
    minute at most); `arrived` tells the test it is under way."""

    def __init__(self, matches: Callable[[str, Request], bool]) -> None:
        self.matches = matches
        self.arrived = threading.Event()
        self.release = threading.Event()

    def __call__(self, where: str, request: Request) -> None:
        if not self.arrived.is_set() and self.matches(where, request):
            self.arrived.set()
            self.release.wait(60)


def close_while_held(gate: Gate, act: Callable[[Page], None]) -> Callable[[Page], None]:
    """A person who does *act* (which starts a request the gate holds), then closes the window
    while that request is under way."""

    def person(page: Page) -> None:
        try:
            act(page)
            assert gate.arrived.wait(60), "the held request never came"
            page.close()
        finally:
            gate.release.set()

    return person


def close_every_tab_when(gate: Gate) -> Callable[[int], None]:
    """Close every tab through the DevTools HTTP endpoint once *gate* holds a request."""

    def person(port: int) -> None:
        try:
            assert gate.arrived.wait(60), "the held request never came"
            devtools = f"http://127.0.0.1:{port}"
            targets = httpx.get(f"{devtools}/json/list", timeout=10).json()
            tabs = [t for t in targets if t["type"] == "page"]
            assert tabs, targets
            for target in tabs:
                httpx.get(f"{devtools}/json/close/{target['id']}", timeout=10)
        finally:
            gate.release.set()

    return person


def submit_username(page: Page) -> None:
    page.fill("#idp-username", "alice")
    page.click("#idp-next", no_wait_after=True)


def submit_password(page: Page) -> None:
    page.fill("#idp-username", "alice")
    page.click("#idp-next")
    page.fill("#idp-password", ALICE_PASSWORD)
    page.click("#idp-signin", no_wait_after=True)


MOMENTS = {
    # harvester's own first navigation, to the login page, is under way
    "before the first page": lambda where, r: where == "site" and "/login/index.php" in r.path,
    # the person's navigation from the username step to the password step is under way
    "during a navigation": lambda where, r: where == "idp" and b"step=username" in r.body,
    # the person has typed half a username and closes
    "while a form is filled": None,
    # the identity provider accepted the password; the way back to the site is under way
    "after the submit": lambda where, r: where == "site" and "oauth2callback" in r.path,
}


@pytest.mark.parametrize("moment", list(MOMENTS))
def test_closing_the_window_aborts_cleanly_and_stores_nothing(
    harvest: HarvestRunner, sso_site: DevSite, display: str, moment: str
) -> None:
    """Whenever the person closes the window, that is what harvest reports: exit 7, "the
    browser window was closed", nothing stored, no profile left. Each moment is made on purpose:
    the site (or its identity provider) holds a request until the window is closed."""
    matches = MOMENTS[moment]
    person: Callable[[Page], None] | Callable[[int], None]
    if matches is None:
        person = lambda page: (page.fill("#idp-username", "ali"), page.close())  # noqa: E731
    else:
        gate = sso_site.hold = Gate(matches)
        if moment == "before the first page":
            person = close_every_tab_when(gate)
        else:
            act = {"during a navigation": submit_username, "after the submit": submit_password}
            person = close_while_held(gate, act[moment])
    over_http = moment == "before the first page"
    code, _out, err = headed_login(harvest, sso_site, display, person, over_http=over_http)
    assert code == 7, err
    assert err.endswith(f"\nharvest: error: {WINDOW_CLOSED}\n") or err == (
        f"harvest: error: {WINDOW_CLOSED}\n"  # closed before the person was told what to do
    ), err
    assert err.count("error:") == 1
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
        # its temporary files (the profile's singleton socket) in the profile's folder too: a
        # browser stopped by a signal leaves them, and /tmp is not ours to litter
        env={**os.environ, "TMPDIR": profile},
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
    with OwnPlaywright() as playwright:
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
    scratch = tempfile.mkdtemp(prefix="hvt-srv-", dir="/tmp")  # short: a socket path is short
    server = subprocess.Popen(
        [str(driver / "node"), str(script), str(driver / "package")],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "TMPDIR": scratch},  # the server's browser's temporary files
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
        shutil.rmtree(scratch, ignore_errors=True)
