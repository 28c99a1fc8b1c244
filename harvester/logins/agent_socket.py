"""Finding the running agent and asking it one thing: the light half of the agent's protocol,
which the command line's fast path imports (json and socket, nothing heavy).

One JSON object per line each way, at most MAX_MESSAGE bytes, on a Unix socket in a 0700 folder
of the user's; the agent serves only its own uid (SO_PEERCRED). Two kinds of login go through
it (docs/agent.md, "Which side does what"): the browser part of a caller's login
(agent_link.py), and a whole `harvest login` (`login_here`) when the caller's
environment is the agent's own (`environment_of`).
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from .. import errors
from ..errors import BrowserUnavailable, HarvestError
from ..version import __version__

MAX_MESSAGE = 1 << 20
CONNECT_SECONDS = 2.0
AGENT_GONE = "the agent went away during the login (killed?); nothing was stored"


class AgentUnavailable(HarvestError):
    """No agent can serve this login (none running, a stale socket, another version); the
    caller falls back to a browser of its own."""

    exit_code = 1


class AgentGone(AgentUnavailable):
    """The agent went away mid-request, or it is another version: worth one line to the person,
    and not worth asking again."""


def agent_folder() -> Path:
    """The agent's folder: HARVEST_AGENT_DIR, else $XDG_RUNTIME_DIR/harvester, else a 0700
    folder of this uid's under the temporary folder."""
    explicit = os.environ.get("HARVEST_AGENT_DIR")
    if explicit:
        return Path(explicit)
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime):
        return Path(runtime) / "harvester"
    import tempfile  # (only here: ~3 ms of every fast-path process otherwise)

    return Path(tempfile.gettempdir()) / f"harvester-agent-{os.getuid()}"


def socket_path() -> Path:
    return agent_folder() / "agent.sock"


def agent_wanted(explicit: bool = True) -> bool:
    """Whether to look for an agent at all: not with --no-agent (*explicit* False) or
    HARVEST_AGENT=0."""
    return explicit and os.environ.get("HARVEST_AGENT", "1").strip().lower() not in (
        "0",
        "no",
        "false",
        "off",
    )


class Abandoned(Exception):
    """The caller stopped waiting for the agent: its own checks failed meanwhile (they say
    why). Not an error of its own."""


# How often a caller that may abandon the wait looks whether it has
ABANDON_LOOK_SECONDS = 0.05


def ask(
    message: dict[str, Any],
    timeout: float,
    path: Path | None = None,
    abandon: threading.Event | None = None,
) -> dict[str, Any]:
    """Send one request to the agent and read its answer. AgentUnavailable when none listens
    (or a stale socket is left), or when it went away before answering; Abandoned as soon as
    *abandon* is set (the socket is closed: the agent stores nothing for a caller gone)."""
    path = path or socket_path()
    _check_ours(path)
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        client.settimeout(CONNECT_SECONDS)
        try:
            client.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            raise AgentUnavailable(f"no agent is running ({type(exc).__name__})") from None
        except OSError as exc:
            raise AgentUnavailable(f"cannot reach the agent at {path}: {exc.strerror}") from None
        client.settimeout(timeout)
        data = json.dumps({"harvester": __version__, **message}).encode() + b"\n"
        try:
            client.sendall(data)
            answer = _read_line(client, timeout, abandon)
        except TimeoutError:
            raise BrowserUnavailable(
                f"the agent did not answer within {timeout:g} s (--timeout)"
            ) from None
        except OSError:
            answer = b""
        if not answer:
            raise AgentGone(AGENT_GONE)
        try:
            reply = json.loads(answer)
        except ValueError:
            raise AgentUnavailable("the agent answered something that is not JSON") from None
        if not isinstance(reply, dict):
            raise AgentUnavailable("the agent answered something that is not an object")
        return reply
    finally:
        client.close()


