"""`harvest proxy` as a GraphQL tool meets it: run through the real `harvest` executable on a
logged-in bundled site, driven with plain httpx, Node's fetch (or curl) and a Unix socket."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import keyring
import pytest

from harvester.devsite import DevSite
from harvester.testing.private_keyring import stop_process

from .conftest import HarvestRunner

USER_OP = {"operationName": "totara_job_my_assignments", "variables": {}}


@dataclass
class Proxy:
    proc: subprocess.Popen[str]
    url: str
    token: str
    site: DevSite
    socket: Path

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def post(self, body: object, **headers: str) -> httpx.Response:
        return httpx.post(self.url, json=body, headers={**self.headers, **headers}, timeout=60)

    def logins(self) -> int:
        return self.site.count("POST", "/login/index.php")

    def secrets(self) -> list[str]:
        raw = keyring.get_password(f"harvester:session:{self.site.url}", "alice")
        assert raw
        entry = json.loads(raw)
        return [entry["cookie_value"], entry["sesskey"], self.token]


@pytest.fixture
def proxy(
    harvest: HarvestRunner, make_totara_site: Callable[..., DevSite], tmp_path: Path
) -> Iterator[Proxy]:
    site = make_totara_site({"alice": "pw1"}, cookie_suffix="px")
    assert harvest.login(site.url, "--save-password").code == 0
    sock = tmp_path / "proxy.sock"
    proc = harvest.popen("proxy", "--user", "alice", "--site", site.url, "--socket", str(sock))
    assert proc.stdout is not None
    lines = [proc.stdout.readline() for _ in range(3)]
    url = lines[0].removeprefix("harvest proxy: ").strip()
    token = lines[1].rsplit(" ", 1)[1].strip()
    assert url.startswith("http://127.0.0.1:") and url.endswith("/totara/webapi/ajax.php"), lines
    yield Proxy(proc, url, token, site, sock)
    end_proxy(proc)


def end_proxy(proc: subprocess.Popen[str]) -> None:
    """SIGTERM, as Ctrl-C would; the pid killed only if it does not end in time."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            stop_process(proc)


def stderr_of(proxy: Proxy) -> str:
    proxy.proc.send_signal(signal.SIGTERM)
    _out, err = proxy.proc.communicate(timeout=60)
    assert proxy.proc.returncode == 0, err
    return err


def test_an_operation_goes_through_and_the_access_line_names_it(proxy: Proxy) -> None:
    answer = proxy.post(USER_OP)
    assert answer.status_code == 200
    assert answer.json()["data"]["totara_job_my_assignments"][0]["idnumber"] == "alice"
    nosession = proxy.post({"operationName": "totara_webapi_status_nosession", "variables": {}})
    assert nosession.json()["data"]["totara_webapi_status"]["status"] == "ok"
    secrets = proxy.secrets()
    err = stderr_of(proxy)
    assert "POST /totara/webapi/ajax.php totara_job_my_assignments 200" in err
    assert not any(secret in err for secret in secrets)


def test_a_killed_session_is_renewed_once_behind_the_client(proxy: Proxy) -> None:
    assert proxy.post(USER_OP).status_code == 200
    before = proxy.logins()
    proxy.site.state.kill_sessions("alice")
    answer = proxy.post(USER_OP)
    assert answer.json()["data"]["totara_job_my_assignments"][0]["idnumber"] == "alice"
    assert proxy.logins() == before + 1


