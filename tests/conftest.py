"""Real parts for every test: a private Secret Service keyring in a temporary HOME, the bundled
Totara site on loopback, and the `harvest` executable run the way a user runs it."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page, Playwright, sync_playwright

from harvester.devsite import DevSite
from harvester.testing.private_keyring import PrivateSecretService, stop_process

# Chromium looks up ~40 Google hosts at start; on a closed network that is only noise and delay.
BROWSER_ARGS = '--host-resolver-rules="MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"'
HARVEST = shutil.which("harvest", path=os.path.dirname(sys.executable)) or "harvest"

pytest_plugins = ["pytester"]

_service: PrivateSecretService | None = None


# The longest tests start first (--durations prints them): on two workers, one of them started
# near the end keeps the other worker idle meanwhile. The sort is stable: the rest keep their
# order, and each module's tests stay together for its module-wide fixtures.
SLOW_FIRST = ("test_leak_scan.py::", "test_faults.py::test_50_concurrent")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: not any(slow in item.nodeid for slow in SLOW_FIRST))


def pytest_configure() -> None:
    """Start a private keyring before any test imports keyring, unless scripts/test did."""
    global _service
    os.environ["HARVEST_BROWSER_ARGS"] = BROWSER_ARGS
    # Never a developer's own running agent, for in-process logins too: the suite's (if a test
    # started it, conftest.suite_agent), else none. Short: a socket path has ~107 bytes.
    os.environ["HARVEST_AGENT_DIR"] = tempfile.mkdtemp(prefix="hvs-", dir="/tmp")
    if os.environ.get("HARVEST_PRIVATE_KEYRING"):
        return
    _service = PrivateSecretService()
    os.environ.update(_service.start())
    os.environ["HARVEST_PRIVATE_KEYRING"] = str(_service.home)


def pytest_unconfigure() -> None:
    shutil.rmtree(os.environ["HARVEST_AGENT_DIR"], ignore_errors=True)
    if _service is not None:
        _service.stop()


def free_port() -> int:
    """A loopback port nobody listens on (right now)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing listened on {port} within {seconds} s")


@pytest.fixture(scope="module")
def display() -> Iterator[str]:
    """A private Xvfb screen; stopped by pid afterwards."""
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed (scripts/test installs it)")
    read, write = os.pipe()
    proc = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write), "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
        pass_fds=(write,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write)
    with os.fdopen(read) as pipe:
        number = pipe.readline().strip()
    assert number, "Xvfb did not report its display"
    yield f":{number}"
    stop_process(proc)


class OwnPlaywright:
    """A test's own sync Playwright, whose driver keeps its temporary files (each connection's
    and launch's `playwright-artifacts-*`, a launched browser's profile) in a folder of its
    own, removed by stop(): a driver stopped without closing all it opened leaves them in
    TMPDIR, /tmp here. `with OwnPlaywright() as playwright:` or start-and-stop()."""

    def __init__(self) -> None:
        self.folder = tempfile.mkdtemp(prefix="hvpw-", dir="/tmp")
        saved = os.environ.get("TMPDIR")
        os.environ["TMPDIR"] = self.folder  # read once, by the driver as it starts
        try:
            self.playwright = sync_playwright().start()
        except BaseException:
            shutil.rmtree(self.folder, ignore_errors=True)
            raise
        finally:
            if saved is None:
                os.environ.pop("TMPDIR", None)
            else:
                os.environ["TMPDIR"] = saved

    def stop(self) -> None:
        try:
            self.playwright.stop()
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> Playwright:
        return self.playwright

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def person_page(port: int, prefix: str, seconds: float = 60) -> tuple[OwnPlaywright, Page]:
    """Attach to harvester's window over CDP, as a person's eyes and hands, and find the tab
    that shows *prefix*. The caller stops the returned Playwright; on failure it is stopped
    here (a started sync Playwright left behind breaks every later test's event loop).

    A CDP client never learns of browser contexts another client makes after it connected
    (measured: it sees them only on a new connection), and harvester makes its context after
    the browser's port opens: so this connects again every 2 s until the tab shows."""
    wait_for_port(port)
    own = OwnPlaywright()
    playwright = own.playwright
    seen: set[str] = set()
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            browser = playwright.chromium.connect_over_cdp(f"http://127.0.0.1:{port}")
            fresh_until = min(deadline, time.monotonic() + 2)
            while time.monotonic() < fresh_until:
                for context in browser.contexts:
                    for page in context.pages:
                        if page.url.startswith(prefix):
                            return own, page
                        seen.add(page.url)
                time.sleep(0.1)
    except BaseException:
        own.stop()
        raise
    own.stop()
    raise AssertionError(f"no tab at {prefix}; tabs seen: {sorted(seen)}")


ALICE_PASSWORD = "pw1"
BOB_PASSWORD = "bob's pw with spaces & $(symbols)"


@pytest.fixture
def site(make_totara_site: Callable[..., DevSite]) -> DevSite:
    """The acceptance site: cookie suffix `abc`, alice:pw1 and bob."""
    return make_totara_site({"alice": ALICE_PASSWORD, "bob": BOB_PASSWORD}, cookie_suffix="abc")


@dataclass
class Result:
    code: int
    out: str
    err: str