def same_version(reply: dict[str, Any]) -> None:
    """AgentGone unless the agent that answered *reply* is this harvester's version."""
    version = reply.get("harvester")
    if version != __version__:
        raise AgentGone(
            f"the running agent is harvester {version}, this is harvester {__version__}: "
            "restart it (harvest agent stop; harvest agent start)"
        )


def _check_ours(path: Path) -> None:
    """The socket and its folder must be this user's, and the folder closed to others, before
    anything (a password) is sent there: a folder someone else made under /tmp is not ours."""
    import stat

    try:
        folder, sock = path.parent.lstat(), path.lstat()
    except FileNotFoundError:
        raise AgentUnavailable("no agent is running (no socket)") from None
    except OSError as exc:
        raise AgentUnavailable(
            f"cannot look at the agent's socket {path}: {exc.strerror}"
        ) from None
    uid = os.getuid()
    if not stat.S_ISDIR(folder.st_mode) or folder.st_uid != uid or folder.st_mode & 0o077:
        raise AgentUnavailable(
            f"the agent folder {path.parent} is not yours alone (owner uid {folder.st_uid}, mode "
            f"{stat.S_IMODE(folder.st_mode):o}): not using it"
        )
    if not stat.S_ISSOCK(sock.st_mode) or sock.st_uid != uid:
        raise AgentUnavailable(f"{path} is not your agent's socket: not using it")


def _read_line(client: socket.socket, timeout: float, abandon: threading.Event | None) -> bytes:
    parts: list[bytes] = []
    size = 0
    deadline = time.monotonic() + timeout
    if abandon is not None:
        client.settimeout(ABANDON_LOOK_SECONDS)
    while True:
        try:
            chunk = client.recv(65536)
        except TimeoutError:
            if abandon is None or time.monotonic() >= deadline:
                raise
            if abandon.is_set():
                raise Abandoned() from None
            continue
        if not chunk:
            return b""  # closed before a whole line: it went away
        parts.append(chunk)
        size += len(chunk)
        if b"\n" in chunk:
            return b"".join(parts).split(b"\n", 1)[0]
        if size > MAX_MESSAGE:
            raise AgentUnavailable("the agent's answer is larger than 1 MiB")


# Variables that change nothing a login does: a terminal's, a shell's, and the agent's own
# finding (HARVEST_AGENT_DIR, HARVEST_AGENT). TMPDIR too: the agent's browsers live in a private
# folder of its own, and a login writes no temporary file. Everything else in the environment
# (HOME, XDG_*, HARVEST_*, DBUS_SESSION_BUS_ADDRESS, PYTHON_KEYRING_BACKEND, proxies, CA files,
# PATH, ...) must be the same on both sides for the agent to log in on a caller's behalf.
# fmt: off
COSMETIC = frozenset({
    "_", "PWD", "OLDPWD", "SHLVL", "TERM", "COLORTERM", "COLUMNS", "LINES", "TERM_PROGRAM",
    "TERM_PROGRAM_VERSION", "TERM_SESSION_ID", "VTE_VERSION", "WINDOWID", "PS1", "PS2", "PS4",
    "PROMPT_COMMAND", "HISTFILE", "HISTSIZE", "HISTFILESIZE", "HISTCONTROL", "LS_COLORS",
    "LESS", "LESSOPEN", "LESSCLOSE", "PAGER", "MAIL", "SSH_CLIENT", "SSH_CONNECTION", "SSH_TTY",
    "TMUX", "TMUX_PANE", "STY", "WINDOW", "GPG_TTY", "NO_COLOR", "FORCE_COLOR", "CLICOLOR",
    "INVOCATION_ID", "JOURNAL_STREAM", "MANAGERPID", "SYSTEMD_EXEC_PID", "TMPDIR",
    "HARVEST_AGENT_DIR", "HARVEST_AGENT",
})
# fmt: on
# Paths harvester reads from the environment; a relative one means another file in the agent,
# whose working folder is /.
PATH_VARIABLES = (
    "HOME",
    "HARVEST_CONFIG",
    "XDG_CONFIG_HOME",
    "XDG_STATE_HOME",
    "XDG_CACHE_HOME",
    "XDG_DATA_HOME",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
)


