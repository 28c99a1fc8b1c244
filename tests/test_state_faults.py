"""harvester's own state under accidents (issue 12): a full disk during login and logout, a
damaged index at login, and a logout racing a refresh. Keyring and index must tell one story."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import keyring
import pytest

from harvester.devsite import DevSite
from harvester.devsite.app import Request
from harvester.site.wwwroot import Wwwroot
from harvester.store.sessions import SessionStore
from harvester.upkeep.logout import _logout

from .conftest import ALICE_PASSWORD, HarvestRunner


def story(harvest: HarvestRunner, site: DevSite) -> tuple[bool, bool]:
    """(does the index list alice at the site, does the keyring hold her session)."""
    rows = json.loads(harvest("status", "--json").out or "[]")
    listed = any(r["site"] == site.url and r["user"] == "alice" for r in rows)
    held = keyring.get_password(f"harvester:session:{site.url}", "alice") is not None
    return listed, held


@pytest.fixture
def small_disk() -> Iterator[Path]:
    """A 1 MiB tmpfs of our own (mounted here, unmounted here); skipped where mounting is not
    allowed (not root, or no CAP_SYS_ADMIN)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root (CI runs as root)")
    folder = Path(tempfile.mkdtemp(prefix="hv-disk-"))
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        folder.rmdir()
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=False)
        folder.rmdir()


def fill(folder: Path) -> None:
    """Fill the filesystem of *folder* to the last byte."""
    with open(folder / "ballast", "wb", buffering=0) as out:
        try:
            while True:
                out.write(b"\0" * 4096)
        except OSError:
            pass
    # and the last inode-less bytes: tiny files until nothing fits
    for number in range(1000):
        try:
            (folder / f"crumb{number}").write_bytes(b"x")
        except OSError:
            break


def test_a_full_disk_during_login_and_logout_leaves_keyring_and_index_agreeing(
    small_disk: Path, make_totara_site: Callable[..., DevSite], harvest: HarvestRunner
) -> None:
    site = make_totara_site({"alice": ALICE_PASSWORD})
    harvest.env["XDG_STATE_HOME"] = str(small_disk)
    assert harvest.login(site.url).code == 0
    first = keyring.get_password(f"harvester:session:{site.url}", "alice")
    fill(small_disk)

    again = harvest.login(site.url)
    assert again.code == 9, again.err
    assert again.err.count("\n") == 1 and "No space left on device" in again.err
    assert story(harvest, site) == (True, True)
    assert keyring.get_password(f"harvester:session:{site.url}", "alice") == first

    logout = harvest("logout", "--user", "alice", "--site", site.url)
    assert logout.code == 9, logout.err
    assert "ended alice's session" in logout.err and "still there" in logout.err
    assert story(harvest, site) == (True, True)  # both still hold the (now dead) copy

    (small_disk / "ballast").unlink()
    done = harvest("logout", "--user", "alice", "--site", site.url)
    assert done.code == 0 and "already ended" in done.out, done.err
    assert story(harvest, site) == (False, False)


def test_login_with_a_damaged_index_warns_once_and_stores(
    site: DevSite, harvest: HarvestRunner
) -> None:
    folder = Path(harvest.env["XDG_STATE_HOME"]) / "harvester"
    folder.mkdir(parents=True)
    (folder / "sessions.json").write_text('{"v": 1, "sessions": {"oops": true}}')
    result = harvest.login(site.url)
    assert result.code == 0, result.err
    assert result.err.count("harvest: warning: ") == 1 and "no list of sessions" in result.err
    assert list(folder.glob("sessions.json.damaged-*"))
    assert story(harvest, site) == (True, True)


def test_logout_during_a_refresh_waits_for_it_and_stays_logged_out(
    make_totara_site: Callable[..., DevSite], harvest: HarvestRunner
) -> None:
    site = make_totara_site({"alice": ALICE_PASSWORD})
    assert harvest.login(site.url, "--save-password").code == 0
    checking, release = threading.Event(), threading.Event()

    def hold(where: str, request: Request) -> None:  # the refresh's check, held open
        if where == "site" and request.path.endswith("/ajax.php") and not checking.is_set():
            checking.set()
            release.wait(60)

    site.hold = hold
    refresh = harvest.popen("refresh", "--user", "alice")
    try:
        assert checking.wait(60), "the refresh never checked the session"
        # the refresh holds alice's lock while it checks: the logout must wait for it. Give it
        # time to get there (this decides nothing: the held check keeps the order), and it
        # must neither finish nor reach the site meanwhile.
        logout = harvest.popen("logout", "--user", "alice", "--site", site.url)
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            assert logout.poll() is None, "the logout finished while the refresh held the lock"
            assert site.count("GET", "/login/logout.php") == 0
            time.sleep(0.05)
    finally:
        release.set()
    out, err = refresh.communicate(timeout=120)
    _out, logout_err = logout.communicate(timeout=120)
    assert refresh.returncode == 0 and "still logged in" in out, out + err
    assert logout.returncode == 0, logout_err
    assert story(harvest, site) == (False, False)
    env = harvest("env", "--user", "alice", "--site", site.url)
    assert env.code == 4 and "no stored session" in env.err
    assert site.count("POST", "/login/index.php") == 1  # the refresh logged nobody in again


def test_a_refresh_round_does_not_log_in_again_what_was_logged_out_meanwhile(
    make_totara_site: Callable[..., DevSite], harvest: HarvestRunner
) -> None:
    """bob is logged out after the round listed him and before it reached him: the round
    reports him removed and does not log him in again."""
    site = make_totara_site({"alice": ALICE_PASSWORD, "bob": "bob-pw"})
    assert harvest.login(site.url, "--save-password").code == 0
    assert harvest.login(site.url, "--save-password", user="bob", password="bob-pw").code == 0
    site.state.expire_sessions("alice")
    store = SessionStore(Path(harvest.env["XDG_STATE_HOME"]) / "harvester")
    logging_in = threading.Event()

    def seen(where: str, request: Request) -> None:
        if where == "site" and request.method == "POST" and "/login/" in request.path:
            logging_in.set()

    site.hold = seen
    bobs = store.lock(site.url, "bob")
    bobs.acquire()  # the round lists bob, then waits here for his lock
    try:
        refresh = harvest.popen("refresh", "--all", "--concurrency", "1")
        # alice's login is under way: the round, which takes every lock at once, started
        # waiting for bob's when it began, seconds before
        assert logging_in.wait(120), "the round never logged alice in"
        # logged out meanwhile: what `harvest logout` does under the lock, which we hold
        _logout(store, Wwwroot(site.url), "bob", timeout=30, local=False)
    finally:
        bobs.release()
    out, err = refresh.communicate(timeout=180)
    assert refresh.returncode == 0, out + err
    assert "1 removed" in out, out
    assert site.count("GET", "/login/logout.php") == 1
    rows = json.loads(harvest("status", "--json").out)
    assert [r["user"] for r in rows if r["cookie_name"]] == ["alice"], (out, err)
