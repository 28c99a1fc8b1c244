"""The CLI's side of `harvest agent` (agent/): finding a running agent and asking it for the
browser part of a login. docs/agent.md says which side does what, and why.

The agent only drives its warm browser: it gets the site's profile, the Network this process
resolved, the user and the password (over the socket only), and answers what the browser saw
(CapturedLogin). Everything else stays here: the password's source, the keyring, the probe,
verification, the lock, storing and exit codes. When no agent answers, or it may not serve this
login (a browser chosen by hand, a client certificate), the caller logs in with a browser of
its own, as before; HARVEST_AGENT=0 or --no-agent skips the agent altogether.

Finding the agent and the protocol's framing are agent_socket.py's, which the command line's
fast path also uses.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..network.proxies import Proxy
from ..network.reach import Network
from ..network.trust import Trust
from ..settings.config import BrowserOptions, LoginStep, NetworkOptions, SiteProfile
from ..store.session import CookieAttributes
from .agent_socket import AgentUnavailable, ask, error_from_wire, same_version
from .browser.outcome import CapturedLogin

log = logging.getLogger(__name__)


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
    profile: SiteProfile,
    user: str,
    password: str,
    timeout: float,
    network: Network,
    abandon: threading.Event | None = None,
) -> CapturedLogin:
    """The browser part of a login, done by the running agent. AgentUnavailable: log in with a
    browser of your own. Any other HarvestError is the login's own outcome (the password was
    refused, the site is down), with its exit code. Abandoned once *abandon* is set."""
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
        abandon=abandon,
    )
    same_version(reply)
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