def environment_of(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """What a whole login depends on besides its arguments: the environment but for COSMETIC
    variables, and the interpreter (its installed packages decide keyring's backends) and uid
    under names no variable has. {} when a path in it is relative: the agent would read
    another file. (Sent to the agent, over the socket only; it compares it with its own and
    logs only the names that differ.)"""
    env = os.environ if environ is None else environ
    if any(env.get(name) and not os.path.isabs(env[name]) for name in PATH_VARIABLES):
        return {}
    found = {name: value for name, value in env.items() if name not in COSMETIC}
    found.update({"=prefix": sys.prefix, "=executable": sys.executable, "=uid": str(os.getuid())})
    return found


class LoggedIn(NamedTuple):
    """A whole login the agent did and stored: who, where, and the cookie's name."""

    user: str
    wwwroot: str
    cookie_name: str


def login_here(
    site: str,
    user: str,
    password: str | None,
    *,
    save_password: bool,
    timeout: float,
    prompt: bool,
    warn: Callable[[str], None],
) -> LoggedIn:
    """The whole of `harvest login` (the site and user resolved, the password, the keyring
    checked, the login, verification, the lock, storing) done by the running agent, as this
    process would do it: only when this process's environment is the agent's. *password*
    None: the saved one; when there is none and *prompt*, AgentUnavailable (ask, then log in
    here). AgentUnavailable: do it here (the agent may still do the browser part). Any other
    HarvestError is the login's own outcome, with its exit code. *warn* hears the warnings the
    login said, before it returns or raises."""
    environment = environment_of()
    if not environment:
        raise AgentUnavailable("a relative path in the environment: the agent's would differ")
    if sum(len(name) + len(value) for name, value in environment.items()) > MAX_MESSAGE // 2:
        raise AgentUnavailable("an environment too large to send to the agent")
    reply = ask(
        {
            "op": "login_here",
            "environment": environment,
            "site": site,
            "user": user,
            "password": password,
            "prompt": prompt,
            "save_password": save_password,
            "timeout": timeout,
        },
        3 * timeout + 30,  # the login's own deadlines are the agent's; this one catches a hang
    )
    same_version(reply)
    said = reply.get("warnings") or (reply.get("done") or {}).get("warnings") or []
    for line in said if isinstance(said, list) else []:
        warn(str(line))
    if not reply.get("ok"):
        raise error_from_wire(reply.get("error"))
    try:
        done = reply["done"]
        return LoggedIn(
            str(done["user"]),
            str(done["wwwroot"]),
            str(done["cookie_name"]),
        )
    except (KeyError, TypeError):
        raise AgentUnavailable("the agent's answer is not a finished login") from None


# The errors a login can end with, by name: the agent sends the name, this side raises the same
# class (with its exit code); an AgentUnavailable is the caller's cue to log in itself.
WIRE_ERRORS: dict[str, type[HarvestError]] = {
    cls.__name__: cls
    for cls in (*vars(errors).values(), AgentUnavailable, AgentGone)
    if isinstance(cls, type) and issubclass(cls, HarvestError)
}


def error_to_wire(exc: HarvestError) -> dict[str, Any]:
    return {"kind": type(exc).__name__, "message": exc.message, "exit_code": exc.exit_code}


def error_from_wire(data: Any) -> HarvestError:
    if not isinstance(data, dict):
        return AgentUnavailable("the agent answered a failure without saying what failed")
    kind = WIRE_ERRORS.get(str(data.get("kind")))
    message = str(data.get("message", "the agent's login failed"))[:2000]
    if kind is not None:
        try:
            return kind(message)
        except TypeError:  # a class that takes more than a message (SiteMaintenance)
            pass
    error = HarvestError(message)  # with the exit code the agent said
    error.exit_code = int(data.get("exit_code", 1))
    return error
