"""The agent process: a Unix socket that only its own uid may use, one Playwright driver, a
warm browser (with lean contexts kept for the next login) per way of trusting sites, an idle
exit, and a memory bound after which its browsers are started afresh.

Everything runs inside one private temporary folder (processes.py), so the browser processes
are exactly those whose command line names it: a SIGTERM, `harvest agent stop` or the idle exit
stops them and removes the folder, and nothing survives the agent.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import fcntl
import json
import logging
import os
import signal
import socket
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from .. import redact
from ..errors import BrowserUnavailable, HarvestError, UsageError, first_line
from ..logins.agent_link import captured_to_wire, network_from_wire, profile_from_wire
from ..logins.agent_socket import (
    ABANDON_LOOK_SECONDS,
    MAX_MESSAGE,
    Abandoned,
    AgentUnavailable,
    ask,
    environment_of,
    error_to_wire,
)
from ..logins.browser.login_pages import login_with_password
from ..logins.browser.outcome import CapturedLogin
from ..logins.browser.processes import processes_using
from ..logins.browser.runner import BROWSER_LOST, LazyBrowser
from ..network.browser_trust import BrowserNetwork, browser_network
from ..network.reach import Network
from ..settings.config import SiteProfile
from ..version import __version__

log = logging.getLogger(__name__)
T = TypeVar("T")
DEFAULT_IDLE = 15 * 60.0
DEFAULT_MEMORY_MIB = 2048
BROWSER_START_SECONDS = 60.0


class AlreadyRunning(HarvestError):
    """Another agent holds this user's agent folder."""

    exit_code = 1


