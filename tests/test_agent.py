"""`harvest agent` with real parts: the agent started by `harvest agent start` and stopped by
its pid, logins through it into the real keyring, and what happens when it is killed, left a
stale socket, started twice, asked by another uid, another version, idle, or loses its
browser (docs/agent.md)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import keyring
import pytest

from harvester.devsite import DevSite
from harvester.devsite.app import Request
from harvester.devsite.faults import Faults
from harvester.logins.browser.processes import processes_using
from harvester.logins.flow import ONCE_MORE

from .conftest import ALICE_PASSWORD, HARVEST, HarvestRunner

# each test starts, kills or refuses an agent of its own
pytestmark = pytest.mark.own_browser


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is gone
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_gone(pid: int, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not alive(pid)


def wait_no_browser(folder: Path, seconds: float = 30) -> list[int]:
    deadline = time.monotonic() + seconds
    while (left := processes_using(str(folder))) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


class Agent:
    """An agent started for one test through `harvest agent start`; stopped by its pid."""

    def __init__(self, harvest: HarvestRunner, *options: str, **env: str) -> None:
        self.harvest = harvest
        started = harvest("agent", "start", *options, **env)
        assert started.code == 0, started.err
        self.pid = int(started.out.split("(pid ")[1].split(")")[0])

    def status(self) -> dict[str, object]:
        shown = self.harvest("agent", "status", "--json")
        return json.loads(shown.out) if shown.code == 0 else {}

    @property
    def log(self) -> str:
        path = self.harvest.agent_dir / "agent.log"
        return path.read_text() if path.exists() else ""

    def stop(self) -> None:
        if alive(self.pid):
            self.harvest("agent", "stop")
        if not wait_gone(self.pid, 20):
            os.kill(self.pid, signal.SIGKILL)  # by its pid, never by name
            wait_gone(self.pid, 10)


@pytest.fixture
def start_agent(harvest: HarvestRunner) -> Iterator[Callable[..., Agent]]:
    started: list[Agent] = []

    def start(*options: str, **env: str) -> Agent:
        agent = Agent(harvest, *options, **env)
        started.append(agent)
        return agent

    yield start
    for agent in started:
        agent.stop()
    assert not wait_no_browser(harvest.tmpdir), "a browser outlived the agent"


@dataclass
class HeldPage:
    """The site holds the first request for its login page until *release* is set (or for
    *seconds*, after which *gave_up* is set)."""

    asked: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    gave_up: threading.Event = field(default_factory=threading.Event)


@contextlib.contextmanager
def login_page_held(site: DevSite, seconds: float = 60) -> Iterator[HeldPage]:
    held = HeldPage()

    def hold(where: str, request: Request) -> None:
        if (
            where == "site"
            and request.path.endswith("/login/index.php")
            and not held.asked.is_set()
        ):
            held.asked.set()
            if not held.release.wait(seconds):
                held.gave_up.set()

    site.hold = hold
    try:
        yield held
    finally:
        held.release.set()


def stored(url: str) -> dict[str, object] | None:
    raw = keyring.get_password(f"harvester:session:{url}", "alice")
    return None if raw is None else json.loads(raw)


def test_a_login_through_the_agent_stores_a_working_session(
    site: DevSite, harvest: HarvestRunner, start_agent: Callable[..., Agent]
) -> None:
    agent = start_agent()
    assert agent.status()["version"]
    login = harvest.login(site.url)
    assert login.code == 0, login.err
    assert agent.status()["logins"] == 1  # the agent's browser did it, not one of the CLI's
    assert "captured in" in agent.log
    answer = harvest("request", "totara_webapi_status", "-u", "alice", "--site", site.url)
    assert answer.code == 0, answer.err
    # refused passwords come back as the site's refusal, with its exit code
    assert harvest.login(site.url, password="wrong").code == 3
    # --no-agent and HARVEST_AGENT=0 go around it
    assert harvest.login(site.url, "--no-agent").code == 0
    assert harvest.login(site.url, HARVEST_AGENT="0").code == 0
    assert agent.status()["logins"] == 1
    # refresh logs in again through it
    site.state.expire_sessions("alice")
    saved = harvest.login(site.url, "--save-password")
    assert saved.code == 0
    site.state.expire_sessions("alice")
    refreshed = harvest("refresh", "-u", "alice", "--site", site.url)
    assert refreshed.code == 0 and "logged in again" in refreshed.out, refreshed.err
    assert agent.status()["logins"] == 3


def test_a_caller_whose_environment_is_the_agents_has_it_do_the_whole_login(
    make_totara_site: Callable[..., DevSite],
    harvest: HarvestRunner,
    start_agent: Callable[..., Agent],
) -> None:
    """The agent resolves, checks, logs in, verifies and stores as the caller would: the same
    line, exit codes, warnings and keyring entry; another environment is the caller's own job
    (docs/agent.md, "Which side does what")."""
    site = make_totara_site({"alice": ALICE_PASSWORD})
    agent = start_agent()
    login = harvest.login(site.url)
    assert (login.code, login.err) == (0, ""), login.err
    assert login.out == f"Logged in alice at {site.url} (cookie TotaraSession)\n"
    assert agent.log.count("whole login for alice") == 1
    assert harvest("request", "totara_webapi_status", "-u", "alice", "--site", site.url).code == 0
    # the saved password, with no --password-stdin (stdin is no terminal: nobody to ask)
    assert harvest.login(site.url, "--save-password").code == 0
    saved = harvest("login", "-u", "alice", "--site", site.url)
    assert saved.code == 0, saved.err
    assert agent.log.count("whole login for alice") == 3
    # a refused password: the site's refusal and its exit code; the stored session is kept
    kept = stored(site.url)
    refused = harvest.login(site.url, password="wrong")
    assert refused.code == 3 and "refused the login" in refused.err, refused.err
    assert refused.err.count("\n") == 1 and stored(site.url) == kept
    # the library's warnings reach the caller's stderr (a session ended at once: once more)
    site.state.faults = Faults(end_new_sessions=1)
    again = harvest.login(site.url)
    assert again.code == 0 and again.err == f"harvest: warning: {ONCE_MORE}\n", again.err
    site.state.faults = Faults()
    # another environment, or a relative path in it: the caller's own login, the agent's browser
    logins = agent.status()["logins"]
    for other in (ELSEWHERE, {"XDG_STATE_HOME": "state"}):
        elsewhere = harvest.login(site.url, **other)
        assert elsewhere.code == 0, elsewhere.err
    assert agent.status()["logins"] == logins + 2  # type: ignore[operator]
    assert agent.log.count("whole login for alice") == 5
    assert "not a whole login: the caller's SOME_OTHER_SETTING differ" in agent.log  # names only
    assert agent.log.count("whole login for alice") == agent.log.count("stored in") + 1


@pytest.mark.parametrize("way", ["whole login", "browser part"])
def test_a_failed_check_stops_the_wait_for_the_agents_browser(
    make_totara_site: Callable[..., DevSite],
    harvest: HarvestRunner,
    start_agent: Callable[..., Agent],
    way: str,
) -> None:
    """The keyring is checked while the agent's browser logs in; when the check fails (here:
    no Secret Service at the D-Bus address), the login says so at once, while the agent's
    browser is still held on the login page: it does not wait for the browser's deadline. In
    a whole login the agent checks (its environment has the same address), else the CLI."""
    site = make_totara_site({"alice": ALICE_PASSWORD})
    nowhere = {"DBUS_SESSION_BUS_ADDRESS": "unix:path=/nonexistent"}
    agent = start_agent(**(nowhere if way == "whole login" else {}))
    with login_page_held(site) as held:  # held this long, the CLI waited for the browser
        login = harvest.login(  # the browser's deadline well beyond the hold's 60 s
            site.url, "--timeout", "100", **nowhere
        )
        waited_for_the_browser = held.gave_up.is_set()
        # the agent's browser was on its way to the page, or held there: its part could not
        # have finished before the CLI answered
        assert held.asked.wait(60)
    assert login.code == 6 and "keyring" in login.err, login.err
    assert login.err.count("\n") == 1, login.err
    assert not waited_for_the_browser
    assert ("whole login for alice" in agent.log) is (way == "whole login")


def test_a_caller_that_goes_away_during_a_whole_login_has_nothing_stored(
    make_totara_site: Callable[..., DevSite],
    harvest: HarvestRunner,
    start_agent: Callable[..., Agent],
) -> None:
    site = make_totara_site({"alice": ALICE_PASSWORD})
    agent = start_agent()
    with login_page_held(site) as held:
        proc = harvest.popen(
            "login", "-u", "alice", "--site", site.url, "--password-stdin",
            input=f"{ALICE_PASSWORD}\n",
        )  # fmt: skip
        assert held.asked.wait(60), "the agent never asked for the login page"
        proc.kill()  # the caller, by its pid: Ctrl-C or a killed script
        proc.communicate(timeout=30)
    deadline = time.monotonic() + 60
    while "went away; nothing was stored" not in agent.log and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "the caller or the agent went away; nothing was stored" in agent.log
    assert stored(site.url) is None
    assert harvest.login(site.url).code == 0 and stored(site.url) is not None  # it goes on


# A caller whose environment is the agent's has it do the whole login; any other variable
# (here one nobody reads) makes the caller do it, the agent driving only the browser.
ELSEWHERE = {"SOME_OTHER_SETTING": "1"}


@pytest.mark.parametrize("way", ["whole login", "browser part"])
def test_an_agent_killed_during_a_login_is_fallen_back_from_and_leaves_no_browser(
    make_totara_site: Callable[..., DevSite],
    harvest: HarvestRunner,
    start_agent: Callable[..., Agent],
    way: str,
) -> None:
    site = make_totara_site({"alice": ALICE_PASSWORD})
    agent = start_agent()
    with login_page_held(site) as held:
        proc = harvest.popen(
            "login", "-u", "alice", "--site", site.url, "--password-stdin",
            input=f"{ALICE_PASSWORD}\n", **(ELSEWHERE if way == "browser part" else {}),
        )  # fmt: skip
        assert held.asked.wait(60), "the agent's browser never asked for the login page"
        os.kill(agent.pid, signal.SIGKILL)
        assert wait_gone(agent.pid)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "the agent went away during the login" in err and err.count("\n") == 1, err
    assert stored(site.url) is not None
    # its browser went with its driver: nothing of it is left
    assert not wait_no_browser(harvest.tmpdir), "the killed agent's browser is still running"


def test_a_stale_socket_is_replaced_and_two_starts_give_one_agent(
    site: DevSite, harvest: HarvestRunner, start_agent: Callable[..., Agent]
) -> None:
    first = start_agent()
    os.kill(first.pid, signal.SIGKILL)
    assert wait_gone(first.pid)
    assert (harvest.agent_dir / "agent.sock").exists()  # left behind
    assert not wait_no_browser(harvest.tmpdir)
    login = harvest.login(site.url)  # no agent answers: its own browser, silently
    assert login.code == 0 and login.err == "", login.err
    starts = [harvest.popen("agent", "start") for _ in range(2)]
    outs = [proc.communicate(timeout=60) for proc in starts]
    assert [proc.returncode for proc in starts] == [0, 0], outs
    pids = {out.split("(pid ")[1].split(")")[0] for out, _ in outs}
    assert len(pids) == 1, outs
    agent = start_agent()  # a third start: already running, the same pid
    assert str(agent.pid) in pids
    assert harvest.login(site.url).code == 0
    assert agent.status()["logins"] == 1


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a client as another uid")
def test_another_uid_cannot_use_the_socket(
    harvest: HarvestRunner, start_agent: Callable[..., Agent]
) -> None:
    agent = start_agent()
    path = harvest.agent_dir / "agent.sock"
    assert path.stat().st_mode & 0o777 == 0o600
    assert harvest.agent_dir.stat().st_mode & 0o777 == 0o700
    client = (
        "import json, socket, sys\n"
        "s = socket.socket(socket.AF_UNIX)\n"
        "try:\n"
        f"    s.connect({str(path)!r})\n"
        "except PermissionError:\n"
        "    print('refused by the file system'); sys.exit(0)\n"
        "print(s.recv(65536).decode())  # refused before it says a word\n"
    )

    def as_nobody() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["/usr/bin/python3", "-c", client],  # not the venv's: under /root, closed to nobody
            capture_output=True, text=True, timeout=30, user=65534, group=65534,
        )  # fmt: skip

    # the folder (0700) and the socket (0600) keep another user out...
    assert "refused by the file system" in as_nobody().stdout
    # ...and were they opened up, the agent itself refuses anyone but its own uid
    os.chmod(harvest.agent_dir, 0o755)
    os.chmod(path, 0o666)
    try:
        answer = as_nobody()
    finally:
        os.chmod(path, 0o600)
        os.chmod(harvest.agent_dir, 0o700)
    assert f"this agent serves uid {os.getuid()} only" in answer.stdout, answer
    assert '"status"' not in answer.stdout
    assert agent.status()["logins"] == 0


def test_the_idle_exit_leaves_no_process_behind(
    site: DevSite, harvest: HarvestRunner, start_agent: Callable[..., Agent]
) -> None:
    agent = start_agent("--idle", "3")
    assert harvest.login(site.url).code == 0
    assert agent.status()["browsers"] == 1
    assert wait_gone(agent.pid, 60), "the agent did not exit when idle"
    assert not wait_no_browser(harvest.tmpdir, 10)
    assert not (harvest.agent_dir / "agent.sock").exists()
    assert "idle for 3 s: exiting" in agent.log


def test_its_browser_crashing_is_recovered_from_without_a_restart(
    site: DevSite, harvest: HarvestRunner, start_agent: Callable[..., Agent]
) -> None:
    agent = start_agent()
    assert harvest.login(site.url).code == 0
    browsers = processes_using(str(harvest.tmpdir))
    assert browsers
    for pid in browsers:
        os.kill(pid, signal.SIGKILL)
    login = harvest.login(site.url)
    assert login.code == 0, login.err
    assert agent.status()["logins"] == 2 and alive(agent.pid)


def test_an_agent_of_another_version_is_refused_in_one_line(
    site: DevSite, harvest: HarvestRunner
) -> None:
    """A stand-in agent that is harvester 0.0.1: the login says so and uses its own browser."""
    path = harvest.agent_dir / "agent.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.listen()

    def answer() -> None:
        connection, _ = server.accept()
        with connection:
            connection.recv(65536)
            connection.sendall(b'{"harvester": "0.0.1", "ok": true, "captured": {}}\n')

    threading.Thread(target=answer, daemon=True).start()
    try:
        login = harvest.login(site.url)
    finally:
        server.close()
    assert login.code == 0, login.err
    assert "the running agent is harvester 0.0.1, this is harvester 0.1.0" in login.err
    assert login.err.count("\n") == 1, login.err


def test_a_socket_in_a_folder_others_can_open_is_never_sent_a_password(
    site: DevSite, harvest: HarvestRunner
) -> None:
    """A listener in an agent folder that is not closed to others (anyone could have put it
    there) hears nothing: the login says why in one line and uses its own browser."""
    path = harvest.agent_dir / "agent.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.listen()
    server.settimeout(0.2)
    os.chmod(harvest.agent_dir, 0o755)
    heard: list[bytes] = []

    def listen() -> None:
        while True:
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with connection:
                heard.append(connection.recv(65536))

    threading.Thread(target=listen, daemon=True).start()
    try:
        login = harvest.login(site.url)
    finally:
        server.close()
        os.chmod(harvest.agent_dir, 0o700)
    assert login.code == 0, login.err
    assert "is not yours alone" in login.err and login.err.count("\n") == 1, login.err
    assert heard == []


def test_a_prompt_at_a_terminal_is_the_callers_and_the_browser_still_the_agents(
    make_totara_site: Callable[..., DevSite],
    harvest: HarvestRunner,
    start_agent: Callable[..., Agent],
) -> None:
    """No saved password and a terminal: the agent never prompts; the CLI asks at its own
    terminal (a real pty, its controlling one) and logs in, the agent driving the browser."""
    import fcntl
    import pty
    import termios

    site = make_totara_site({"alice": ALICE_PASSWORD})
    agent = start_agent()
    leader, follower = pty.openpty()

    def own_terminal() -> None:  # in the child: a session whose controlling terminal it is
        os.setsid()
        fcntl.ioctl(follower, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(
        [HARVEST, "login", "-u", "alice", "--site", site.url],
        stdin=follower, stdout=follower, stderr=follower, env=harvest.env,
        preexec_fn=own_terminal,
    )  # fmt: skip
    os.close(follower)
    seen = b""
    try:
        deadline = time.monotonic() + 60
        while b"Password for alice at" not in seen and time.monotonic() < deadline:
            seen += os.read(leader, 4096)
        os.write(leader, f"{ALICE_PASSWORD}\n".encode())
        while proc.poll() is None or b"Logged in" not in seen:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the terminal closed with the process
                break
            if not chunk:
                break
            seen += chunk
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(leader)
    text = seen.decode(errors="replace")
    assert proc.returncode == 0, text
    assert "Password for alice at" in text and f"Logged in alice at {site.url}" in text, text
    assert ALICE_PASSWORD not in text  # not echoed
    assert agent.status()["logins"] == 1  # the agent's browser
    assert "whole login for alice" in agent.log and "stored in" not in agent.log
