"""A login interrupted or watched from outside leaks nothing and leaves nothing behind."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import keyring
import pytest

from harvester.devsite import DevSite
from harvester.devsite.app import Request

from .conftest import ALICE_PASSWORD, BOB_PASSWORD, HARVEST, HarvestRunner
from .test_login_cli import browsers_started_from, login, stored_secret

# Ctrl-C and its browser: the CLI's own
pytestmark = pytest.mark.own_browser


def all_command_lines() -> set[str]:
    lines = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            lines.add(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode())
        except (OSError, UnicodeDecodeError):
            continue
    return lines


def start_login(
    harvest: HarvestRunner, site: DevSite, user: str, password: str, **popen: bool
) -> subprocess.Popen[str]:
    """`harvest login --password-stdin` running in the background, the password already sent."""
    proc = subprocess.Popen(
        [HARVEST, "login", "--user", user, "--site", site.url, "--password-stdin"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=harvest.env,
        **popen,
    )
    assert proc.stdin is not None
    proc.stdin.write(f"{password}\n")
    proc.stdin.close()
    return proc


def test_no_secret_in_any_process_argument_list_during_login(
    site: DevSite, harvest: HarvestRunner
) -> None:
    proc = start_login(harvest, site, "bob", BOB_PASSWORD)
    seen: set[str] = set()
    while proc.poll() is None:
        seen |= all_command_lines()
        time.sleep(0.02)
    assert proc.wait() == 0, proc.stderr.read() if proc.stderr else ""
    secret = stored_secret(site, "bob")
    assert secret is not None
    assert any("chromium" in line or "chrome" in line for line in seen)  # we did watch it
    for value in (secret["cookie_value"], secret["sesskey"], BOB_PASSWORD):
        assert not [line for line in seen if str(value) in line]


@pytest.mark.parametrize("moment", ["login page served", "login form posted"])
def test_ctrl_c_during_login_stores_nothing_and_leaves_no_browser_or_profile(
    site: DevSite, harvest: HarvestRunner, moment: str
) -> None:
    assert login(harvest, site).code == 0
    before = stored_secret(site)
    method = "GET" if moment == "login page served" else "POST"
    # the site holds the request of that moment until the signal has been sent: the Ctrl-C
    # lands there, every time, however fast or slow the machine
    asked, release = threading.Event(), threading.Event()

    def hold(where: str, request: Request) -> None:
        if (
            where == "site"
            and request.method == method
            and request.path.endswith("/login/index.php")
            and not asked.is_set()
        ):
            asked.set()
            release.wait(60)

    site.hold = hold
    # its own process group, like a terminal job
    proc = start_login(harvest, site, "alice", ALICE_PASSWORD, start_new_session=True)
    try:
        assert asked.wait(60), f"the login never reached the moment: {moment}"
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C at a terminal does
        code = proc.wait(60)
    finally:
        release.set()
    err = proc.stderr.read() if proc.stderr else ""
    assert code == 130, err
    assert err == "harvest: error: interrupted\n"
    assert stored_secret(site) == before
    # Chromium's helpers exit asynchronously after their parent: allow them a moment.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and (
        browsers_started_from(harvest.tmpdir) or any(harvest.tmpdir.iterdir())
    ):
        time.sleep(0.1)
    assert browsers_started_from(harvest.tmpdir) == []
    assert [str(p) for p in harvest.tmpdir.rglob("*")] == []
    assert keyring.get_password(f"harvester:password:{site.url}", "alice") is None
