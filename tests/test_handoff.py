"""The session handed to the tools people already use, each tested with the real tool: curl and
wget with a cookies.txt, http.cookiejar, a Playwright context from a storage state, httpx and
requests with the auth objects, and a logged-in window under a virtual screen."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.cookiejar import MozillaCookieJar
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import keyring
import pytest
import requests

from harvester.devsite import DevSite
from harvester.devsite.faults import Faults
from harvester.handoff.auth import TotaraAuth
from harvester.store.sessions import SessionStore
from harvester.testing.private_keyring import stop_process

from .conftest import (
    ALICE_PASSWORD,
    BROWSER_ARGS,
    HarvestRunner,
    OwnPlaywright,
    free_port,
    person_page,
    runner_agent,
)

STATUS = {"operationName": "totara_webapi_status", "variables": {}}


@dataclass
class Handoff:
    """A site (at the root or in a folder) with alice logged in through `harvest login`."""

    site: DevSite
    harvest: HarvestRunner
    folder: Path

    @property
    def url(self) -> str:
        return self.site.url

    def secret(self) -> dict[str, object]:
        raw = keyring.get_password(f"harvester:session:{self.url}", "alice")
        assert raw is not None
        loaded: dict[str, object] = json.loads(raw)
        return loaded

    def store(self) -> SessionStore:
        return SessionStore(Path(self.harvest.env["XDG_STATE_HOME"]) / "harvester")


@pytest.fixture(scope="module", params=["", "/totara"], ids=["root", "sub-path"])
def handoff(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Handoff]:
    home = tmp_path_factory.mktemp("handoff")
    runner = HarvestRunner.in_folder(home, runner_agent(request))
    with DevSite({"alice": ALICE_PASSWORD}, cookie_suffix="abc", path=request.param) as site:
        result = runner.login(site.url, "--save-password")
        assert result.code == 0, result.err
        yield Handoff(site, runner, home)
    runner.cleanup()


def export(handoff: Handoff, fmt: str, name: str, *extra: str) -> Path:
    target = handoff.folder / name
    result = handoff.harvest(
        "env", "--user", "alice", "--site", handoff.url, "--format", fmt, "--output", str(target),
        *extra,
    )  # fmt: skip
    assert result.code == 0, result.err
    assert result.out == ""  # the secrets went to the file only
    return target


def sesskey_of(cookies_txt: Path) -> str:
    [line] = [
        line for line in cookies_txt.read_text().splitlines() if line.startswith("# X-Totara-")
    ]
    return line.split(": ", 1)[1]


# -- cookie files ---------------------------------------------------------------------------------
def test_the_entry_keeps_the_cookie_exactly_as_the_site_set_it(handoff: Handoff) -> None:
    secret = handoff.secret()
    assert secret["v"] == 2
    assert secret["cookie"] == {
        "domain": "127.0.0.1",
        "host_only": True,
        "path": handoff.site.cookie_path,
        "secure": False,
        "http_only": True,
        "same_site": "Lax",  # the site named none: what browsers make of that
        "expires": None,
    }


def test_curl_calls_ajax_with_the_netscape_file(handoff: Handoff) -> None:
    cookies = export(handoff, "netscape", "cookies.txt")
    assert stat.S_IMODE(cookies.stat().st_mode) == 0o600
    answer = subprocess.run(
        [
            "curl", "-s", "-b", str(cookies), "-H", "Content-Type: application/json",
            "-H", f"X-Totara-Sesskey: {sesskey_of(cookies)}",
            "--data", json.dumps(STATUS), f"{handoff.url}/totara/webapi/ajax.php",
        ],
        capture_output=True, text=True, check=True, timeout=30,
    )  # fmt: skip
    assert json.loads(answer.stdout)["data"]["totara_webapi_status"]["status"] == "ok"


@pytest.mark.skipif(shutil.which("wget") is None, reason="no wget")
def test_wget_fetches_a_logged_in_page_with_the_netscape_file(handoff: Handoff) -> None:
    cookies = export(handoff, "netscape", "cookies.txt")
    page = subprocess.run(
        ["wget", "-q", "-O", "-", "--load-cookies", str(cookies), f"{handoff.url}/"],
        capture_output=True, text=True, check=True, timeout=30,
    )  # fmt: skip
    assert "notloggedin" not in page.stdout and "Alice Example</a>" in page.stdout


def test_mozilla_cookie_jar_reads_the_very_cookie_the_site_set(handoff: Handoff) -> None:
    cookies = export(handoff, "netscape", "cookies.txt")
    jar = MozillaCookieJar(str(cookies))
    # a browser-session cookie (expiry 0, as curl writes it): load it as such
    jar.load(ignore_discard=True, ignore_expires=True)
    [cookie] = list(jar)
    secret = handoff.secret()
    assert (cookie.name, cookie.value) == (secret["cookie_name"], secret["cookie_value"])
    assert (cookie.domain, cookie.path) == ("127.0.0.1", handoff.site.cookie_path)
    assert not cookie.domain_specified and not cookie.secure and cookie.expires == 0
    assert cookie.has_nonstandard_attr("HTTPOnly")  # the #HttpOnly_ prefix
    assert sesskey_of(cookies) == secret["sesskey"]


def test_a_playwright_context_from_the_storage_state_opens_the_site_logged_in(
    handoff: Handoff,
) -> None:
    from harvester.logins.browser.launch import choose_browser

    state = export(handoff, "playwright", "state.json")
    assert stat.S_IMODE(state.stat().st_mode) == 0o600
    assert json.loads(state.read_text())["harvester"]["sesskey"] == handoff.secret()["sesskey"]
    with OwnPlaywright() as playwright:
        choice = choose_browser(playwright.chromium.executable_path)
        browser = playwright.chromium.launch(
            executable_path=choice.executable, args=["--disable-gpu"]
        )
        try:
            context = browser.new_context(storage_state=str(state))
            page = context.new_page()
            page.goto(f"{handoff.url}/")
            assert "notloggedin" not in (page.get_attribute("body", "class") or "")
            assert page.inner_text("header") == "You are logged in as Alice Example (Log out)"
        finally:
            browser.close()


def test_output_never_replaces_a_file_harvester_did_not_write(handoff: Handoff) -> None:
    precious = handoff.folder / "notes.txt"
    precious.write_text("my notes\n")
    refused = handoff.harvest(
        "env", "--user", "alice", "--site", handoff.url, "--format", "netscape",
        "--output", str(precious),
    )  # fmt: skip
    assert refused.code == 2 and "--force" in refused.err
    assert precious.read_text() == "my notes\n"
    forced = export(handoff, "netscape", "notes.txt", "--force")
    assert stat.S_IMODE(forced.stat().st_mode) == 0o600 and "my notes" not in forced.read_text()
    for fmt in ("sh", "dotenv", "json", "playwright", "netscape"):  # its own files: replaced
        assert sesskey_in(export(handoff, fmt, "notes.txt"), handoff)


def sesskey_in(path: Path, handoff: Handoff) -> bool:
    return str(handoff.secret()["sesskey"]) in path.read_text()


# -- auth objects ---------------------------------------------------------------------------------
class Recorder(ThreadingHTTPServer):
    """Another origin: records every request's headers, answers 200 with JSON."""

    def __init__(self) -> None:
        self.seen: list[dict[str, str]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("utf-8", "replace")
                recorder.seen.append({**dict(self.headers), "path": self.path, "body": body})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            do_GET = do_POST = _record

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def other_origin() -> Iterator[Recorder]:
    server = Recorder()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def assert_nothing_secret(recorder: Recorder, handoff: Handoff) -> None:
    assert recorder.seen, "the other origin was not reached at all"
    secret = handoff.secret()
    text = json.dumps(recorder.seen)
    for value in (secret["cookie_value"], secret["sesskey"]):
        assert str(value) not in text
    for request in recorder.seen:
        assert not {"Cookie", "X-Totara-Sesskey"} & set(request)


def test_httpx_with_totara_auth_calls_ajax_and_sends_nothing_elsewhere(
    handoff: Handoff, other_origin: Recorder
) -> None:
    auth = TotaraAuth.from_keyring(handoff.url, "alice", store=handoff.store())
    with httpx.Client(auth=auth, follow_redirects=True) as http:
        answer = http.post(f"{handoff.url}/totara/webapi/ajax.php", json=STATUS)
        assert answer.json()["data"]["totara_webapi_status"]["status"] == "ok"
        page = http.get(f"{handoff.url}/")
        assert "You are logged in as" in page.text
        http.get(f"{other_origin.url}/collect")  # another origin, asked directly
        handoff.site.state.faults = Faults(ajax_redirect=f"{other_origin.url}/bounced")
        try:
            http.post(f"{handoff.url}/totara/webapi/ajax.php", json=STATUS)  # followed
        finally:
            handoff.site.state.faults = Faults()
    assert [r["path"] for r in other_origin.seen] == ["/collect", "/bounced"]
    assert_nothing_secret(other_origin, handoff)


def test_requests_with_the_auth_object_calls_ajax_and_sends_nothing_elsewhere(
    handoff: Handoff, other_origin: Recorder
) -> None:
    with requests.Session() as http:
        http.auth = TotaraAuth.from_keyring(
            handoff.url, "alice", store=handoff.store()
        ).for_requests()
        answer = http.post(f"{handoff.url}/totara/webapi/ajax.php", json=STATUS, timeout=30)
        assert answer.json()["data"]["totara_webapi_status"]["status"] == "ok"
        http.get(f"{other_origin.url}/collect", timeout=30)
        handoff.site.state.faults = Faults(ajax_redirect=f"{other_origin.url}/bounced")
        try:
            http.post(f"{handoff.url}/totara/webapi/ajax.php", json=STATUS, timeout=30)
        finally:
            handoff.site.state.faults = Faults()
    assert [r["path"] for r in other_origin.seen] == ["/collect", "/bounced"]
    assert_nothing_secret(other_origin, handoff)


def logins(site: DevSite) -> int:
    return site.count("POST", "/login/index.php")


@pytest.mark.parametrize("library", ["httpx", "requests", "TotaraClient"])
def test_the_auth_objects_renew_a_session_the_site_ended(
    handoff: Handoff, library: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each of them renews through the one rule, TotaraAuth.renewal_steps."""
    from harvester.handoff.client import TotaraClient

    steps_taken: list[str] = []
    rule = TotaraAuth.renewal_steps

    def recorded(self: TotaraAuth, *args: Any, **kwargs: Any) -> Any:
        steps = rule(self, *args, **kwargs)
        answer = None
        while True:
            try:
                step = steps.send(answer)
            except StopIteration:
                return
            steps_taken.append(step[0])
            answer = yield step

    monkeypatch.setattr(TotaraAuth, "renewal_steps", recorded)
    auth = TotaraAuth.from_keyring(handoff.url, "alice", store=handoff.store())
    before = auth.session
    handoff.site.state.kill_sessions()
    logged_in = logins(handoff.site)
    url = f"{handoff.url}/totara/webapi/ajax.php"
    if library == "httpx":
        with httpx.Client(auth=auth) as http:
            data = http.post(url, json=STATUS).json()
    elif library == "requests":
        with requests.Session() as session:
            data = session.post(url, json=STATUS, auth=auth.for_requests(), timeout=60).json()
    else:
        with TotaraClient(handoff.url, before, on_expired=auth.on_expired) as client:
            data = {"data": client.call("totara_webapi_status")}
            auth = client.auth  # type: ignore[assignment]
    assert data["data"]["totara_webapi_status"]["status"] == "ok"
    assert logins(handoff.site) == logged_in + 1  # one login, with the saved password
    assert steps_taken == ["send", "renew", "send"]  # the rule's steps, carried out
    assert auth.session.cookie_value != before.cookie_value
    assert handoff.secret()["cookie_value"] == auth.session.cookie_value  # stored for all


def test_an_async_httpx_client_uses_the_same_auth(handoff: Handoff) -> None:
    import asyncio

    auth = TotaraAuth.from_keyring(handoff.url, "alice", store=handoff.store())

    async def call() -> object:
        async with httpx.AsyncClient(auth=auth) as http:
            answer = await http.post(f"{handoff.url}/totara/webapi/ajax.php", json=STATUS)
            return answer.json()

    data = asyncio.run(call())
    assert isinstance(data, dict) and set(data) == {"data"}  # no "errors" beside it
    assert set(data["data"]) == {"totara_webapi_status"}
    assert data["data"]["totara_webapi_status"]["status"] == "ok"


# -- harvest open ---------------------------------------------------------------------------------
def test_open_shows_the_user_logged_in_and_ends_when_the_window_closes(
    handoff: Handoff, display: str
) -> None:
    port = free_port()
    proc = handoff.harvest.popen(
        "open", "/totara/dashboard/", "--user", "alice", "--site", handoff.url,
        DISPLAY=display,
        HARVEST_BROWSER_ARGS=f"{BROWSER_ARGS} --remote-debugging-port={port}",
    )  # fmt: skip
    try:
        try:
            playwright, page = person_page(port, handoff.url)
        except AssertionError as exc:  # say what harvest said, not only that no window came
            stop_process(proc)
            raise AssertionError(f"{exc}; harvest said: {proc.communicate()[1]!r}") from None
        try:
            page.wait_for_load_state()
            assert "notloggedin" not in (page.get_attribute("body", "class") or "")
            assert page.inner_text("header") == "You are logged in as Alice Example (Log out)"
            assert page.url.startswith(f"{handoff.url}/totara/dashboard/")
            page.close()
        finally:
            playwright.stop()
        _out, err = proc.communicate(timeout=60)
    finally:
        stop_process(proc)
    assert proc.returncode == 0, err
    assert "close the window to finish" in err
    assert not list(handoff.harvest.tmpdir.iterdir())  # the window's profile is gone


def test_open_needs_a_screen_and_a_page_of_the_site(handoff: Handoff) -> None:
    env = {"DISPLAY": "", "WAYLAND_DISPLAY": ""}
    blind = handoff.harvest("open", "--user", "alice", "--site", handoff.url, **env)
    assert blind.code == 1 and "harvest open needs a screen" in blind.err
    elsewhere = handoff.harvest(
        "open", "https://example.org/", "--user", "alice", "--site", handoff.url, DISPLAY=":99"
    )
    assert elsewhere.code == 2 and "not a page of" in elsewhere.err


# -- version-1 entries ----------------------------------------------------------------------------
def test_version_1_entries_work_with_every_command_and_are_upgraded_on_write(
    handoff: Handoff,
) -> None:
    secret = handoff.secret()
    old = {k: v for k, v in secret.items() if k != "cookie"} | {"v": 1}
    keyring.set_password(f"harvester:session:{handoff.url}", "alice", json.dumps(old))
    who = ("--user", "alice", "--site", handoff.url)
    for fmt in ("sh", "json", "netscape", "playwright"):
        shown = handoff.harvest("env", *who, "--format", fmt)
        assert shown.code == 0 and str(secret["cookie_value"]) in shown.out, shown.err
    cookies = handoff.harvest("env", *who, "--format", "netscape").out
    assert f"\t{handoff.site.cookie_path}\t" in cookies  # derived from the wwwroot's folder
    request = handoff.harvest("request", "totara_webapi_status", *who)
    assert request.code == 0 and '"ok"' in request.out, request.err
    ran = handoff.harvest("exec", *who, "--", "sh", "-c", 'test -n "$TOTARA_SESSKEY"')
    assert ran.code == 0, ran.err
    checked = handoff.harvest("status", "--check", "--site", handoff.url)
    assert checked.code == 0, checked.err
    handoff.site.state.kill_sessions()
    refreshed = handoff.harvest("refresh", *who)  # logs in again: the saved password
    assert refreshed.code == 0, refreshed.err
    assert handoff.secret()["v"] == 2 and handoff.secret()["cookie"]  # the next write upgrades


def test_an_os_env_round_trip_keeps_a_removed_file_removed(handoff: Handoff) -> None:
    """--output leaves no temporary file behind, also when it fails."""
    folder = handoff.folder / "out"
    folder.mkdir(exist_ok=True)
    export(handoff, "sh", "out/session.sh")
    missing = handoff.harvest(
        "env", "--user", "alice", "--site", handoff.url, "--output", str(folder / "no" / "x")
    )
    assert missing.code == 2 and "cannot write" in missing.err
    assert sorted(os.listdir(folder)) == ["session.sh"]
    # a write that fails once its temporary file exists (a file size limit of 1 byte: the
    # temporary file is made, writing the session into it fails) leaves nothing behind either
    import resource
    import subprocess

    from .conftest import HARVEST

    def one_byte_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (1, 1))

    full = subprocess.run(
        [HARVEST, "env", "--user", "alice", "--site", handoff.url, "-o", str(folder / "big")],
        env=handoff.harvest.env, capture_output=True, text=True, timeout=60,
        preexec_fn=one_byte_files,
    )  # fmt: skip
    assert full.returncode == 2 and "cannot write" in full.stderr, full.stderr
    assert "File too large" in full.stderr
    assert sorted(os.listdir(folder)) == ["session.sh"]  # no .harvest-*.tmp left


# -- the pytest fixture for users' own suites -----------------------------------------------------
USER_TEST = """
def test_the_site_knows_me(totara_session):
    status = totara_session.call("totara_webapi_status")
    assert status["totara_webapi_status"]["status"] == "ok"
"""


# A user's suite needs neither of our other plugins: hypothesis's alone takes ~1.5 s to load
BARE = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:xdist")


def test_the_totara_session_fixture_serves_a_users_own_suite(
    handoff: Handoff, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("XDG_STATE_HOME", "HARVEST_CONFIG", "TMPDIR"):
        monkeypatch.setenv(name, handoff.harvest.env[name])
    pytester.makepyfile(test_mine=USER_TEST)
    handoff.site.state.kill_sessions()  # ended on the site: the fixture renews it
    ran = pytester.runpytest_subprocess(*BARE, "--totara-user", "alice")
    ran.assert_outcomes(passed=1)
    monkeypatch.setenv("HARVEST_USER", "nobody")
    skipped = pytester.runpytest_subprocess(*BARE, "-rs")
    skipped.assert_outcomes(skipped=1)
    skipped.stdout.fnmatch_lines(["*totara_session: *no stored session for nobody*"])
    monkeypatch.delenv("HARVEST_USER")
    bare = pytester.runpytest_subprocess(*BARE, "-rs")
    bare.stdout.fnmatch_lines(["*totara_session: no user: pass --totara-user NAME*"])
    # a broken setup is no skip: a proxy's 502 in front of the site fails the suite loudly
    handoff.site.state.faults = Faults(ajax_status=502, ajax_body="<h1>Bad Gateway</h1>")
    try:
        broken = pytester.runpytest_subprocess(*BARE, "--totara-user", "alice")
    finally:
        handoff.site.state.faults = Faults()
    broken.assert_outcomes(errors=1)
    broken.stdout.fnmatch_lines(["*totara_session: *HTTP 502*"])