@dataclass
class HarvestRunner:
    """Runs the installed `harvest` executable with a per-test state dir and TMPDIR."""

    env: dict[str, str]
    tmpdir: Path

    @property
    def agent_dir(self) -> Path:
        """This runner's own `harvest agent` folder (none runs there unless a test starts it)."""
        return Path(self.env["HARVEST_AGENT_DIR"])

    owns_agent_dir: bool = True

    @classmethod
    def in_folder(cls, home: Path, agent: Path | None = None) -> HarvestRunner:
        """State and config under *home*; a fresh short TMPDIR (remove it with .cleanup()).
        *agent*: the suite's agent folder (its logins go through it); else one of its own,
        where no agent runs unless the test starts one."""
        # Short on purpose: Chromium's profile socket must fit in a unix socket path.
        tmpdir = Path(tempfile.mkdtemp(prefix="hvt-", dir="/tmp"))
        owns_agent_dir = agent is None
        if agent is None:
            agent = Path(tempfile.mkdtemp(prefix="hva-", dir="/tmp"))  # a socket path is short
        env = {
            **os.environ,
            "XDG_STATE_HOME": str(home / "state"),
            "TMPDIR": str(tmpdir),
            "HARVEST_CONFIG": str(home / "config.toml"),
            "HARVEST_AGENT_DIR": str(agent),  # never a developer's own running agent
        }
        env.pop("HARVEST_SITE", None)
        # the machine's trust and proxy settings are not the test's (tests/test_networks.py
        # sets its own)
        for name in (
            "SSL_CERT_FILE",
            "SSL_CERT_DIR",
            "HTTPS_PROXY",
            "HTTP_PROXY",
            "ALL_PROXY",
            "NO_PROXY",
        ):
            env.pop(name, None)
            env.pop(name.lower(), None)
        return cls(env, tmpdir, owns_agent_dir)

    def cleanup(self) -> None:
        shutil.rmtree(self.tmpdir, ignore_errors=True)
        if self.owns_agent_dir:
            shutil.rmtree(self.agent_dir, ignore_errors=True)

    def popen(self, *args: str, input: str | None = None, **env: str) -> subprocess.Popen[str]:
        """Start `harvest` without waiting; *input* is written to its stdin (else closed)."""
        proc = subprocess.Popen(
            [HARVEST, *args],
            stdin=subprocess.DEVNULL if input is None else subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**self.env, **env},
        )
        if input is not None:
            assert proc.stdin is not None
            proc.stdin.write(input)
            proc.stdin.close()
            proc.stdin = None  # communicate() must not flush it again
        return proc

    def __call__(self, *args: str, input: str | None = None, **env: str) -> Result:
        proc = subprocess.run(
            [HARVEST, *args],
            input=input,
            capture_output=True,
            text=True,
            env={**self.env, **env},
            timeout=120,
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def login(
        self, url: str, *extra: str, user: str = "alice", password: str | None = None, **env: str
    ) -> Result:
        """`harvest login --password-stdin`, the password written to its stdin."""
        secret = ALICE_PASSWORD if password is None else password
        return self(
            "login",
            "--user",
            user,
            "--site",
            url,
            "--password-stdin",
            *extra,
            input=f"{secret}\n",
            **env,
        )


@pytest.fixture(scope="session")
def suite_agent() -> Iterator[Path]:
    """One `harvest agent` for the suite's logins, as a user who runs one has it: each login
    still starts a real headless Chromium page and a real keyring write, without starting a
    browser and a Playwright driver each time (about 2 s of CPU a login on these machines).
    Started and stopped by its pid; its browsers must be gone afterwards. Tests about the
    CLI's own browser are marked `own_browser` and never see it."""
    from harvester.logins.browser.processes import processes_using, stop_processes_using

    folder = Path(os.environ["HARVEST_AGENT_DIR"])
    tmpdir = Path(tempfile.mkdtemp(prefix="hvst-", dir="/tmp"))
    env = {**os.environ, "TMPDIR": str(tmpdir)}
    with open(folder / "agent-run.log", "ab") as log:
        proc = subprocess.Popen(
            [HARVEST, "agent", "run", "--idle", "7200"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            env=env,
        )
    try:
        deadline = time.monotonic() + 60
        while not (folder / "agent.sock").exists():
            assert proc.poll() is None, (folder / "agent-run.log").read_text()
            assert time.monotonic() < deadline, "the suite's agent did not start"
            time.sleep(0.05)
        yield folder
    finally:
        stop_process(proc)
        left = processes_using(str(tmpdir))
        stop_processes_using(str(tmpdir))  # said below, but never left running: ours, by pid
        shutil.rmtree(tmpdir, ignore_errors=True)
    assert not left, f"browsers outlived the suite's agent: {left}"


def runner_agent(request: pytest.FixtureRequest) -> Path | None:
    """The suite's agent for a test's runner, unless the test is about the CLI's own browser
    or HARVEST_TEST_AGENT=0 (the whole suite, each login in a browser of its own)."""
    if (
        request.node.get_closest_marker("own_browser")
        or os.environ.get("HARVEST_TEST_AGENT") == "0"
    ):
        return None
    agent: Path = request.getfixturevalue("suite_agent")
    return agent


@pytest.fixture
def harvest(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[HarvestRunner]:
    runner = HarvestRunner.in_folder(tmp_path, runner_agent(request))
    yield runner
    runner.cleanup()


@dataclass
class LoggedIn:
    """A site with alice logged in once through `harvest login` (real browser, real keyring)."""

    site: DevSite
    harvest: HarvestRunner

    @property
    def url(self) -> str:
        return self.site.url


@pytest.fixture(scope="module")
def logged_in(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[LoggedIn]:
    """Module-wide, for tests that only read the session: one browser login per module."""
    runner = HarvestRunner.in_folder(tmp_path_factory.mktemp("state"), runner_agent(request))
    with DevSite({"alice": ALICE_PASSWORD, "bob": BOB_PASSWORD}, cookie_suffix="abc") as site:
        result = runner.login(site.url)
        assert result.code == 0, result.err
        yield LoggedIn(site, runner)
    runner.cleanup()