def prepare_folder(folder: Path) -> None:
    """The agent's folder: ours, 0700, a real folder (not a link someone else placed)."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = folder.lstat()
    import stat

    if not stat.S_ISDIR(info.st_mode):
        raise UsageError(f"{folder} is not a folder: the agent needs a folder of its own there")
    if info.st_uid != os.getuid():
        raise UsageError(f"{folder} belongs to uid {info.st_uid}, not to you: not using it")
    if info.st_mode & 0o077:
        os.chmod(folder, 0o700)


class Agent:
    def __init__(
        self,
        folder: Path,
        *,
        idle: float = DEFAULT_IDLE,
        memory_mib: int = DEFAULT_MEMORY_MIB,
        browser_folder: str = "",
    ):
        self.folder = folder
        self.browser_folder = browser_folder  # the private folder its browsers live in
        self.socket = folder / "agent.sock"
        self.pid_file = folder / "agent.pid"
        self.idle = idle
        self.memory_mib = memory_mib
        self.started = time.time()
        self.last_activity = time.monotonic()
        self.in_flight = 0
        self.logins = 0
        self.recycled = 0
        self.browsers: dict[BrowserNetwork, LazyBrowser] = {}
        self.stopping = asyncio.Event()
        self._closing: set[asyncio.Future[None]] = set()
        self._lock_file: Any = None
        # whom it may log in for from start to finish: a caller whose environment is its own
        self.environment = environment_of()

    # -- life ----------------------------------------------------------------------------------
    async def serve(self, ready: asyncio.Event | None = None) -> None:
        prepare_folder(self.folder)
        self._take_lock()
        self._replace_stale_socket()
        server = await asyncio.start_unix_server(
            self._handle, path=str(self.socket), limit=MAX_MESSAGE + 1
        )
        os.chmod(self.socket, 0o600)
        self.pid_file.write_text(f"{os.getpid()}\n")
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.stopping.set)
        _JobWarnings.attach()
        log.info("agent %s (pid %d) listening on %s", __version__, os.getpid(), self.socket)
        idle = asyncio.ensure_future(self._idle_watch())
        warm = asyncio.ensure_future(self._warm_up())
        if ready is not None:
            ready.set()
        try:
            await self.stopping.wait()
        finally:
            idle.cancel()
            warm.cancel()
            server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 5)
            if self._closing:
                await asyncio.wait(self._closing, timeout=10)
            for browsers in list(self.browsers.values()):
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(browsers.aclose(), 15)
            self.browsers.clear()
            for path in (self.socket, self.pid_file):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            log.info("agent stopped after %d logins", self.logins)

    def _take_lock(self) -> None:
        """One agent per folder: the first to lock agent.lock, for its whole life."""
        self._lock_file = open(self.folder / "agent.lock", "a+")  # noqa: SIM115 (held for life)
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = self.pid_file.read_text().strip() if self.pid_file.exists() else "?"
            raise AlreadyRunning(f"an agent is already running (pid {pid})") from None

    def _replace_stale_socket(self) -> None:
        """A socket left by a dead agent (we hold the lock, so nobody serves it) is removed."""
        if self.socket.exists() or self.socket.is_symlink():
            log.info("removing the stale socket %s", self.socket)
            self.socket.unlink()

    async def _idle_watch(self) -> None:
        while True:
            await asyncio.sleep(min(1.0, max(0.1, self.idle / 4)))
            if self.in_flight == 0 and time.monotonic() - self.last_activity > self.idle:
                log.info("idle for %g s: exiting", self.idle)
                self.stopping.set()
                return

    async def _warm_up(self) -> None:
        """Start the plain browser and one lean context now, so the first login is warm; and
        import what a whole login needs (httpx, keyring and its backend), meanwhile."""
        imports = asyncio.ensure_future(asyncio.to_thread(_import_whole_login))
        try:
            browsers = self._browsers_for(BrowserNetwork())
            await browsers.get()
            async with browsers.pool.page(lean=True, timeout=BROWSER_START_SECONDS):
                pass
            await imports
        except Exception as exc:  # the first login will say what is wrong
            log.info("warming up failed: %s", redact.redact(first_line(exc)))

    def _browsers_for(self, network: BrowserNetwork) -> LazyBrowser:
        browsers = self.browsers.get(network)
        if browsers is None or browsers.lost.is_set():
            if browsers is not None:
                log.info("the browser went away; starting another")
                self._closing.add(asyncio.ensure_future(browsers.aclose()))  # its driver too
            browsers = LazyBrowser(
                BROWSER_START_SECONDS, network=network, folder=self.browser_folder
            )
            self.browsers[network] = browsers
        return browsers

    # -- one connection, one request -----------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.in_flight += 1
        try:
            reply = await self._reply(reader, writer)
            writer.write(json.dumps({"harvester": __version__, **reply}).encode() + b"\n")
            await writer.drain()
        except (ConnectionError, OSError):
            pass  # the client went away; nothing to tell it
        finally:
            self.in_flight -= 1
            self.last_activity = time.monotonic()
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _reply(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> dict[str, Any]:
        peer = writer.get_extra_info("socket")
        uid = peer_uid(peer) if peer is not None else None
        if uid != os.getuid():
            log.warning("refused a connection from uid %s", uid)
            return _failure(UsageError(f"this agent serves uid {os.getuid()} only"))
        try:
            line = await reader.readline()
        except (ValueError, asyncio.LimitOverrunError):
            return _failure(UsageError("a request larger than 1 MiB"))
        try:
            request = json.loads(line)
            assert isinstance(request, dict)
        except (ValueError, AssertionError):
            return _failure(UsageError("a request that is not a JSON object"))
        if request.get("harvester") != __version__:
            return _failure(
                AgentUnavailable(
                    f"the running agent is harvester {__version__}, the caller is harvester "
                    f"{request.get('harvester')}: restart it (harvest agent stop; harvest "
                    "agent start)"
                )
            )
        op = request.get("op")
        if op == "ping":
            return {"ok": True, "pid": os.getpid()}
        if op == "status":
            return {"ok": True, "status": self.status()}
        if op == "stop":
            self.stopping.set()
            return {"ok": True, "pid": os.getpid()}
        if op == "login":
            return await self._login(request)
        if op == "login_here":
            return await self._login_here(request, reader)
        return _failure(UsageError(f"unknown request {str(op)[:40]!r}"))

    def status(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "version": __version__,
            "socket": str(self.socket),
            "uptime": round(time.time() - self.started, 1),
            "logins": self.logins,
            "browsers": sum(1 for b in self.browsers.values() if b.started and not b.lost.is_set()),
            "browser_memory_mib": round(browser_memory(self.browser_folder) / (1 << 20)),
            "memory_bound_mib": self.memory_mib,
            "recycled": self.recycled,
            "idle_exit": self.idle,
        }

    async def _login(self, request: dict[str, Any]) -> dict[str, Any]:
        """The browser part of a caller's login (logins/agent_link.py)."""
        try:
            password = str(request["password"])
            redact.register(password)
            network = network_from_wire(request["network"])
            if network.proxy is not None:
                redact.register(network.proxy.password)
            profile = profile_from_wire(request["profile"])
            user = str(request["user"])
            timeout = float(request["timeout"])
        except (KeyError, TypeError, ValueError) as exc:
            return _failure(UsageError(f"a login request without {exc}"))
        try:
            captured = await self._captured_for(profile, user, password, timeout, network)
        except HarvestError as exc:
            return _failure(exc)
        except Exception as exc:
            return _failure(_unexpected(exc))
        return {"ok": True, "captured": captured_to_wire(captured)}

    async def _captured_for(
        self, profile: SiteProfile, user: str, password: str, timeout: float, network: Network
    ) -> CapturedLogin:
        """The browser part of a login in this agent's warm browser for *network*'s trust."""
        started = time.monotonic()
        try:
            trust = await asyncio.to_thread(browser_network, [network], timeout)
            captured = await self._capture(trust, profile, user, password, timeout, network)
        except Exception as exc:
            why = exc.message if isinstance(exc, HarvestError) else _unexpected(exc).message
            log.info("login for %s at %s: %s", user, profile.wwwroot, redact.redact(why))
            raise
        finally:
            await self._recycle_if_heavy()
        self.logins += 1
        elapsed = (time.monotonic() - started) * 1000
        log.info("login for %s at %s: captured in %.0f ms", user, profile.wwwroot, elapsed)
        return captured

    async def _login_here(
        self, request: dict[str, Any], reader: asyncio.StreamReader
    ) -> dict[str, Any]:
        """A whole `harvest login` for a caller whose environment is this agent's own
        (agent_socket.login_here): the same flow the caller would run (logins/flow.py), with this
        agent's warm browser for the browser part, in a thread of its own. Nothing is stored
        once the caller has gone away (Ctrl-C) or the agent is stopping."""
        theirs = request.get("environment")
        if not isinstance(theirs, dict) or not self.environment or theirs != self.environment:
            differ = _differing(theirs if isinstance(theirs, dict) else {}, self.environment)
            log.info("not a whole login: the caller's %s differ", ", ".join(differ) or "paths")
            return _failure(AgentUnavailable("the caller's environment is not the agent's"))
        try:
            site, user = str(request["site"]), str(request["user"])
            password = None if request["password"] is None else str(request["password"])
            prompt, save = bool(request["prompt"]), bool(request["save_password"])
            timeout = float(request["timeout"])
        except (KeyError, TypeError, ValueError) as exc:
            return _failure(UsageError(f"a login request without {exc}"))
        if password:
            redact.register(password)
        loop = asyncio.get_running_loop()

        def capture(
            profile: SiteProfile,
            user: str,
            password: str,
            timeout: float,
            network: Network,
            abandon: threading.Event | None,
        ) -> CapturedLogin:
            if self.stopping.is_set():  # no new browser while the agent stops
                raise AgentUnavailable("the agent is stopping; nothing was stored")
            job = self._captured_for(profile, user, password, timeout, network)
            running = asyncio.run_coroutine_threadsafe(job, loop)
            deadline = time.monotonic() + timeout + 60  # only a hang: the job has its own
            while True:
                try:
                    return running.result(ABANDON_LOOK_SECONDS)
                except concurrent.futures.TimeoutError:  # (not yet TimeoutError on 3.10)
                    if abandon is not None and abandon.is_set():
                        running.cancel()  # the page is closed with its context
                        raise Abandoned() from None
                    if time.monotonic() > deadline:
                        running.cancel()
                        raise BrowserUnavailable(
                            f"the agent's browser did not finish within {timeout + 60:g} s"
                        ) from None

        def before_store() -> None:
            if reader.at_eof() or self.stopping.is_set():
                raise AgentUnavailable("the caller or the agent went away; nothing was stored")

        def whole_login() -> dict[str, Any]:
            from ..logins.flow import PasswordSource, login_with
            from ..settings.reach import forget_resolved
            from ..store.sessions import SessionStore

            forget_resolved()  # as in a new process: the config and its files are read again
            source = PasswordSource(prompt=_ask_the_caller if prompt else None)
            session = login_with(
                site,
                user,
                source if password is None else password,
                store=SessionStore(),
                save_password=save,
                timeout=timeout,
                capture=capture,
                own_browser=False,
                before_store=before_store,
            )
            return {
                "user": session.user,
                "wwwroot": str(session.wwwroot),
                "cookie_name": session.cookie_name,
            }

        said: list[str] = []
        started = time.monotonic()
        try:
            done = await asyncio.to_thread(_JobWarnings.collecting, said, whole_login)
        except Exception as exc:
            failure = exc if isinstance(exc, HarvestError) else _unexpected(exc)
            log.info("whole login for %s at %s: %s", user, site, redact.redact(failure.message))
            return {**_failure(failure), "warnings": said}
        elapsed = (time.monotonic() - started) * 1000
        log.info(
            "whole login for %s at %s: stored in %.0f ms", done["user"], done["wwwroot"], elapsed
        )
        return {"ok": True, "done": {**done, "warnings": said}}

    async def _capture(
        self,
        trust: BrowserNetwork,
        profile: SiteProfile,
        user: str,
        password: str,
        timeout: float,
        network: Network,
    ) -> CapturedLogin:
        """The login in the warm browser; if that browser turns out to be gone (killed or
        crashed since the last login, or during this one), once more in a new one."""
        for attempt in (1, 2):
            browsers = self._browsers_for(trust)
            try:
                return await browsers.unless_lost(
                    login_with_password(
                        browsers.pool, profile, user, password, timeout=timeout, network=network
                    ),
                    lambda: BrowserUnavailable(BROWSER_LOST),
                )
            except Exception:
                gone = browsers.lost.is_set() or browsers.processes_gone()
                if attempt == 2 or not gone:
                    raise
                browsers.lost.set()  # the next _browsers_for starts another
                log.info("the browser went away; the login again in a new one")
        raise AssertionError("unreachable")

    async def _recycle_if_heavy(self) -> None:
        """Over the memory bound, with no other login under way: start the browsers afresh."""
        memory = browser_memory(self.browser_folder)
        if self.in_flight > 1 or memory <= self.memory_mib * (1 << 20):
            return
        log.info("the browsers use more than %d MiB: starting them afresh", self.memory_mib)
        self.recycled += 1
        browsers, self.browsers = list(self.browsers.values()), {}
        for each in browsers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(each.aclose(), 15)


