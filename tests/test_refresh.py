"""Keeping sessions fresh: refresh, automatic re-login, cross-process locks, --every, schedule."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from harvester.devsite import DevSite
from harvester.store.session import Session
from harvester.store.sessions import SessionStore

from .conftest import ALICE_PASSWORD, HARVEST, HarvestRunner
from .test_login_cli import browsers_started_from


def store_of(harvest: HarvestRunner) -> SessionStore:
    return SessionStore(Path(harvest.env["XDG_STATE_HOME"]) / "harvester")


def login(
    harvest: HarvestRunner,
    site: DevSite,
    *extra: str,
    user: str = "alice",
    password: str = ALICE_PASSWORD,
) -> None:
    result = harvest.login(site.url, *extra, user=user, password=password)
    assert result.code == 0, result.err


def logins(site: DevSite) -> int:
    return site.count("POST", "/login/index.php")


def test_expired_session_is_seen_refreshed_with_one_login_and_usable(
    make_totara_site: Callable[..., DevSite], harvest: HarvestRunner
) -> None:
    site = make_totara_site({"alice": ALICE_PASSWORD})
    login(harvest, site, "--save-password")
    site.state.session_timeout = 0.5  # the site's own idle timeout passes...
    time.sleep(1)
    checked = harvest("status", "--check", "--json")
    assert checked.code == 4 and json.loads(checked.out)[0]["valid"] is False
    site.state.session_timeout = 7200.0  # ...and the renewed session does not idle out again
    before = logins(site)
    result = harvest("refresh", "--user", "alice")
    assert result.code == 0, result.err
    assert "alice" in result.out and "refreshed" in result.out
    assert logins(site) == before + 1
    request = harvest("request", "totara_job_my_assignments", "--user", "alice")
    assert request.code == 0, request.err
    assert logins(site) == before + 1


def test_request_on_an_expired_session_logs_in_again_by_itself(
    site: DevSite, harvest: HarvestRunner
) -> None:
    login(harvest, site, "--save-password")
    site.state.expire_sessions("alice")
    result = harvest("request", "totara_job_my_assignments", "--user", "alice")
    assert result.code == 0, result.err
    assert json.loads(result.out)["data"]["totara_job_my_assignments"][0]["idnumber"] == "alice"
    assert logins(site) == 2


def test_request_on_an_expired_session_without_saved_password_exits_4_naming_the_next_step(
    site: DevSite, harvest: HarvestRunner
) -> None:
    login(harvest, site)
    site.state.expire_sessions("alice")
    result = harvest("request", "totara_job_my_assignments", "--user", "alice")
    assert result.code == 4
    assert f"harvest login --user alice --site {site.url}" in result.err
    assert "--save-password" in result.err and result.err.count("\n") == 1
    assert logins(site) == 1


def test_four_concurrent_refreshes_make_exactly_one_login(
    site: DevSite, harvest: HarvestRunner
) -> None:
    login(harvest, site, "--save-password")
    site.state.expire_sessions("alice")
    before = logins(site)
    procs = [
        subprocess.Popen(
            [HARVEST, "refresh", "--user", "alice"],
            env=harvest.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = [proc.communicate(timeout=120) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0, 0], outputs
    assert logins(site) == before + 1
    text = "".join(out for out, _ in outputs)
    assert text.count(": refreshed:") == 1 and text.count(": alive:") == 3


def test_refresh_all_over_20_users_one_wrong_password(
    make_totara_site: Callable[..., DevSite], harvest: HarvestRunner
) -> None:
    users = {f"user{i:02d}": f"pw-{i}" for i in range(20)}
    site = make_totara_site(users)
    store = store_of(harvest)
    for name, password in users.items():  # 20 dead sessions with saved passwords
        store.save(Session(site.url, name, "TotaraSession", f"dead{name}", "deadsesskey"))
        store.save_password(site.url, name, "wrong" if name == "user07" else password)
    result = harvest("refresh", "--all", "--concurrency", "4")
    assert result.code == 3, result.out + result.err
    assert result.out.count(": refreshed:") == 19
    assert "user07 at" in result.out and "FAILED" in result.out and "Invalid login" in result.out
    assert "20 sessions: 0 alive, 19 refreshed, 1 failed" in result.out
    assert logins(site) == 20
    assert browsers_started_from(harvest.tmpdir) == []
    assert list(harvest.tmpdir.iterdir()) == []
    fresh = store.load(site.url, "user03")
    assert fresh is not None and fresh.cookie_value != "deaduser03"


def test_refresh_every_survives_the_site_going_down_and_stops_on_sigterm(
    make_totara_site: Callable[..., DevSite], harvest: HarvestRunner, tmp_path: Path
) -> None:
    site = make_totara_site({"alice": ALICE_PASSWORD})
    login(harvest, site, "--save-password")
    port = int(site.url.rsplit(":", 1)[1])
    said = tmp_path / "refresh.err"  # its stderr, read on failure
    with open(said, "w") as stderr:
        proc = subprocess.Popen(
            [HARVEST, "refresh", "--all", "--every", "10s"],  # the least --every allows
            env={**harvest.env, "HARVEST_DEBUG": "1"},
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    assert proc.stdout is not None

    printed: list[str] = []

    def next_summary() -> str:
        while True:
            line = proc.stdout.readline()  # type: ignore[union-attr]
            assert line, "refresh --every ended early"
            printed.append(line)
            if " sessions: " in line:
                return line

    try:
        assert "1 alive" in next_summary()
        site.stop()  # the site goes down ...
        # SIGUSR1 ends each wait at once (the waits themselves: the test of repeat above)
        proc.send_signal(signal.SIGUSR1)
        assert "1 failed" in next_summary()
        back = make_totara_site({"alice": ALICE_PASSWORD}, port=port)  # ... and comes back,
        proc.send_signal(signal.SIGUSR1)
        summary = next_summary()  # with all sessions lost: refresh logs in again
        assert "1 refreshed" in summary, "".join(printed) + said.read_text()
        assert logins(back) == 1
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        assert "Stopped." in said.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_repeat_doubles_its_wait_while_a_site_is_unreachable_and_a_wake_ends_a_wait() -> None:
    """refresh --every's loop, in process: the waits it chose, and SIGUSR1's wake."""
    from harvester.errors import SiteUnreachable
    from harvester.upkeep.refresh import RefreshResult, repeat

    stop = threading.Event()
    waits: list[tuple[float, bool]] = []
    down = SiteUnreachable("the site is down")
    unreachable = RefreshResult("http://127.0.0.1:9", "alice", "failed", "down", error=down)
    alive = RefreshResult("http://127.0.0.1:9", "alice", "alive", "")
    answers = [unreachable, unreachable, alive, alive]

    class Waits(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            assert timeout is not None
            waits.append((timeout, self.is_set()))  # set: a real wait would end at once
            return True  # the test never sleeps

    wake = Waits()

    def one_round() -> list[RefreshResult]:
        if len(answers) == 4:
            wake.set()  # SIGUSR1 during the first round
        result = answers.pop(0)
        if not answers:
            stop.set()
        return [result]

    repeat(10.0, one_round, stop, wake, jitter=0.0)
    # doubled twice, back to the interval once it answers; the wake that came during the
    # first round ends the wait after it, and each round's start clears it
    assert waits == [(20.0, True), (40.0, False), (10.0, False)]


def test_refresh_needs_a_selection(harvest: HarvestRunner) -> None:
    result = harvest("refresh")
    assert result.code == 2 and "--all" in result.err


def test_schedule_show_prints_units_that_systemd_accepts(
    harvest: HarvestRunner, tmp_path: Path
) -> None:
    result = harvest("schedule", "show", "--backend", "systemd", "--every", "15m")
    assert result.code == 0, result.err
    assert "OnUnitActiveSec=900s" in result.out and "refresh --all" in result.out
    units: dict[str, str] = {}
    current = None
    for line in result.out.splitlines():
        if line.startswith("# /"):  # each unit file is introduced by its path
            current = Path(line[2:]).name
            units[current] = ""
        elif line.startswith("# then:"):
            current = None
        elif current:
            units[current] += line + "\n"
    assert set(units) == {"harvester-refresh.service", "harvester-refresh.timer"}
    for name, body in units.items():
        (tmp_path / name).write_text(body)
    if subprocess.run(["which", "systemd-analyze"], capture_output=True).returncode != 0:
        pytest.skip("systemd-analyze is not installed")
    verify = subprocess.run(
        ["systemd-analyze", "verify", *units], cwd=tmp_path, capture_output=True, text=True
    )
    assert verify.returncode == 0, verify.stderr


def test_schedule_install_and_remove_with_cron(harvest: HarvestRunner, tmp_path: Path) -> None:
    # A stand-in crontab that keeps the table in a file: our side of the conversation is real.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    table = tmp_path / "crontab.txt"
    fake = bin_dir / "crontab"
    fake.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = "-l" ]; then cat {table} 2>/dev/null || exit 1; else cat > {table}; fi\n'
    )
    fake.chmod(0o755)
    table.write_text("0 1 * * * backup-job\n")
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}"}
    shown = harvest("schedule", "show", "--backend", "cron", "--every", "30m", **env)
    assert shown.out.strip().endswith("# harvester-refresh") and "*/30 * * * *" in shown.out
    assert harvest("schedule", "install", "--backend", "cron", "--every", "30m", **env).code == 0
    lines = table.read_text().splitlines()
    assert lines[0] == "0 1 * * * backup-job" and "refresh --all" in lines[1]
    removed = harvest("schedule", "remove", **env)
    assert removed.code == 0 and "crontab entry" in removed.out
    assert table.read_text().splitlines() == ["0 1 * * * backup-job"]


def test_a_process_logs_in_once_then_only_adopts_another_process_renewal(
    site: DevSite, tmp_path: Path
) -> None:
    """refresh_hook's promise: a process whose renewed session dies again never logs in a
    second time; it adopts a session another process renewed, or gives up (NoSession)."""
    import harvester
    from harvester.errors import NoSession
    from harvester.handoff.client import TotaraClient
    from harvester.upkeep.refresh import refresh_hook

    store = SessionStore(tmp_path / "state")
    first = harvester.login(site.url, "alice", ALICE_PASSWORD, store=store, save_password=True)
    before = logins(site)
    with TotaraClient(site.url, first, on_expired=refresh_hook(store, 30)) as client:
        site.state.expire_sessions("alice")
        client.call("totara_webapi_status")  # renewed: this process's one login
        assert logins(site) == before + 1
        site.state.expire_sessions("alice")
        with pytest.raises(NoSession, match="not logging in again"):
            client.call("totara_webapi_status")
        assert logins(site) == before + 1  # no second login from this process
        other = harvester.login(
            site.url, "alice", ALICE_PASSWORD, store=SessionStore(store.state_path)
        )
        client.call("totara_webapi_status")  # adopts what the other process stored
        assert logins(site) == before + 2
        assert client.session is not None
        assert client.session.cookie_value == other.cookie_value


def test_a_schedule_survives_a_venv_whose_path_holds_a_space_and_a_percent(
    site: DevSite, harvest: HarvestRunner, tmp_path: Path
) -> None:
    """harvester in a venv under `My Tools %x/`: the cron line, run as cron runs it (its %
    unescaped, then sh -c), refreshes; the systemd unit names the same executable."""
    import shlex
    import sys

    venv = tmp_path / "My Tools %x" / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    # harvester and its dependencies from this environment, and the launcher pip writes for an
    # interpreter path with a space (a #! line cannot hold one)
    [inner] = venv.glob("lib/python*/site-packages")
    outer = [p for p in sys.path if p.endswith("site-packages")]
    (inner / "outer.pth").write_text(f"import site; list(map(site.addsitedir, {outer!r}))\n")
    executable = venv / "bin" / "harvest"
    executable.write_text(
        f"#!/bin/sh\n'''exec' {shlex.quote(str(venv / 'bin' / 'python'))} \"$0\" \"$@\"\n' '''\n"
        "import sys\nfrom harvester.cli import main\nsys.exit(main())\n"
    )
    executable.chmod(0o755)
    env = {"PATH": f"{venv / 'bin'}:{os.environ['PATH']}"}
    login(harvest, site, "--save-password")
    shown = harvest("schedule", "show", "--backend", "cron", "--every", "1m", **env)
    assert shown.code == 0, shown.err
    [line] = [text for text in shown.out.splitlines() if text.endswith("# harvester-refresh")]
    command = line.split(None, 5)[5]
    assert str(executable).replace("%", "\\%") in command  # cron's escape, inside sh's quotes
    # as cron runs it: \% back to %, on the bus where this test's keyring is
    command = command.replace("\\%", "%")
    command = re.sub(
        r"DBUS_SESSION_BUS_ADDRESS=\S+",
        f"DBUS_SESSION_BUS_ADDRESS={shlex.quote(os.environ['DBUS_SESSION_BUS_ADDRESS'])}",
        command,
    )
    site.state.kill_sessions("alice")
    before = logins(site)
    ran = subprocess.run(
        ["sh", "-c", command], env={**harvest.env, **env}, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    state = Path(harvest.env["XDG_STATE_HOME"]) / "harvester" / "refresh.log"
    assert ran.returncode == 0, state.read_text() if state.exists() else ran.stderr
    assert logins(site) == before + 1  # it refreshed
    assert "refreshed" in state.read_text()
    units = harvest("schedule", "show", "--backend", "systemd", "--every", "15m", **env)
    [exec_start] = [text for text in units.out.splitlines() if text.startswith("ExecStart=")]
    quoted = str(executable).replace("%", "%%").replace('"', '\\"')
    assert exec_start == f'ExecStart="{quoted}" refresh --all'
    if shutil.which("systemd-analyze"):  # systemd's own reading of the unit, where it exists
        service = units.out.split("# /", 1)[1].split("\n", 1)[1].split("# /", 1)[0]
        unit = tmp_path / "harvester-refresh.service"
        unit.write_text(service)
        verify = subprocess.run(
            ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True
        )
        assert verify.returncode == 0, verify.stderr
