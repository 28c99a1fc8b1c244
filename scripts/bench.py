"""Benchmark rows for harvester; run through scripts/bench (it provides a private keyring).

Every figure is a ratio against a baseline measured in the same run on the same site, so the
table says something on a noisy machine. Medians of N runs; N is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
from playwright.async_api import Browser

from harvester.devsite import DevSite
from harvester.handoff.client import TotaraClient
from harvester.logins.browser.contexts import pool_of
from harvester.logins.browser.login_pages import login_with_password
from harvester.logins.browser.runner import run_with_browser
from harvester.settings.config import SiteProfile
from harvester.settings.targets import Target
from harvester.site.wwwroot import Wwwroot
from harvester.store.session import Session
from harvester.store.sessions import SessionStore
from harvester.upkeep.refresh import default_concurrency, refresh_sessions

HARVEST = shutil.which("harvest", path=os.path.dirname(sys.executable)) or "harvest"
KEYRING = shutil.which("keyring", path=os.path.dirname(sys.executable)) or "keyring"
PASSWORD = "bench-password"
SESSKEY = re.compile(r'"sesskey":"([^"]+)"')
TOKEN = re.compile(r'name="logintoken" value="([^"]+)"')


def median_seconds(fn: Callable[[], object], runs: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def raw_http_login(site: DevSite, http: httpx.Client) -> None:
    """The floor: the same login as plain HTTP (GET form, POST, follow redirects, regex),
    on one reused client with a fresh cookie jar: protocol work only."""
    http.cookies.clear()
    form = http.get(f"{site.url}/login/index.php")
    token = TOKEN.search(form.text)
    assert token
    landing = http.post(
        f"{site.url}/login/index.php",
        data={"username": "alice", "password": PASSWORD, "logintoken": token.group(1)},
    )
    assert SESSKEY.search(landing.text) and "notloggedin" not in landing.text


def warm_logins(site: DevSite, runs: int, *, reuse: bool = True, full: bool = False) -> float:
    """Median of logins in one already-open browser (the first one warms it up): lean pages in
    a warm context kept for the next login (*reuse*, as refresh does) or a new context each
    time; *full* pages (the site's profile says its login needs scripts) for comparison."""
    profile = SiteProfile(Wwwroot(site.url), login_needs_scripts=full)

    async def work(browser: Browser) -> float:
        pool = pool_of(browser, keep=reuse)
        times = []
        for _ in range(runs + 1):
            start = time.perf_counter()
            await login_with_password(pool, profile, "alice", PASSWORD, timeout=30)
            times.append(time.perf_counter() - start)
        await pool.aclose()
        return statistics.median(times[1:])

    return run_with_browser(work, 30)


def warm_and_agent_logins(site: DevSite, env: dict[str, str], runs: int) -> tuple[float, float]:
    """Medians of a warm in-process login (lean, warm context) and of a cold `harvest login`
    through the running agent, interleaved pair by pair, so that this machine's drift during
    the run falls on both alike: the agent's goal compares the two."""
    profile = SiteProfile(Wwwroot(site.url))

    async def work(browser: Browser) -> tuple[float, float]:
        pool = pool_of(browser, keep=True)
        warm, cold = [], []
        for _ in range(runs + 1):
            start = time.perf_counter()
            await login_with_password(pool, profile, "alice", PASSWORD, timeout=30)
            warm.append(time.perf_counter() - start)
            start = time.perf_counter()
            await asyncio.to_thread(cold_cli_login, site, env)
            cold.append(time.perf_counter() - start)
        await pool.aclose()
        return statistics.median(warm[1:]), statistics.median(cold[1:])

    return run_with_browser(work, 30)


def cold_cli_login(site: DevSite, env: dict[str, str]) -> None:
    proc = subprocess.run(
        [HARVEST, "login", "--user", "alice", "--site", site.url, "--password-stdin"],
        input=f"{PASSWORD}\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr


def old_tree(ref: str) -> str:
    """harvester as it was at git *ref*, exported to a temporary folder (for PYTHONPATH)."""
    root = Path(__file__).resolve().parent.parent
    folder = tempfile.mkdtemp(prefix="harvester-before-")
    archive = subprocess.run(
        ["git", "-C", str(root), "archive", ref, "harvester"], capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", folder], input=archive.stdout, check=True)
    return folder


def cold_cli_login_before(site: DevSite, env: dict[str, str], tree: str) -> None:
    """The same cold login, by the harvester of another commit (the entry point of its day)."""
    code = "import sys; from harvester.cli import main; sys.argv[0] = 'harvest'; main()"
    proc = subprocess.run(
        [sys.executable, "-c", code, "login", "--user", "alice", "--site", site.url,
         "--password-stdin"],
        input=f"{PASSWORD}\n",
        capture_output=True,
        text=True,
        env={**env, "PYTHONPATH": tree},
        cwd=tree,  # `-c` puts the working folder first on sys.path: the old tree's
        timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr


def login_profile(site: DevSite, env: dict[str, str], runs: int) -> list[tuple[str, float]]:
    """Where a cold `harvest login` (no agent) spends its time, step by step, each step the
    difference between two whole measurements of this run."""
    python = sys.executable

    def imports(*modules: str) -> float:
        code = "import " + ", ".join(modules) if modules else "pass"
        return median_seconds(lambda: run_quiet([python, "-c", code]), runs)

    bare = imports()
    cli = imports("harvester.cli.main")
    login_imports = imports("harvester.cli.main", "harvester.logins.flow", "playwright.async_api")

    async def nothing(_browser: Browser) -> None:
        return None

    browser = median_seconds(lambda: run_with_browser(nothing, 30), runs)
    cold = median_seconds(lambda: cold_cli_login(site, env), runs)
    warm_new = warm_logins(site, runs, reuse=False)
    rest = cold - login_imports - browser - warm_new
    return [
        ("the interpreter starts", bare),
        ("imports of the command line (Typer, click)", cli - bare),
        ("imports of the login (httpx, keyring, Playwright's client)", login_imports - cli),
        ("Playwright's driver and Chromium start and stop (the browser of the run)", browser),
        ("the login in a new lean context (form, landing page, cookie, sesskey)", warm_new),
        ("the rest: config, keyring check, probe, verification, storing, exit", rest),
        ("the whole `harvest login`, cold, no agent", cold),
    ]


def agent_profile(
    site: DevSite, env: dict[str, str], agent_dir: Path, runs: int
) -> list[tuple[str, float]]:
    """Where a cold `harvest login` goes when the running agent does the whole login: the
    process's start and imports (measured), the agent's whole login (its log's "stored in",
    for these runs), and the rest (the socket, printing, exit)."""
    python = sys.executable
    bare = median_seconds(lambda: run_quiet([python, "-c", "pass"]), runs)
    fast = "import harvester.cli.fast, harvester.logins.agent_socket, harvester.cli.lines"
    imports = median_seconds(lambda: run_quiet([python, "-c", fast]), runs)
    log = agent_dir / "agent.log"
    before = log.read_text().count("stored in")
    whole = median_seconds(lambda: cold_cli_login(site, env), runs, warmup=0)
    stored = [
        float(line.rsplit("stored in ", 1)[1].split()[0]) / 1000
        for line in log.read_text().splitlines()
        if "stored in" in line
    ][before:]
    in_agent = statistics.median(stored)
    return [
        ("the interpreter starts", bare),
        ("imports of the fast path (json, socket: no Typer, httpx or keyring)",
         imports - bare),
        ("the agent's whole login (config, keyring check, probe, warm browser, verify, store)",
         in_agent),
        ("the rest: the socket exchange, printing, exit", whole - imports - in_agent),
    ]  # fmt: skip


def agent_refresh_rows(size: int, env: dict[str, str]) -> list[tuple[str, str, float, float, int]]:
    """`refresh --all` of *size* expired users, with an agent and without, same run."""
    with users_with_saved_passwords(size) as (site, store, targets):

        def refresh(use_agent: bool) -> float:
            site.state.kill_sessions()
            start = time.perf_counter()
            results = refresh_sessions(store, targets, use_agent=use_agent)
            assert all(r.outcome == "refreshed" for r in results), results
            return time.perf_counter() - start

        without = statistics.median(refresh(False) for _ in range(3))
        run_quiet([HARVEST, "agent", "start"], env)
        try:
            refresh(True)  # the agent's first logins warm its contexts
            with_agent = statistics.median(refresh(True) for _ in range(3))
        finally:
            run_quiet([HARVEST, "agent", "stop"], env)
    label = f"`refresh --all`, {size} expired users"
    return [
        (f"{label}, agent running", f"{label}, no agent", with_agent, without, 3),
    ]


def run_quiet(argv: list[str], env: dict[str, str] | None = None) -> None:
    subprocess.run(argv, env=env, capture_output=True, check=True, timeout=120)


def client_calls(client: TotaraClient, count: int) -> None:
    for _ in range(count):
        client.call("totara_webapi_status")


def raw_calls(http: httpx.Client, session: Session, count: int) -> None:
    """The floor: the same POST with the same headers on one pooled httpx client."""
    headers = {"Cookie": session.cookie_header, "X-Totara-Sesskey": session.sesskey}
    url = f"{session.wwwroot}/totara/webapi/ajax.php"
    body = {"operationName": "totara_webapi_status", "variables": {}}
    for _ in range(count):
        answer = http.post(url, json=body, headers=headers)
        assert answer.json()["data"]["totara_webapi_status"]["status"] == "ok"


def latencies(call: Callable[[], object], count: int) -> list[float]:
    times = []
    for _ in range(count):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return times


def raw_session(site: DevSite) -> Session:
    """alice's session from a plain-HTTP login (no browser: the proxy rows need only a pair)."""
    with httpx.Client(follow_redirects=True, timeout=30) as http:
        raw_http_login(site, http)
        landing = http.get(f"{site.url}/totara/dashboard/")
        found = SESSKEY.search(landing.text)
        assert found
        return Session(
            wwwroot=site.url,
            user="alice",
            cookie_name=site.cookie_name,
            cookie_value=str(http.cookies[site.cookie_name]),
            sesskey=found.group(1),
        )


# The proxy runs in a process of its own, as `harvest proxy` does; the session reaches it on
# stdin (never in its arguments), and it prints its URL and token.
PROXY_CHILD = """
import json, sys, threading
from harvester.handoff.auth import TotaraAuth
from harvester.proxy.server import ProxyServer
from harvester.store.session import Session
running = ProxyServer(TotaraAuth(Session(**json.loads(sys.stdin.readline()))), quiet=True).start()
print(running.url, running.token, flush=True)
sys.stdin.readline()
running.stop()
"""


def proxy_rows(
    site: DevSite, session: Session, count: int, label: str = ""
) -> list[tuple[str, str, float, float, int]]:
    """*count* totara_webapi_status calls through a proxy process against the same calls
    straight to the site, each side on one pooled httpx client, one call of each in turn (this
    machine's speed drifts within seconds: a call and its baseline see the same moment)."""
    fields = ("wwwroot", "user", "cookie_name", "cookie_value", "sesskey")
    child = subprocess.Popen(
        [sys.executable, "-c", PROXY_CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert child.stdin is not None and child.stdout is not None
    child.stdin.write(json.dumps({f: str(getattr(session, f)) for f in fields}) + "\n")
    child.stdin.flush()
    proxy_url, proxy_token = child.stdout.readline().split()
    body = {"operationName": "totara_webapi_status", "variables": {}}
    direct_headers = {"Cookie": session.cookie_header, "X-Totara-Sesskey": session.sesskey}
    through: list[float] = []
    straight: list[float] = []
    try:
        with httpx.Client(timeout=30) as via, httpx.Client(timeout=30) as direct:
            token = {"Authorization": f"Bearer {proxy_token}"}
            url = f"{site.url}/totara/webapi/ajax.php"
            via.post(proxy_url, json=body, headers=token)  # both connections open
            direct.post(url, json=body, headers=direct_headers)
            for _ in range(count):
                through += latencies(lambda: via.post(proxy_url, json=body, headers=token), 1)
                straight += latencies(
                    lambda: direct.post(url, json=body, headers=direct_headers), 1
                )
    finally:
        child.stdin.close()  # the child stops its proxy at end of input
        try:
            child.wait(30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    PROXY_LATENCY.append((label, statistics.median(through) - statistics.median(straight)))
    if not label:
        ratio = sum(through) / sum(straight)
        GOALS.append(("harvest proxy ≤ 1.15x straight to the site", f"{ratio:.2f}x", ratio <= 1.15))
    return [
        (
            f"{count} `totara_webapi_status` calls through `harvest proxy`{label}",
            "the same calls straight to the site, same connection reuse",
            sum(through),
            sum(straight),
            1,
        )
    ]


def descendants(root: int) -> list[int]:
    """Every process below *root* (the Playwright driver and the whole browser tree)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def pss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class PeakPss:
    """Samples the summed PSS of this process's descendants every 50 ms; keeps the peak."""

    def __init__(self) -> None:
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            total = sum(pss_kib(pid) for pid in descendants(os.getpid()))
            self.peak_kib = max(self.peak_kib, total)

    def __enter__(self) -> PeakPss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@contextlib.contextmanager
def users_with_saved_passwords(
    size: int,
) -> Iterator[tuple[DevSite, SessionStore, list[Target]]]:
    """The bundled site with *size* users, each with a saved password in a store of its own."""
    users = {f"user{i:02d}": f"pw-{i}" for i in range(size)}
    with DevSite(users) as site, tempfile.TemporaryDirectory() as state:
        store = SessionStore(Path(state))
        for name, password in users.items():
            store.save_password(Wwwroot(site.url), name, password)
        yield site, store, [Target(Wwwroot(site.url), name) for name in users]


def refresh_rows(sizes: list[int]) -> list[tuple[str, str, float, float, int]]:
    """refresh --all of N expired users: one shared browser (concurrency 1 and the default)
    against one browser per user, same sessions, same site, same run."""
    rows = []
    n_default = default_concurrency()
    for size in sizes:
        with users_with_saved_passwords(size) as (site, store, targets):

            def measure(run: Callable[[], object]) -> tuple[float, float]:
                site.state.kill_sessions()  # every session expired, as after a long night
                with PeakPss() as memory:
                    start = time.perf_counter()
                    run()
                    elapsed = time.perf_counter() - start
                return elapsed, memory.peak_kib / 1024

            def shared(
                concurrency: int, store: SessionStore = store, targets: list[Target] = targets
            ) -> None:
                results = refresh_sessions(store, targets, concurrency=concurrency, use_agent=False)
                assert all(r.outcome == "refreshed" for r in results), results

            def per_user(store: SessionStore = store, targets: list[Target] = targets) -> None:
                for target in targets:
                    [result] = refresh_sessions(store, [target], concurrency=1, use_agent=False)
                    assert result.outcome == "refreshed", result

            base_time, base_mem = measure(per_user)
            one_time, one_mem = measure(lambda: shared(1))
            n_time, n_mem = measure(lambda: shared(n_default))
        label = f"`refresh --all`, {size} expired user{'s' if size > 1 else ''}"
        base = "one browser per user"
        rows.append((f"{label}, one browser, concurrency 1", base, one_time, base_time, 1))
        default = f"default concurrency ({n_default})"
        rows.append((f"{label}, one browser, {default}", base, n_time, base_time, 1))
        MEMORY.append((size, base_mem, one_mem, n_mem, n_default))
    return rows


MEMORY: list[tuple[int, float, float, float, int]] = []
GOALS: list[tuple[str, str, bool]] = []  # (goal, what was measured, met)
PROFILE: list[tuple[str, float]] = []  # a cold login's steps
AGENT_PROFILE: list[tuple[str, float]] = []  # the same, an agent doing the whole login
ENV_PROFILE: list[tuple[str, float]] = []  # `harvest env`'s steps
OVERHEAD: list[tuple[str, float, float]] = []  # (what, seconds over raw HTTP, goal)
PROXY_LATENCY: list[tuple[str, float]] = []  # the median latency the proxy adds to one call


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    chromium = "chromium ?"
    exe = shutil.which("chromium")
    if exe:
        chromium = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout.strip()
    return (
        f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, {chromium}, "
        f"{time.strftime('%Y-%m-%d')}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument(
        "--before",
        default="0a16430",
        metavar="REF",
        help="the commit whose cold login the agent work is measured against (same run)",
    )
    args = parser.parse_args()
    n_raw, n_cold, n_warm, n_cmd, n_calls = (
        (20, 3, 5, 5, 200) if args.quick else (50, 10, 20, 20, 1000)
    )
    os.environ.setdefault(
        "HARVEST_BROWSER_ARGS", '--host-resolver-rules="MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"'
    )
    rows: list[tuple[str, str, float, float, int]] = []
    raw = 0.0
    # the bench's own agent folder: never a running agent of the person who runs it
    agent_dir = tempfile.mkdtemp(prefix="hvb-", dir="/tmp")
    os.environ["HARVEST_AGENT_DIR"] = agent_dir
    with DevSite({"alice": PASSWORD}) as site, tempfile.TemporaryDirectory() as state:
        env = {**os.environ, "XDG_STATE_HOME": state}
        with httpx.Client(follow_redirects=True, timeout=30) as http:
            raw = median_seconds(lambda: raw_http_login(site, http), n_raw, warmup=3)
        cold = median_seconds(lambda: cold_cli_login(site, env), n_cold)
        before_tree = old_tree(args.before)
        try:
            before = median_seconds(lambda: cold_cli_login_before(site, env, before_tree), n_cold)
        finally:
            shutil.rmtree(before_tree, ignore_errors=True)
        run_quiet([HARVEST, "agent", "start"], env)
        try:
            through_agent = median_seconds(lambda: cold_cli_login(site, env), n_cold, warmup=2)
            # another environment: the CLI does all but the browser part (docs/agent.md)
            elsewhere = {**env, "SOME_OTHER_SETTING": "1"}
            browser_part = median_seconds(lambda: cold_cli_login(site, elsewhere), n_cold)
            AGENT_PROFILE.extend(agent_profile(site, env, Path(agent_dir), n_cold))
            paired_warm, paired_agent = warm_and_agent_logins(site, env, n_warm)
        finally:
            run_quiet([HARVEST, "agent", "stop"], env)
        AGENT_PROFILE.append(("the whole `harvest login`, cold, agent running", through_agent))
        rows.append(
            (
                "`harvest login`, cold process, agent doing the browser part only "
                "(another environment)",
                "raw-HTTP login",
                browser_part,
                raw,
                n_cold,
            )
        )
        rows.append(
            (
                "`harvest login`, cold process, `harvest agent` running",
                "raw-HTTP login",
                through_agent,
                raw,
                n_cold,
            )
        )
        rows.append(
            (
                "`harvest login`, cold process, no agent",
                f"the same, harvester at {args.before}",
                cold,
                before,
                n_cold,
            )
        )
        PROFILE.extend(login_profile(site, env, 3 if args.quick else 7))
        rows.append(
            (
                "`harvest login`, cold process (browser start, login, verify, keyring)",
                "raw-HTTP login",
                cold,
                raw,
                n_cold,
            )
        )
        warm = warm_logins(site, n_warm)
        rows.append(
            (
                "login in an open browser, lean, warm context (as refresh logs in)",
                "raw-HTTP login",
                warm,
                raw,
                n_warm,
            )
        )
        fresh = warm_logins(site, n_warm, reuse=False)
        rows.append(
            (
                "login in an open browser, lean, new context",
                "raw-HTTP login",
                fresh,
                raw,
                n_warm,
            )
        )
        full = warm_logins(site, n_warm, reuse=False, full=True)
        rows.append(
            (
                "login in an open browser, full pages (scripts, styles, images), new context",
                "raw-HTTP login",
                full,
                raw,
                n_warm,
            )
        )
        GOALS.extend(
            [
                (
                    "cold `harvest login` with an agent ≤ warm in-process login + 100 ms "
                    f"(interleaved, {n_warm} pairs)",
                    f"{paired_agent * 1000:.0f} ms vs {paired_warm * 1000:.0f} + 100 ms",
                    paired_agent <= paired_warm + 0.100,
                ),
                (
                    f"cold `harvest login` without one ≥ 25 % faster than at {args.before}",
                    f"{(1 - cold / before) * 100:.0f} % faster",
                    cold <= 0.75 * before,
                ),
            ]
        )
        OVERHEAD.extend(
            [
                ("warm login, lean, warm context", warm - raw, 0.150),
                ("warm login, lean, new context", fresh - raw, 0.150),
                ("warm login, full pages, new context", full - raw, 0.150),
                ("cold `harvest login` (whole process)", cold - raw, 0.700),
            ]
        )

        # Handing the session out: the keyring read dominates; Playwright is never imported.
        env_cmd = [HARVEST, "env", "--user", "alice", "--site", site.url]
        keyring_cmd = [KEYRING, "get", f"harvester:session:{site.url}", "alice"]
        harvest_env = median_seconds(lambda: run_quiet(env_cmd, env), n_cmd)
        keyring_get = median_seconds(lambda: run_quiet(keyring_cmd, env), n_cmd)
        python_pass = median_seconds(lambda: run_quiet([sys.executable, "-c", "pass"]), n_cmd)
        # where `harvest env` goes: the interpreter, the imports of its path, the rest (keyring
        # backend loaded by name, one Secret Service read, printing)
        env_modules = (
            "import harvester.cli.fast, harvester.cli.lines, harvester.handoff.export, keyring"
        )
        env_imports = median_seconds(lambda: run_quiet([sys.executable, "-c", env_modules]), n_cmd)
        ENV_PROFILE.extend(
            [
                ("the interpreter starts", python_pass),
                ("imports (the fast path, the store and export modules, keyring)",
                 env_imports - python_pass),
                ("the rest: keyring's backend, one Secret Service read, printing",
                 harvest_env - env_imports),
                ("the whole `harvest env`", harvest_env),
            ]
        )  # fmt: skip
        rows.append(
            (
                "`harvest env` (process wall time)",
                "`keyring get` of the same secret",
                harvest_env,
                keyring_get,
                n_cmd,
            )
        )
        GOALS.append(
            (
                "`harvest env` ≤ 1.15x `keyring get`",
                f"{harvest_env / keyring_get:.2f}x",
                harvest_env <= 1.15 * keyring_get,
            )
        )
        rows.append(
            (
                "`harvest env` (process wall time)",
                "`python -c pass`",
                harvest_env,
                python_pass,
                n_cmd,
            )
        )
        # The catalogue loads only for the commands that use it (about 250 KB of JSON).
        operations = median_seconds(lambda: run_quiet([HARVEST, "operations", "job"]), n_cmd)
        rows.append(
            (
                "`harvest operations job` (process wall time)",
                "`python -c pass`",
                operations,
                python_pass,
                n_cmd,
            )
        )

        session = SessionStore(Path(state) / "harvester").load(site.url, "alice")
        assert session is not None
        with (
            TotaraClient(site.url, session) as client,
            httpx.Client(timeout=30, follow_redirects=False) as http,
        ):
            ours = median_seconds(lambda: client_calls(client, n_calls), 3)
            floor = median_seconds(lambda: raw_calls(http, session, n_calls), 3)
        rows.append(
            (
                f'{n_calls} `TotaraClient.call("totara_webapi_status")`',
                "raw httpx, same connection reuse",
                ours,
                floor,
                3,
            )
        )
        rows.extend(proxy_rows(site, session, 200 if args.quick else 1000))
    # The same against a site that takes 50 ms an answer, as a real Totara's ajax.php does
    with DevSite({"alice": PASSWORD}, delay=0.05) as slow:
        label = ", site answering in 50 ms"
        rows.extend(proxy_rows(slow, raw_session(slow), 100 if args.quick else 300, label))
    rows.extend(refresh_rows([1, 5] if args.quick else [1, 10, 50]))
    rows.extend(agent_refresh_rows(10, {**os.environ}))
    shutil.rmtree(agent_dir, ignore_errors=True)
    print(f"Machine: {machine()}\n")
    print("| what | baseline | time | baseline time | ratio | runs |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for what, base, value, base_value, runs in rows:
        print(
            f"| {what} | {base} | {value * 1000:.0f} ms | {base_value * 1000:.1f} ms | "
            f"{value / base_value:.2f}x | {runs} |"
        )
    print(
        f"\nBrowser overhead over the raw-HTTP login ({raw * 1000:.1f} ms), same site, same run:\n"
    )
    print("| login | overhead | goal | met |")
    print("| --- | ---: | ---: | --- |")
    for what, extra, goal in OVERHEAD:
        met = "yes" if extra <= goal else "no"
        print(f"| {what} | +{extra * 1000:.0f} ms | +{goal * 1000:.0f} ms | {met} |")
    for label, added in PROXY_LATENCY:
        print(f"\n`harvest proxy` adds {added * 1000:.2f} ms to the median call{label}.")
    print("\nGoals (docs/agent.md):\n")
    print("| goal | measured | met |")
    print("| --- | --- | --- |")
    for aim, measured, reached in GOALS:
        print(f"| {aim} | {measured} | {'yes' if reached else 'no'} |")
    print("\nA cold `harvest login` with an agent running, step by step (medians, this run):\n")
    print("| step | time |")
    print("| --- | ---: |")
    for step, seconds in AGENT_PROFILE:
        print(f"| {step} | {seconds * 1000:.0f} ms |")
    print("\nA cold `harvest login` without an agent, step by step (medians, this run):\n")
    print("| step | time |")
    print("| --- | ---: |")
    for step, seconds in PROFILE:
        print(f"| {step} | {seconds * 1000:.0f} ms |")
    print("\n`harvest env`, step by step (medians, this run):\n")
    print("| step | time |")
    print("| --- | ---: |")
    for step, seconds in ENV_PROFILE:
        print(f"| {step} | {seconds * 1000:.0f} ms |")
    print("\nPeak PSS of the browser process tree (driver + Chromium), MiB:\n")
    print(
        "| expired users | one browser per user | one browser, concurrency 1 | "
        "one browser, default concurrency |"
    )
    print("| ---: | ---: | ---: | ---: |")
    for size, base_mem, one_mem, n_mem, n_default in MEMORY:
        print(f"| {size} | {base_mem:.0f} | {one_mem:.0f} | {n_mem:.0f} (N={n_default}) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