def _failure(exc: HarvestError) -> dict[str, Any]:
    """A refusal, its message masked of every secret this agent was given."""
    error = error_to_wire(exc)
    return {"ok": False, "error": {**error, "message": redact.redact(error["message"])}}


def _differing(theirs: dict[str, Any], ours: dict[str, str]) -> list[str]:
    """The names (never the values) of the variables two environments do not share."""
    return sorted(name for name in set(theirs) | set(ours) if theirs.get(name) != ours.get(name))


def _unexpected(exc: BaseException) -> HarvestError:
    return HarvestError(redact.redact(f"unexpected {type(exc).__name__}: {first_line(exc)}"))


def _ask_the_caller(_text: str) -> str:
    """No saved password, and the caller can ask for one at its terminal: it does, and logs in
    itself (the agent never prompts)."""
    raise AgentUnavailable("no saved password: the caller asks for one")


def _import_whole_login() -> None:
    """What a whole login (`login_here`) imports, and keyring's backend, ahead of the first."""
    from ..logins import flow  # noqa: F401  (httpx, the flow)
    from ..store.keyring_access import backend_name

    backend_name()


class _JobWarnings(logging.Handler):
    """The library's warnings during a whole login, for the caller to print (as its own
    process would); secrets masked. Each login's list travels in its context (contextvars),
    so concurrent logins keep theirs apart."""

    current: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
        "harvester_job_warnings", default=None
    )

    def emit(self, record: logging.LogRecord) -> None:
        said = self.current.get()
        if said is not None:
            said.append(redact.redact(record.getMessage()))

    @classmethod
    def attach(cls) -> None:
        logger = logging.getLogger("harvester")
        if not any(isinstance(h, cls) for h in logger.handlers):
            logger.addHandler(cls(logging.WARNING))
            if logger.level == logging.NOTSET or logger.level > logging.WARNING:
                logger.setLevel(logging.WARNING)

    @classmethod
    def collecting(cls, said: list[str], work: Callable[[], T]) -> T:
        cls.current.set(said)  # in the context asyncio.to_thread copied for this call
        return work()


def peer_uid(sock: socket.socket) -> int | None:
    """The uid of the process at the other end of a Unix socket (SO_PEERCRED, Linux)."""
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except (OSError, AttributeError):
        return None
    _pid, uid, _gid = struct.unpack("3i", raw)
    return int(uid)


def browser_memory(folder: str) -> int:
    """Bytes resident in the browser processes of this agent (those in its private folder)."""
    if not folder:
        return 0
    page = os.sysconf("SC_PAGE_SIZE")
    total = 0
    for pid in processes_using(folder):
        with contextlib.suppress(OSError, ValueError, IndexError):
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * page
    return total


def agent_answers(path: Path, timeout: float = 2.0) -> dict[str, Any] | None:
    """The agent's answer to a ping, or None when none answers there."""
    try:
        return ask({"op": "ping"}, timeout, path)
    except HarvestError:
        return None
