"""Fault injection: sessions killed under load, a keyring daemon restarted, Chromium killed
mid-login, two processes saving the same user at once."""

from __future__ import annotations

import json
import os
import random
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import keyring
import pytest

from harvester.devsite import DevSite
from harvester.devsite.app import Request
from harvester.devsite.faults import Faults
from harvester.logins.browser.runner import BROWSER_LOST
from harvester.logins.flow import ONCE_MORE
from harvester.testing.private_keyring import PrivateSecretService

from .conftest import ALICE_PASSWORD, HarvestRunner

USER_OP = "totara_job_my_assignments"


def works(site: DevSite, secret: str) -> bool:
    entry = json.loads(secret)
    answer = httpx.post(
        f"{site.url}/totara/webapi/ajax.php",
        json={"operationName": USER_OP, "variables": {}},
        headers={
            "Cookie": f"{entry['cookie_name']}={entry['cookie_value']}",
            "X-Totara-Sesskey": entry["sesskey"],
        },
    )
    return "data" in answer.json()


def test_50_concurrent_requests_while_the_site_kills_sessions_at_random(
    harvest: HarvestRunner, site: DevSite
) -> None:
    assert harvest.login(site.url, "--save-password").code == 0
    logins_before = site.count("POST", "/login/index.php")
    calls_before = site.count("POST", "/totara/webapi/ajax.php")
    procs = [
        harvest.popen("request", USER_OP, "--user", "alice", "--site", site.url, HARVEST_DEBUG="1")
        for _ in range(50)
    ]
    kills: list[int] = []
    done = threading.Event()
    seed = os.environ.get("HARVEST_FAULT_SEED") or str(random.randrange(1 << 32))
    print(f"HARVEST_FAULT_SEED={seed}")  # shown with a failure: the same moments run again
    chance = random.Random(seed)

    def killer() -> None:  # at random moments, as an admin or a timeout would
        # the first kill only once the requests have begun: it must find them under way
        while not done.is_set() and site.count("POST", "/totara/webapi/ajax.php") == calls_before:
            done.wait(0.01)
        while not done.wait(chance.uniform(0.1, 2.0)) and len(kills) < 4:
            kills.append(site.state.kill_sessions("alice"))

    thread = threading.Thread(target=killer)
    thread.start()
    results = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=300)
            results.append((proc.returncode, out, err))
    finally:
        done.set()
        thread.join()
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    failures = [(code, err) for code, _, err in results if code != 0]
    assert not failures, failures[:3]
    assert all('"idnumber": "alice"' in out for _, out, _ in results)
    relogins = site.count("POST", "/login/index.php") - logins_before
    # The kills landed on live sessions while requests ran (else nothing was proven here)
    assert any(kills), (seed, kills)
    assert relogins >= 1, (seed, kills)
    # The locks hold: one re-login per kill that found a live session, never one per process.
    assert relogins <= sum(1 for killed in kills if killed), (relogins, kills)
    per_process = [err.count("logged alice in again") for _, _, err in results]
    assert max(per_process) <= 1
    # a kill between a renewal's login and its verification costs that renewal one more login
    once_more = sum(err.count(ONCE_MORE) for _, _, err in results)
    assert sum(per_process) + once_more == relogins


@pytest.mark.parametrize("way", ["agent", "own browser"])
def test_a_session_the_site_ends_at_once_costs_one_more_login_then_is_reported(
    harvest: HarvestRunner, make_totara_site: Callable[..., DevSite], way: str
) -> None:
    """As where concurrent logins are limited and another login of the user comes between
    harvester's login and its verification (--end-new-sessions)."""
    site = make_totara_site({"alice": ALICE_PASSWORD})
    extra = ("--no-agent",) if way == "own browser" else ()
    site.state.faults = Faults(end_new_sessions=1)
    first = harvest.login(site.url, *extra)
    assert first.code == 0, first.err
    assert first.err.count(ONCE_MORE) == 1
    assert site.count("POST", "/login/index.php") == 2
    works_now = harvest("request", USER_OP, "--user", "alice", "--site", site.url)
    assert works_now.code == 0 and '"idnumber": "alice"' in works_now.out

    site.state.faults = Faults(end_new_sessions=2)
    second = harvest.login(site.url, *extra)
    assert second.code == 7, second.err
    assert "ended the new session before it could be verified" in second.err
    assert second.err.count(ONCE_MORE) == 1 and len(second.err.strip().splitlines()) == 2
    kept = harvest("request", USER_OP, "--user", "alice", "--site", site.url)
    assert kept.code == 0 and '"idnumber": "alice"' in kept.out  # the stored session is kept


def test_a_keyring_daemon_restarted_between_login_and_use_loses_nothing(
    harvest: HarvestRunner, site: DevSite
) -> None:
    spare = PrivateSecretService()
    env = spare.start()
    try:
        assert harvest.login(site.url, "--save-password", **env).code == 0
        spare.restart_keyring()
        shown = harvest("env", "--user", "alice", "--site", site.url, "--format", "json", **env)
        assert shown.code == 0, shown.err
        answer = harvest("request", USER_OP, "--user", "alice", "--site", site.url, **env)
        assert answer.code == 0, answer.err
        site.state.kill_sessions("alice")  # the saved password survived the restart too
        again = harvest("request", USER_OP, "--user", "alice", "--site", site.url, **env)
        assert again.code == 0, again.err
    finally:
        spare.stop()


