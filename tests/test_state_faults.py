"""harvester's own state under accidents (issue 12): a full disk during login and logout, a
damaged index at login, and a logout racing a refresh. Keyring and index must tell one story."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import keyring
import pytest

from harvester.devsite import DevSite

from .conftest import ALICE_PASSWORD, HARVEST, HarvestRunner


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


def test_logout_during_a_slow_refresh_stays_logged_out(
    make_totara_site: Callable[..., DevSite], harvest: HarvestRunner
) -> None:
    site = make_totara_site({"alice": ALICE_PASSWORD})
    assert harvest.login(site.url, "--save-password").code == 0
    site.state.delay = 1.5  # the refresh's check holds the lock for a few seconds
    refresh = harvest.popen("refresh", "--user", "alice")
    time.sleep(0.8)  # the refresh is checking, under the (site, user) lock
    logout = harvest("logout", "--user", "alice", "--site", site.url)
    out, err = refresh.communicate(timeout=120)
    site.state.delay = 0
    assert refresh.returncode == 0, out + err
    assert logout.code == 0, logout.err
    assert story(harvest, site) == (False, False)
    env = harvest("env", "--user", "alice", "--site", site.url)
    assert env.code == 4 and "no stored session" in env.err
    assert site.count("POST", "/login/index.php") == 1  # the refresh logged nobody in again


def test_a_refresh_round_does_not_log_in_again_what_was_logged_out_meanwhile(
    make_totara_site: Callable[..., DevSite], harvest: HarvestRunner
) -> None:
    site = make_totara_site({"alice": ALICE_PASSWORD, "bob": "bob-pw"})
    assert harvest.login(site.url, "--save-password").code == 0
    assert harvest.login(site.url, "--save-password", user="bob", password="bob-pw").code == 0
    site.state.expire_sessions("alice")  # alice needs a login, which takes a while
    site.state.delay = 0.4
    refresh = subprocess.Popen(
        [HARVEST, "refresh", "--all", "--concurrency", "1"],
        env=harvest.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(0.5)
    logout = harvest("logout", "--user", "bob", "--site", site.url)
    out, err = refresh.communicate(timeout=180)
    site.state.delay = 0
    assert logout.code == 0, logout.err
    if "bob at" in out and "removed" in out.split("bob at", 1)[1].splitlines()[0]:
        assert "1 removed" in out
    rows = json.loads(harvest("status", "--json").out)
    assert [r["user"] for r in rows if r["cookie_name"]] == ["alice"], (out, err)
