"""Options several commands share, declared once."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Annotated, Any

import typer

from ..inputs import seconds

SiteOption = Annotated[
    str,
    typer.Option(
        "--site",
        envvar="HARVEST_SITE",
        help="Site URL or alias from the config (or HARVEST_SITE; else default_site).",
        show_default=False,
        rich_help_panel="Site and user",
    ),
]
UserOption = Annotated[
    str,
    typer.Option(
        "--user",
        "-u",
        help="Totara username (default: the site's default_user).",
        rich_help_panel="Site and user",
    ),
]
BrowserPathOption = Annotated[
    str,
    typer.Option(
        "--browser-path", help="Run this Chromium/Chrome executable.", rich_help_panel="Browser"
    ),
]
ChannelOption = Annotated[
    str,
    typer.Option(
        "--channel",
        help="Playwright browser channel: chrome, msedge, …",
        rich_help_panel="Browser",
    ),
]
EndpointOption = Annotated[
    str,
    typer.Option(
        "--browser-endpoint",
        envvar="HARVEST_BROWSER_ENDPOINT",
        help="Use a running browser: http://host:port or ws://…/devtools/… (CDP), "
        "ws://… (playwright run-server).",
        rich_help_panel="Browser",
    ),
]


def finite_seconds(param: typer.CallbackParam, value: float | None) -> float | None:
    """A float option's callback: nan and inf pass Click's range checks; the one rule for
    seconds (inputs.seconds) refuses them."""
    return None if value is None else seconds(value, param.opts[0])


TimeoutOption = Annotated[
    float,
    typer.Option(
        "--timeout",
        min=0.1,
        max=86400,
        callback=finite_seconds,
        help="Seconds each exchange with the site (or the browser) may take: a deadline.",
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="JSON instead of a table.", rich_help_panel="Output")
]
NoAgentOption = Annotated[
    bool,
    typer.Option(
        "--no-agent",
        help="Log in with a browser of this process even when harvest agent runs "
        "(also HARVEST_AGENT=0).",
        rich_help_panel="Browser",
    ),
]


# -- how a site is reached (network/): the same three options on every command that reaches one
_NETWORK_PANEL = "Network"
CaFileOption = Annotated[
    str,
    typer.Option(
        "--ca-file",
        metavar="PEM",
        help="Trust the CAs in this PEM file for the site (else its ca_file, SSL_CERT_FILE, "
        "SSL_CERT_DIR, the system store).",
        rich_help_panel=_NETWORK_PANEL,
        show_default=False,
    ),
]
InsecureOption = Annotated[
    bool,
    typer.Option(
        "--insecure",
        help="Do not check the site's TLS certificate (a development site); its origin only.",
        rich_help_panel=_NETWORK_PANEL,
    ),
]
NetworkProxyOption = Annotated[
    str,
    typer.Option(
        "--proxy",
        metavar="URL",
        help='Reach the site through this proxy, or "direct" (else its proxy, HTTPS_PROXY…).',
        rich_help_panel=_NETWORK_PANEL,
        show_default=False,
    ),
]
_NETWORK_PARAMETERS = (
    ("ca_file", CaFileOption, ""),
    ("insecure", InsecureOption, False),
    ("network_proxy", NetworkProxyOption, ""),
)


def reaches_site(command: Callable[..., Any]) -> Callable[..., Any]:
    """Give a command --ca-file, --insecure and --proxy, applied before it runs (to every site
    it reaches: settings/reach.py)."""
    signature = inspect.signature(command, eval_str=True)
    extra = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=kind, default=default)
        for name, kind, default in _NETWORK_PARAMETERS
    ]

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        from ..settings.config import NetworkOptions
        from ..settings.reach import use_command_line

        ca_file = kwargs.pop("ca_file")
        insecure = kwargs.pop("insecure")
        proxy = kwargs.pop("network_proxy")
        use_command_line(NetworkOptions(ca_file=ca_file, insecure=insecure, proxy=proxy))
        return command(*args, **kwargs)

    params = list(signature.parameters.values())
    run.__signature__ = signature.replace(parameters=params + extra)  # type: ignore[attr-defined]
    return run
