"""`harvest login` as a user runs it: the real executable, real Chromium, the real keyring."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import keyring
import pytest

from harvester.devsite import DevSite

from .conftest import ALICE_PASSWORD, BOB_PASSWORD, HarvestRunner, Result

# `harvest login` as it is without an agent (the agent's: test_agent.py)
pytestmark = pytest.mark.own_browser

STATUS = '{"operationName":"totara_webapi_status","variables":{}}'


def stored_secret(site: DevSite, user: str = "alice") -> dict[str, object] | None:
    raw = keyring.get_password(f"harvester:session:{site.url}", user)
    return None if raw is None else json.loads(raw)


def curl_status(url: str, cookie: str, sesskey: str) -> str:
    """The seed's own curl call, unchanged (httpx where curl is missing)."""
    if shutil.which("curl"):
        return subprocess.run(
            [
                "curl",
                "-s",
                f"{url}/totara/webapi/ajax.php",
                "-X",
                "POST",
                "-H",
                f"Cookie: {cookie}",
                "-H",
                f"X-Totara-Sesskey: {sesskey}",
                "-H",
                "Content-Type: application/json",
                "--data-raw",
                STATUS,
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout
    return httpx.post(
        f"{url}/totara/webapi/ajax.php",
        content=STATUS,
        timeout=10,
        headers={"Cookie": cookie, "X-Totara-Sesskey": sesskey},
    ).text


def browsers_started_from(tmpdir: Path) -> list[str]:
    """Processes whose command line names the per-test TMPDIR: our browser, if still alive."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if str(tmpdir) in cmdline:
            found.append(f"{pid} {cmdline[:120]}")
    return found


def login(
    harvest: HarvestRunner,
    site: DevSite,
    password: str = ALICE_PASSWORD,
    *extra: str,
    user: str = "alice",
) -> Result:
    return harvest.login(site.url, *extra, user=user, password=password)


def test_login_stores_a_working_session_in_the_keyring(
    site: DevSite, harvest: HarvestRunner
) -> None:
    result = login(harvest, site)
    assert result.code == 0, result.err
    assert result.out == f"Logged in alice at {site.url} (cookie TotaraSessionabc)\n"
    secret = stored_secret(site)
    assert secret is not None
    assert set(secret) == {
        "v",
        "cookie_name",
        "cookie_value",
        "sesskey",
        "wwwroot",
        "obtained_at",
        "verified_at",
        "cookie",
    }
    assert secret["v"] == 2 and secret["cookie_name"] == "TotaraSessionabc"
    assert secret["wwwroot"] == site.url
    answer = curl_status(
        site.url, f"TotaraSessionabc={secret['cookie_value']}", str(secret["sesskey"])
    )
    assert '"status":"ok"' in answer
    # exactly one browser login reached the site
    assert site.count("POST", "/login/index.php") == 1


def test_login_leaves_no_secret_on_disk_no_profile_and_no_browser(
    site: DevSite, harvest: HarvestRunner, tmp_path: Path
) -> None:
    result = login(harvest, site)
    assert result.code == 0, result.err
    secret = stored_secret(site)
    assert secret is not None
    assert list(harvest.tmpdir.iterdir()) == []  # the temporary browser profile is gone
    assert browsers_started_from(harvest.tmpdir) == []
    index = (tmp_path / "state/harvester/sessions.json").read_text()
    assert json.loads(index)["sessions"][0]["user"] == "alice"
    for path in tmp_path.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for value in (ALICE_PASSWORD, secret["cookie_value"], secret["sesskey"]):
                assert str(value).encode() not in data, path
    for value in (secret["cookie_value"], secret["sesskey"]):
        assert str(value) not in result.out + result.err


def test_wrong_password_exits_3_and_keeps_the_stored_session(
    site: DevSite, harvest: HarvestRunner
) -> None:
    assert login(harvest, site).code == 0
    before = stored_secret(site)
    result = login(harvest, site, "wrong password")
    assert result.code == 3
    assert result.out == ""
    assert result.err.count("\n") == 1 and result.err.startswith("harvest: error: ")
    assert "Invalid login" in result.err
    assert "wrong password" not in result.err
    after = stored_secret(site)
    assert after == before
    assert after is not None
    answer = curl_status(
        site.url, f"TotaraSessionabc={after['cookie_value']}", str(after["sesskey"])
    )
    assert '"status":"ok"' in answer


def test_suffixless_cookie_and_a_password_with_shell_characters(
    make_totara_site: type[DevSite], harvest: HarvestRunner
) -> None:
    site = make_totara_site({"bob": BOB_PASSWORD})  # type: ignore[call-arg]
    result = login(harvest, site, BOB_PASSWORD, user="bob")
    assert result.code == 0, result.err
    assert "(cookie TotaraSession)" in result.out
    assert stored_secret(site, "bob") is not None


def test_unreachable_site_exits_5(harvest: HarvestRunner) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = harvest(
        "login",
        "--user",
        "alice",
        "--site",
        f"http://127.0.0.1:{port}",
        "--password-stdin",
        input="pw\n",
    )
    assert result.code == 5, result.err
    assert result.err.count("\n") == 1 and "nothing is listening" in result.err


@pytest.fixture
def plain_web_server() -> Iterator[str]:
    class Plain(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<html><body><h1>Just a web server</h1></body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Plain)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_page_that_is_not_a_totara_login_page_exits_7(
    plain_web_server: str, harvest: HarvestRunner
) -> None:
    result = harvest(
        "login", "--user", "alice", "--site", plain_web_server, "--password-stdin", input="pw\n"
    )
    assert result.code == 7, result.err
    assert "not a Totara login page" in result.err
    assert result.err.count("\n") == 1
    assert list(harvest.tmpdir.iterdir()) == []


def test_no_keyring_exits_6_naming_the_fix_before_any_browser(
    site: DevSite, harvest: HarvestRunner
) -> None:
    result = harvest.login(site.url, DBUS_SESSION_BUS_ADDRESS="unix:path=/nonexistent/bus")
    assert result.code == 6, result.err
    assert "Secret Service" in result.err and "PYTHON_KEYRING_BACKEND" in result.err
    assert result.err.count("\n") == 1
    assert site.count("GET", "/login/index.php") == 0  # failed before the browser started


def test_save_password_allows_a_later_login_without_typing_it(
    site: DevSite, harvest: HarvestRunner
) -> None:
    assert login(harvest, site, ALICE_PASSWORD, "--save-password").code == 0
    assert keyring.get_password(f"harvester:password:{site.url}", "alice") == ALICE_PASSWORD
    first = stored_secret(site)
    result = harvest("login", "--user", "alice", "--site", site.url)
    assert result.code == 0, result.err
    assert stored_secret(site) != first  # a new session
    assert site.count("POST", "/login/index.php") == 2


def test_no_password_and_no_terminal_exits_2(site: DevSite, harvest: HarvestRunner) -> None:
    result = harvest("login", "--user", "alice", "--site", site.url, input="")
    assert result.code == 2
    assert "--password-stdin" in result.err


def test_empty_password_on_stdin_exits_2(site: DevSite, harvest: HarvestRunner) -> None:
    result = harvest("login", "--user", "alice", "--site", site.url, "--password-stdin", input="\n")
    assert result.code == 2
    assert site.count("GET", "/login/index.php") == 0


def test_site_from_harvest_site_variable(site: DevSite, harvest: HarvestRunner) -> None:
    result = harvest(
        "login", "--user", "alice", "--password-stdin", input="pw1\n", HARVEST_SITE=site.url + "/"
    )
    assert result.code == 0, result.err
    assert stored_secret(site) is not None


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["login", "--site", "http://127.0.0.1:9"], "--user"),
        (["login", "--user", "alice", "--site", "ftp://example.com"], "not a site URL"),
        (["login", "--user", "alice"], "no site given"),
        (["nosuchcommand"], "No such command"),
    ],
)
def test_usage_errors_exit_2_in_one_line(
    harvest: HarvestRunner, args: list[str], needle: str
) -> None:
    result = harvest(*args, input="")
    assert result.code == 2, result.err
    assert needle in result.err
    assert result.err.count("\n") == 1


def test_version(harvest: HarvestRunner) -> None:
    result = harvest("--version")
    assert result.code == 0 and result.out.startswith("harvest ")


def test_doctor_names_the_secret_service_and_the_browser(harvest: HarvestRunner) -> None:
    result = harvest("doctor")
    assert result.code == 0, result.out + result.err
    assert "keyring: ok: keyring.backends.SecretService.Keyring" in result.out
    assert "browser: ok:" in result.out and "chromium" in result.out.lower()


def test_doctor_without_a_dbus_session_names_the_keyring_fix(harvest: HarvestRunner) -> None:
    result = harvest("doctor", DBUS_SESSION_BUS_ADDRESS="unix:path=/nonexistent/bus")
    assert result.code == 6
    assert "keyring: PROBLEM" in result.out and "PYTHON_KEYRING_BACKEND" in result.out


def test_doctor_checks_each_stored_site(
    site: DevSite, plain_web_server: str, harvest: HarvestRunner
) -> None:
    from harvester.store.session import Session
    from harvester.store.sessions import SessionStore

    assert login(harvest, site).code == 0
    store = SessionStore(Path(harvest.env["XDG_STATE_HOME"]) / "harvester")
    store.save(Session(plain_web_server, "alice", "TotaraSession", "x", "y"))
    result = harvest("doctor")
    assert f"{site.url}: ok: login page" in result.out
    assert f"{plain_web_server}: PROBLEM" in result.out and result.code == 7
    keyring.delete_password(f"harvester:session:{plain_web_server}", "alice")