def browsers_using(folder: str) -> list[tuple[int, str]]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                line = handle.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if folder in line:
            found.append((int(entry), line))
    return found


@pytest.mark.own_browser  # it kills the CLI's own browser
def test_chromium_killed_mid_login_is_a_clean_error_with_no_orphans(
    harvest: HarvestRunner, make_totara_site: Callable[..., DevSite]
) -> None:
    slow = make_totara_site({"alice": ALICE_PASSWORD})
    # the login page is held until the browser is killed: the kill lands mid-login, never
    # while the browser is still starting (a sleep decided that before, and lost under load)
    asked, release = threading.Event(), threading.Event()

    def hold(where: str, request: Request) -> None:
        if where == "site" and "/login/index.php" in request.path and not asked.is_set():
            asked.set()
            release.wait(60)

    slow.hold = hold
    proc = harvest.popen(
        "login",
        "--user",
        "alice",
        "--site",
        slow.url,
        "--password-stdin",
        input=f"{ALICE_PASSWORD}\n",
    )
    folder = str(harvest.tmpdir)
    try:
        deadline = time.monotonic() + 60
        main: list[int] = []
        while not main:
            assert proc.poll() is None and time.monotonic() < deadline, "no browser appeared"
            main = [
                pid for pid, line in browsers_using(folder) if "--remote-debugging-pipe" in line
            ]
            time.sleep(0.02)
        assert asked.wait(60), "the browser never asked for the login page"
        os.kill(main[0], signal.SIGKILL)
        _out, err = proc.communicate(timeout=60)
    finally:
        release.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1, err
    assert err == f"harvest: error: {BROWSER_LOST}\n"
    assert keyring.get_password(f"harvester:session:{slow.url}", "alice") is None
    deadline = time.monotonic() + 5
    while browsers_using(folder) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert browsers_using(folder) == []
    assert not list(harvest.tmpdir.iterdir())


def test_two_processes_saving_the_same_user_at_once_leave_one_consistent_entry(
    harvest: HarvestRunner, site: DevSite
) -> None:
    # Both logins' last verification request waits for the other's: they are answered
    # together, so the two saves that follow them run at the same moment.
    both = threading.Barrier(2, timeout=120)
    met: list[str] = []

    def together(where: str, request: Request) -> None:
        # the verifying page fetch: harvester's HTTP client, not the browser
        verifying = request.method == "GET" and "httpx" in request.headers.get("user-agent", "")
        if where == "site" and verifying:
            both.wait()
            met.append(request.path)

    site.hold = together
    procs = [
        harvest.popen(
            "login",
            "--user",
            "alice",
            "--site",
            site.url,
            "--password-stdin",
            input=f"{ALICE_PASSWORD}\n",
        )
        for _ in range(2)
    ]
    for proc in procs:
        proc.wait(120)
        assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
    assert len(met) == 2  # both verifications met: the saves overlapped
    secret = keyring.get_password(f"harvester:session:{site.url}", "alice")
    assert secret is not None and works(site, secret)
    status = harvest("status", "--json")
    rows = [r for r in json.loads(status.out) if r["user"] == "alice"]
    assert len(rows) == 1  # one index entry, matching the one keyring entry
    stored = json.loads(secret)
    assert rows[0]["cookie_name"] == stored["cookie_name"]
    # the same login's: without the write lock one save's index row can sit beside the other's
    # secret (measured: 1 run in 10 failed here with the lock taken out of sessions._both; the
    # next test makes that moment on purpose)
    assert rows[0]["obtained_at"] == stored["obtained_at"]


def test_a_save_that_starts_during_another_saves_keyring_write_waits_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The moment the two-process test above meets only by chance, made on purpose: the second
    save starts while the first is inside its keyring write. Without the write lock it runs to
    the end there, and the first then puts its secret beside the second's index row."""
    from harvester.store import keyring_access
    from harvester.store.session import Session
    from harvester.store.sessions import SessionStore

    store = SessionStore(tmp_path / "state")
    site = "http://127.0.0.1:9/lock-test"
    first = Session(site, "alice", "TotaraSession", "first-cookie", "Sess1111", obtained_at=1.0)
    second = Session(site, "alice", "TotaraSession", "second-cookie", "Sess2222", obtained_at=2.0)
    real_set = keyring_access.set_secret
    second_save: list[threading.Thread] = []

    def set_secret(service: str, user: str, secret: str) -> None:
        if "first-cookie" in secret:  # inside the first save's keyring write: start the second
            thread = threading.Thread(target=store.save, args=(second,))
            thread.start()
            second_save.append(thread)
            # Locked, it waits until this write is done, so it cannot finish within the bound;
            # unlocked, it finishes now. The bound only ends the wait: it decides no order.
            thread.join(timeout=3)
        real_set(service, user, secret)

    monkeypatch.setattr(keyring_access, "set_secret", set_secret)
    try:
        store.save(first)
        second_save[0].join(timeout=60)
        [row] = [e for e in store.entries() if e.user == "alice"]
        stored = store.load(site, "alice")
        assert stored is not None
        assert stored.cookie_value == "second-cookie"  # the later save wins, whole
        assert row.obtained_at == stored.obtained_at == 2.0
        # the write lock made the state folder: as private as the index would have made it
        assert (tmp_path / "state").stat().st_mode & 0o777 == 0o700
    finally:
        keyring.delete_password(f"harvester:session:{site}", "alice")
