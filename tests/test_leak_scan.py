"""The secret-leak scan: every command, at debug level, with known secrets; then every byte
they printed (but for `env`, whose job it is), every file left under HOME, the state and config
dirs and TMPDIR, the site's access log and the process argument lists seen during logins are
searched for the password, every cookie value and every sesskey. Zero occurrences."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote, quote_plus

import httpx
import keyring
import pytest

from harvester.devsite import DevSite

from .conftest import HarvestRunner, Result

# it starts and scans an agent of its own, and the CLI's own browsers
pytestmark = pytest.mark.own_browser

CANARY_PASSWORD = "Canary-pw-7f3e9a!"


class ArgvWatcher:
    """Records every process's argument list, while a command runs."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for entry in os.listdir("/proc"):
                if entry.isdigit():
                    try:
                        with open(f"/proc/{entry}/cmdline", "rb") as handle:
                            self.seen.add(handle.read().decode(errors="replace"))
                    except OSError:
                        pass
            # Every 50 ms: what could carry a secret (a browser, its driver, the agent, a
            # harvest process) lives far longer, and a scan costs 1-3 ms of CPU (120-300
            # processes), a fifth of a core at 10 ms, beside every test of the other worker.
            time.sleep(0.05)

    def __enter__(self) -> ArgvWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def files_under(*roots: Path) -> Iterator[tuple[Path, bytes]]:
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file() and not path.is_symlink():
                try:
                    yield path, path.read_bytes()
                except OSError:
                    continue


def test_no_secret_anywhere_after_every_command(
    harvest: HarvestRunner, make_totara_site: Callable[..., DevSite], tmp_path: Path
) -> None:
    site = make_totara_site({"alice": CANARY_PASSWORD}, cookie_suffix="leak")
    debug = {"HARVEST_DEBUG": "1"}
    url = site.url
    outputs: list[tuple[str, Result]] = []
    secrets: set[str] = {CANARY_PASSWORD}

    def remember_session() -> None:
        raw = keyring.get_password(f"harvester:session:{url}", "alice")
        if raw:
            entry = json.loads(raw)
            secrets.update({entry["cookie_value"], entry["sesskey"]})

    def run(*args: str, input: str | None = None, **env: str) -> Result:
        result = harvest(*args, input=input, **debug, **env)
        outputs.append((" ".join(args), result))
        return result

    with ArgvWatcher() as argv:
        assert run("site", "add", "lms", "--url", url, "--default-user", "alice").code == 0
        login = run(
            "login", "--site", "lms", "--password-stdin", "--save-password",
            input=f"{CANARY_PASSWORD}\n",
        )  # fmt: skip
        assert login.code == 0, login.err
        remember_session()
        assert run("login", "--site", "lms", "--password-stdin", input="wrong\n").code == 3
        assert run("login", "--site", "lms").code == 0  # the saved password
        remember_session()
        assert run("status").code == 0
        assert run("status", "--check", "--json").code == 0
        assert run("request", "totara_job_my_assignments", "--site", "lms").code == 0
        assert run("request", "totara_webapi_status_nosession", "--site", "lms").code == 0
        assert run("exec", "--site", "lms", "--", "true").code == 0
        site.state.kill_sessions("alice")
        assert run("request", "totara_job_my_assignments", "--site", "lms").code == 0  # re-login
        remember_session()
        site.state.expire_sessions("alice")
        assert run("refresh", "--all").code == 0
        remember_session()
        # the agent: its log, its command line and its browser's, through a whole login (the
        # caller's environment is its own), the browser part of one (another environment) and
        # a refresh
        assert run("agent", "start").code == 0
        for other in ({}, {"SOME_OTHER_SETTING": "1"}):
            through = run(
                "login", "--site", "lms", "--password-stdin", input=f"{CANARY_PASSWORD}\n", **other
            )  # fmt: skip
            assert through.code == 0, through.err
            remember_session()
        site.state.expire_sessions("alice")
        assert run("refresh", "--all").code == 0
        remember_session()
        assert '"logins": 3' in run("agent", "status", "--json").out
        assert run("agent", "stop").code == 0
        assert run("site", "list").code == 0
        assert run("schedule", "show").code == 0
        assert run("doctor").code == 0
        assert run("curl", "totara_job_my_assignments", "--site", "lms").code == 0
        # the proxy: its stderr (access lines, debug) and its process list, across a renewal
        proxy = harvest.popen("proxy", "--site", "lms", **debug)
        assert proxy.stdout is not None
        proxy_url = proxy.stdout.readline().removeprefix("harvest proxy: ").strip()
        token = proxy.stdout.readline().rsplit(" ", 1)[1].strip()
        secrets.add(token)
        bearer = {"Authorization": f"Bearer {token}"}
        body = {"operationName": "totara_job_my_assignments", "variables": {}}
        assert httpx.post(proxy_url, json=body, headers=bearer, timeout=60).status_code == 200
        site.state.kill_sessions("alice")
        assert httpx.post(proxy_url, json=body, headers=bearer, timeout=60).status_code == 200
        remember_session()
        proxy.send_signal(signal.SIGTERM)
        proxy_out, proxy_err = proxy.communicate(timeout=60)
        assert proxy.returncode == 0, proxy_err
        outputs.append(("proxy", Result(0, proxy_out.replace(token, ""), proxy_err)))
        env = harvest("env", "--site", "lms", "--format", "json")  # prints secrets by design
        assert env.code == 0
        shown = json.loads(env.out)
        secrets.update({shown["TOTARA_SESSION"], shown["TOTARA_SESSKEY"]})
        assert run("logout", "--site", "lms", "--forget-password").code == 0
        assert run("status").code == 0

    assert len(secrets) >= 18  # the password, eight sessions' cookie and sesskey, the token
    forms = set(secrets) | {quote(s) for s in secrets} | {quote_plus(s) for s in secrets}
    found: list[str] = []
    for command, result in outputs:
        for name, text in (("stdout", result.out), ("stderr", result.err)):
            found += [f"{command}: {name}" for s in forms if s in text]
    assert any("harvest: debug:" in r.err for _, r in outputs)  # debug logs were scanned
    for line in site.access_log:
        found += [f"access log: {line}" for s in forms if s in line]
    for args in argv.seen:
        found += [f"argv: {args[:80]}" for s in forms if s in args]
    assert any("chromium" in a for a in argv.seen)  # the logins' browsers were watched
    agent_log = (harvest.agent_dir / "agent.log").read_text()  # its log is scanned
    assert "captured in" in agent_log and "whole login for alice" in agent_log
    roots = [tmp_path, harvest.tmpdir, harvest.agent_dir, Path(os.environ["HOME"])]
    for path, data in files_under(*roots):
        found += [f"file: {path}" for s in forms if s.encode() in data]
    assert not found, found
    # Chromium encrypts cookie values on disk, so a left-over profile could hide one: none is left.
    assert not list(harvest.tmpdir.iterdir())
