"""The CLI's side of `harvest agent` (agent/): finding a running agent and asking it for the
browser part of a login. docs/agent.md says which side does what, and why.

The agent only drives its warm browser: it gets the site's profile, the Network this process
resolved, the user and the password (over the socket only), and answers what the browser saw
(CapturedLogin). Everything else stays here: the password's source, the keyring, the probe,
verification, the lock, storing and exit codes. When no agent answers, or it may not serve this
login (a browser chosen by hand, a client certificate), the caller logs in with a browser of
its own, as before; HARVEST_AGENT=0 or --no-agent skips the agent altogether.

The protocol: one JSON object per line each way, at most MAX_MESSAGE bytes, on a Unix socket
in a 0700 folder of the user's; the agent serves only its own uid (SO_PEERCRED).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import socket
import tempfile
from pathlib import Path
from typing import Any

from .. import errors
from ..errors import BrowserUnavailable, HarvestError, UsageError
from ..network.proxies import Proxy
from ..network.reach import Network
from ..network.trust import Trust
from ..settings.config import BrowserOptions, LoginStep, NetworkOptions, SiteProfile
from ..store.session import CookieAttributes
from ..version import __version__
from .browser.outcome import CapturedLogin

log = logging.getLogger(__name__)
MAX_MESSAGE = 1 << 20
CONNECT_SECONDS = 2.0
AGENT_GONE = "the agent went away during the login (killed?); nothing was stored"


class AgentUnavailable(HarvestError):
    """No agent can serve this login (none running, a stale socket, another version); the
    caller falls back to a browser of its own."""

    exit_code = 1


def agent_folder() -> Path:
    """The agent's folder: HARVEST_AGENT_DIR, else $XDG_RUNTIME_DIR/harvester, else a 0700
    folder of this uid's under the temporary folder."""
    explicit = os.environ.get("HARVEST_AGENT_DIR")
    if explicit:
        return Path(explicit)
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime):
        return Path(runtime) / "harvester"
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


def ask(message: dict[str, Any], timeout: float, path: Path | None = None) -> dict[str, Any]:
    """Send one request to the agent and read its answer. AgentUnavailable when none listens
    (or a stale socket is left), or when it went away before answering."""
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
            answer = _read_line(client)
        except TimeoutError:
            raise BrowserUnavailable(
                f"the agent did not answer within {timeout:g} s (--timeout)"
            ) from None
        except OSError:
            answer = b""
        if not answer:
            raise AgentUnavailable(AGENT_GONE)
        try:
            reply = json.loads(answer)
        except ValueError:
            raise AgentUnavailable("the agent answered something that is not JSON") from None
        if not isinstance(reply, dict):
            raise AgentUnavailable("the agent answered something that is not an object")
        return reply
    finally:
        client.close()


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


def _read_line(client: socket.socket) -> bytes:
    parts: list[bytes] = []
    size = 0
    while True:
        chunk = client.recv(65536)
        if not chunk:
            return b""  # closed before a whole line: it went away
        parts.append(chunk)
        size += len(chunk)
        if b"\n" in chunk:
            return b"".join(parts).split(b"\n", 1)[0]
        if size > MAX_MESSAGE:
            raise AgentUnavailable("the agent's answer is larger than 1 MiB")


def serves(profile: SiteProfile, network: Network, browser: BrowserOptions | None) -> str:
    """Why the agent may not serve this login ("" when it may): its browser is its own."""
    if browser is not None and (
        browser.path or browser.channel or browser.endpoint or browser.args
    ):
        return "a browser was chosen on the command line"
    if profile.browser != BrowserOptions():
        return "the site configures its own browser"
    if network.client_cert is not None:
        return "the site shows a client certificate (Playwright's driver checks those itself)"
    return ""


