"""Starting, stopping and asking the agent (`harvest agent start|stop|status|run`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ..errors import BrowserUnavailable, HarvestError
from ..logins.agent_socket import agent_folder, ask
from .server import DEFAULT_IDLE, DEFAULT_MEMORY_MIB, Agent, agent_answers, prepare_folder

log = logging.getLogger(__name__)
START_SECONDS = 30.0
STOP_SECONDS = 20.0


def log_file(folder: Path | None = None) -> Path:
    return (folder or agent_folder()) / "agent.log"


def run_agent(idle: float = DEFAULT_IDLE, memory_mib: int = DEFAULT_MEMORY_MIB) -> None:
    """`harvest agent run`: serve in the foreground until stopped, idle, or signalled (for
    systemd, and what `start` runs detached)."""
    from ..logins.browser.processes import private_tmpdir

    folder = agent_folder()
    prepare_folder(folder)
    with private_tmpdir() as browsers:
        agent = Agent(folder, idle=idle, memory_mib=memory_mib, browser_folder=browsers)
        asyncio.run(agent.serve())


def start_agent(
    idle: float = DEFAULT_IDLE, memory_mib: int = DEFAULT_MEMORY_MIB
) -> tuple[int, bool]:
    """Start an agent in the background, detached from this terminal (its own session, stdin
    and stdout closed, its log in the agent folder, 0600), and wait until its socket answers.
    (pid, whether one was already running)."""
    folder = agent_folder()
    running = agent_answers(folder / "agent.sock")
    if running is not None:
        return int(running.get("pid", 0)), True
    prepare_folder(folder)
    logged = log_file(folder)
    descriptor = os.open(logged, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "harvester",
                "agent",
                "run",
                "--idle",
                f"{idle:g}",
                "--memory",
                str(memory_mib),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=descriptor,
            cwd="/",
            start_new_session=True,  # no controlling terminal: a Ctrl-C here never reaches it
            close_fds=True,
        )
    finally:
        os.close(descriptor)
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        answer = agent_answers(folder / "agent.sock", timeout=1.0)
        if answer is not None:
            pid = int(answer.get("pid", 0))
            return pid, pid != process.pid
        if process.poll() is not None and "already running" not in _last_line(logged):
            raise BrowserUnavailable(f"the agent did not start: {_last_line(logged)}")
        time.sleep(0.05)
    with contextlib.suppress(OSError):
        os.kill(process.pid, signal.SIGTERM)
    raise BrowserUnavailable(f"the agent did not answer within {START_SECONDS:g} s: {logged}")


def stop_agent() -> int | None:
    """Ask the agent to stop and wait until its process is gone (its browsers with it); the
    pid that stopped, or None when none was running."""
    folder = agent_folder()
    pid: int | None
    try:
        answer = ask({"op": "stop"}, 5.0, folder / "agent.sock")
        pid = int(answer.get("pid", 0))
    except HarvestError:
        pid = _pid_from_file(folder)
        if pid is None:
            return None
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)  # it does not answer: the signal stops it the same way
    deadline = time.monotonic() + STOP_SECONDS
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(pid):
        raise BrowserUnavailable(f"the agent (pid {pid}) did not stop within {STOP_SECONDS:g} s")
    return pid


def agent_status() -> dict[str, Any] | None:
    """What the running agent says of itself, or None."""
    try:
        answer = ask({"op": "status"}, 5.0)
    except HarvestError:
        return None
    status = answer.get("status")
    return status if isinstance(status, dict) else None


def _pid_from_file(folder: Path) -> int | None:
    try:
        pid = int((folder / "agent.pid").read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _alive(pid) and _is_agent(pid) else None


def _is_agent(pid: int) -> bool:
    """Whether *pid* is a harvester agent (never signal a pid that was reused meanwhile)."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"harvester" in b" ".join(command) and b"agent" in command and b"run" in command


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie (our own child, not reaped yet) is gone for our purposes
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def _last_line(path: Path) -> str:
    try:
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "(no log)"
    return lines[-1][:300] if lines else "(nothing in its log)"
