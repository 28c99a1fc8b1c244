"""The Typer app and its global options. The commands live beside it, one module per family;
importing them (at the bottom) registers them."""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer

from .. import __version__, redact

app = typer.Typer(
    name="harvest",
    help="Log in to a Totara site through a real browser and hand the session to scripts.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,  # tracebacks with locals would print secrets
    add_completion=True,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"harvest {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", envvar="HARVEST_DEBUG", help="Log what happens to stderr.")
    ] = False,
) -> None:
    del version  # handled eagerly by its callback
    if debug:
        handler = logging.StreamHandler(sys.stderr)
        handler.addFilter(redact.RedactingFilter())
        handler.addFilter(lambda record: record.levelno < logging.WARNING)  # warnings: below
        handler.setFormatter(logging.Formatter("harvest: debug: %(name)s: %(message)s"))
        logging.getLogger("harvester").addHandler(handler)
        logging.getLogger("harvester").setLevel(logging.DEBUG)


from . import (  # noqa: E402  (the commands register themselves on `app`)
    agent_commands,
    api_commands,
    session_commands,
    site_commands,
    tool_commands,
    upkeep_commands,
)

__all__ = [
    "agent_commands",
    "api_commands",
    "app",
    "session_commands",
    "site_commands",
    "tool_commands",
    "upkeep_commands",
]
