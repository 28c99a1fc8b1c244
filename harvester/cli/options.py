"""Options several commands share, declared once."""

from __future__ import annotations

from typing import Annotated

import typer

from ..inputs import seconds

SiteOption = Annotated[
    str,
    typer.Option(
        "--site",
        envvar="HARVEST_SITE",
        help="Site URL or alias from the config (or HARVEST_SITE; else default_site).",
        show_default=False,
    ),
]
UserOption = Annotated[
    str,
    typer.Option("--user", "-u", help="Totara username (default: the site's default_user)."),
]
BrowserPathOption = Annotated[
    str, typer.Option("--browser-path", help="Run this Chromium/Chrome executable.")
]
ChannelOption = Annotated[
    str, typer.Option("--channel", help="Playwright browser channel: chrome, msedge, …")
]
EndpointOption = Annotated[
    str,
    typer.Option(
        "--browser-endpoint",
        envvar="HARVEST_BROWSER_ENDPOINT",
        help="Use a running browser: http://host:port or ws://…/devtools/… (CDP), "
        "ws://… (playwright run-server).",
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
JsonOption = Annotated[bool, typer.Option("--json", help="JSON instead of a table.")]