def agent_login(
    profile: SiteProfile, user: str, password: str, *, timeout: float, network: Network
) -> CapturedLogin:
    """The browser part of a login, done by the running agent. AgentUnavailable: log in with a
    browser of your own. Any other HarvestError is the login's own outcome (the password was
    refused, the site is down), with its exit code."""
    reply = ask(
        {
            "op": "login",
            "profile": profile_to_wire(profile),
            "network": network_to_wire(network),
            "user": user,
            "password": password,
            "timeout": timeout,
        },
        timeout + 15,  # the agent's own deadline is *timeout*; this one only catches a hang
    )
    version = reply.get("harvester")
    if version != __version__:
        raise AgentUnavailable(
            f"the running agent is harvester {version}, this is harvester {__version__}: "
            "restart it (harvest agent stop; harvest agent start)"
        )
    if not reply.get("ok"):
        raise error_from_wire(reply.get("error"))
    return captured_from_wire(reply.get("captured"))


# -- the wire format: plain JSON, parsed back into the same types -------------------------------
def profile_to_wire(profile: SiteProfile) -> dict[str, Any]:
    return dataclasses.asdict(profile)


def profile_from_wire(data: Any) -> SiteProfile:
    if not isinstance(data, dict):
        raise UsageError("the login request has no site profile")
    fields = dict(data)
    fields["steps"] = tuple(LoginStep(**step) for step in fields.get("steps", ()))
    browser = dict(fields.get("browser", {}))
    browser["args"] = tuple(browser.get("args", ()))
    fields["browser"] = BrowserOptions(**browser)
    fields["network"] = NetworkOptions(**fields.get("network", {}))
    return SiteProfile(**fields)


def network_to_wire(network: Network) -> dict[str, Any]:
    trust = network.trust
    return {
        "scheme": network.scheme,
        "host": network.host,
        "port": network.port,
        "trust": {
            "source": trust.source,
            "why": trust.why,
            "ca_file": str(trust.ca_file) if trust.ca_file else None,
            "ca_dir": str(trust.ca_dir) if trust.ca_dir else None,
        },
        "proxy": dataclasses.asdict(network.proxy) if network.proxy else None,
    }


def network_from_wire(data: Any) -> Network:
    if not isinstance(data, dict):
        raise UsageError("the login request has no network")
    raw = dict(data["trust"])
    trust = Trust(
        raw["source"],
        raw["why"],
        Path(raw["ca_file"]) if raw.get("ca_file") else None,
        Path(raw["ca_dir"]) if raw.get("ca_dir") else None,
    )
    proxy = Proxy(**data["proxy"]) if data.get("proxy") else None
    return Network(str(data["scheme"]), str(data["host"]), int(data["port"]), trust, proxy)


def captured_to_wire(captured: CapturedLogin) -> dict[str, Any]:
    return {
        "cookies": [
            [name, value, dataclasses.asdict(attrs)] for name, value, attrs in captured.cookies
        ],
        "sesskeys": list(captured.sesskeys),
        "landing_url": captured.landing_url,
    }


def captured_from_wire(data: Any) -> CapturedLogin:
    try:
        cookies = tuple(
            (str(name), str(value), CookieAttributes(**attrs))
            for name, value, attrs in data["cookies"]
        )
        return CapturedLogin(
            cookies, tuple(str(k) for k in data["sesskeys"]), str(data["landing_url"])
        )
    except (KeyError, TypeError, ValueError):
        raise AgentUnavailable("the agent's answer is not a captured login") from None


# The errors a login can end with, by name: the agent sends the name, this side raises the same
# class (with its exit code).
WIRE_ERRORS: dict[str, type[HarvestError]] = {
    cls.__name__: cls
    for cls in vars(errors).values()
    if isinstance(cls, type) and issubclass(cls, HarvestError)
}


def error_to_wire(exc: HarvestError) -> dict[str, Any]:
    return {"kind": type(exc).__name__, "message": exc.message, "exit_code": exc.exit_code}


def error_from_wire(data: Any) -> HarvestError:
    if not isinstance(data, dict):
        return AgentUnavailable("the agent answered a failure without saying what failed")
    kind = WIRE_ERRORS.get(str(data.get("kind")), HarvestError)
    message = str(data.get("message", "the agent's login failed"))[:2000]
    try:
        error = kind(message)
    except TypeError:  # a class that takes more than a message (SiteMaintenance)
        error = HarvestError(message)
        error.exit_code = int(data.get("exit_code", 1))
    return error