def test_50_concurrent_requests_across_a_session_kill_all_succeed_with_one_login(
    proxy: Proxy,
) -> None:
    assert proxy.post(USER_OP).status_code == 200
    before = proxy.logins()
    proxy.site.state.kill_sessions("alice")
    answers: list[httpx.Response] = []
    lock = threading.Lock()

    def call() -> None:
        got = proxy.post(USER_OP)
        with lock:
            answers.append(got)

    threads = [threading.Thread(target=call) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert len(answers) == 50
    assert all(
        a.json()["data"]["totara_job_my_assignments"][0]["idnumber"] == "alice" for a in answers
    )
    assert proxy.logins() == before + 1


def test_only_the_users_own_programs_get_in(proxy: Proxy) -> None:
    body = json.dumps(USER_OP)
    plain = {"Content-Type": "application/json"}
    assert httpx.post(proxy.url, content=body, headers=plain).status_code == 401
    wrong = {**plain, "Authorization": "Bearer not-the-token"}
    assert httpx.post(proxy.url, content=body, headers=wrong).status_code == 401
    assert proxy.post(USER_OP, Host="evil.example").status_code in (403, 421)
    assert proxy.post(USER_OP, Origin="https://evil.example").status_code == 403
    assert httpx.get(proxy.url, headers=proxy.headers).status_code == 405
    other = proxy.url.replace("/totara/webapi/ajax.php", "/login/index.php")
    assert httpx.post(other, headers=proxy.headers).status_code == 404
    refused = proxy.post([USER_OP, {"operationName": "core_file_unused_draft_item_id"}])
    assert refused.status_code == 400
    assert "is a mutation" in refused.json()["errors"][0]["message"]  # Totara's error shape
    assert "/collect" not in " ".join(proxy.site.access_log)


def test_node_fetch_or_curl_uses_the_proxy_and_the_process_list_holds_no_secret(
    proxy: Proxy, tmp_path: Path
) -> None:
    secrets = proxy.secrets()
    env = {**os.environ, "URL": proxy.url, "TOKEN": proxy.token}
    node = shutil.which("node") or shutil.which("nodejs")
    if node:
        script = tmp_path / "call.mjs"
        script.write_text(
            "const r = await fetch(process.env.URL, {method: 'POST', headers: {"
            "'Authorization': `Bearer ${process.env.TOKEN}`, 'Content-Type': 'application/json'},"
            " body: JSON.stringify({operationName: 'totara_job_my_assignments', variables: {}})});"
            "console.log(await r.text());\n"
        )
        command = [node, str(script)]
    else:
        call = (
            "curl -s -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' "
            '--data \'{"operationName":"totara_job_my_assignments","variables":{}}\' "$URL"'
        )
        command = ["sh", "-c", call]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["data"]["totara_job_my_assignments"][0]["idnumber"] == "alice"
    lines = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            lines.append(Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"))
        except OSError:
            continue
    assert not any(secret in line for secret in secrets for line in lines)


def test_the_unix_socket_is_0600_and_serves_its_user(proxy: Proxy) -> None:
    assert stat.S_IMODE(proxy.socket.stat().st_mode) == 0o600
    transport = httpx.HTTPTransport(uds=str(proxy.socket))
    with httpx.Client(transport=transport, headers=proxy.headers) as client:
        answer = client.post("http://proxy/totara/webapi/ajax.php", json=USER_OP)
        assert answer.json()["data"]["totara_job_my_assignments"][0]["idnumber"] == "alice"
        assert client.post("http://proxy/totara/webapi/ajax.php", json=USER_OP,
                           headers={"Authorization": "Bearer no"}).status_code == 401  # fmt: skip
    stderr_of(proxy)
    assert not proxy.socket.exists()  # removed on the way out


def test_a_session_that_cannot_be_renewed_gets_totaras_answer_and_one_line(
    harvest: HarvestRunner, make_totara_site: Callable[..., DevSite]
) -> None:
    site = make_totara_site({"alice": "pw1"})
    assert harvest.login(site.url).code == 0  # no saved password
    proc = harvest.popen("proxy", "--user", "alice", "--site", site.url, "--quiet")
    assert proc.stdout is not None
    url = proc.stdout.readline().removeprefix("harvest proxy: ").strip()
    token = proc.stdout.readline().rsplit(" ", 1)[1].strip()
    try:
        site.state.kill_sessions("alice")
        for _ in range(3):
            answer = httpx.post(url, json=USER_OP, headers={"Authorization": f"Bearer {token}"})
            assert answer.json()["errors"][0]["extensions"]["category"] == "require_login"
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0
    told = [line for line in err.splitlines() if "could not be renewed" in line]
    assert len(told) == 1 and "harvest login --user alice" in told[0]


def test_exec_proxy_gives_the_child_the_api_and_never_the_secrets(
    harvest: HarvestRunner, make_totara_site: Callable[..., DevSite]
) -> None:
    site = make_totara_site({"alice": "pw1"}, cookie_suffix="ex")
    assert harvest.login(site.url, "--save-password").code == 0
    raw = keyring.get_password(f"harvester:session:{site.url}", "alice")
    assert raw
    entry = json.loads(raw)
    script = (
        'env; curl -s -H "Authorization: Bearer $TOTARA_PROXY_TOKEN" '
        "-H 'Content-Type: application/json' "
        '--data \'{"operationName":"totara_job_my_assignments","variables":{}}\' '
        '"$TOTARA_AJAX_URL"; exit 3'
    )
    result = harvest(
        "exec", "--proxy", "--user", "alice", "--site", site.url, "--", "sh", "-c", script
    )
    assert result.code == 3, result.err  # the child's own exit code
    assert '"idnumber":"alice"' in result.out
    assert "TOTARA_AJAX_URL=http://127.0.0.1:" in result.out
    assert entry["cookie_value"] not in result.out and entry["sesskey"] not in result.out
    assert "TOTARA_COOKIE=" not in result.out and "TOTARA_SESSKEY=" not in result.out


@pytest.fixture
def quick_proxy(
    harvest: HarvestRunner, make_totara_site: Callable[..., DevSite], tmp_path: Path
) -> Iterator[Proxy]:
    """A proxy whose exchanges with the site end after 3 s (--timeout)."""
    site = make_totara_site({"alice": "pw1"})
    assert harvest.login(site.url).code == 0
    proc = harvest.popen("proxy", "--user", "alice", "--site", site.url, "--timeout", "3")
    assert proc.stdout is not None
    url = proc.stdout.readline().removeprefix("harvest proxy: ").strip()
    token = proc.stdout.readline().rsplit(" ", 1)[1].strip()
    yield Proxy(proc, url, token, site, tmp_path / "unused.sock")
    end_proxy(proc)


def test_site_trouble_through_the_proxy_is_a_502_in_totaras_shape_never_a_dead_session(
    quick_proxy: Proxy,
) -> None:
    """The proxy's own data path (proxy/upstream.py) keeps exchange's rules: a deadline, a size
    bound after decompression, and the site's own error answers passed on as they are."""
    from harvester.devsite.faults import Faults

    proxy, state = quick_proxy, quick_proxy.site.state
    cases = {
        "a dribbling answer": Faults(drip=0.5),
        "a compression bomb": Faults(bomb_mib=1024),
        "an answer over 16 MiB": Faults(oversize_mib=20),
    }
    for what, faults in cases.items():
        state.faults = faults
        answer = proxy.post(USER_OP)
        assert answer.status_code == 502, what
        message = answer.json()["errors"][0]["message"]
        assert "require_login" not in message and "\n" not in message, (what, message)
    state.faults = Faults(ajax_status=502, ajax_body="<h1>502 Bad Gateway</h1>")
    passed = proxy.post(USER_OP)
    assert passed.status_code == 502 and b"Bad Gateway" in passed.content  # the site's own
    state.faults = Faults()
    assert proxy.post(USER_OP).json()["data"]["totara_job_my_assignments"][0]["idnumber"] == "alice"
    assert proxy.logins() == 1  # none of it was taken for an ended session
