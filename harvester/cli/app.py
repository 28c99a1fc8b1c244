"""The Typer app and its global options. The commands live beside it, one module per family;
importing them (at the bottom) registers them."""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer

from .. import __version__, redact


def _new_app() -> typer.Typer:
    return typer.Typer(
        name="harvest",
        help="Log in to a Totara site through a real browser and hand the session to scripts.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,  # tracebacks with locals would print secrets
        rich_markup_mode="markdown",  # a docstring's paragraphs are reflowed to the terminal
        add_completion=True,
    )


app = _new_app()


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

# One line each in `harvest --help` (each command's own --help says the rest), in the order a
# newcomer meets them.
SUMMARIES = {
    "login": "Log in through Chromium and store the session in the keyring.",
    "env": "Print the session as environment variables or a cookie file.",
    "exec": "Run a command with the session's variables set.",
    "request": "Call an operation of the site's ajax.php with the session.",
    "operations": "List and search Totara's operations, or show one.",
    "proxy": "Serve the session on loopback for any GraphQL tool.",
    "curl": "Print a ready curl command for an operation.",
    "import-curl": "Store the session of a request copied as cURL.",
    "query": "Run query text on a site in developer mode.",
    "schema": "Save a developer-mode site's GraphQL schema.",
    "open": "Open a browser window logged in as the user.",
    "status": "List stored sessions; --check asks the site.",
    "refresh": "Log dead sessions in again with the saved password.",
    "schedule": "Run refresh --all periodically (systemd or cron).",
    "logout": "End a session on the site and remove it.",
    "agent": "A warm background browser for every login.",
    "site": "Site aliases and how to log in to each.",
    "doctor": "Which keyring, browser, trust and proxy are used, and why.",
    "demo": "Walk alice through the job on the bundled site.",
}
# One example each, and the page to read next (shown under each command's --help).
EXAMPLES = {
    "login": ("harvest login --user alice --site https://lms.example.com", "logging-in.md"),
    "env": ('eval "$(harvest env --user alice)"', "using-the-session.md"),
    "exec": ("harvest exec --user alice -- python my_script.py", "using-the-session.md"),
    "request": ("harvest request totara_job_my_assignments --user alice", "calling-the-api.md"),
    "operations": ("harvest operations job", "calling-the-api.md"),
    "proxy": ("harvest proxy --user alice --port 8800", "using-the-session.md"),
    "curl": ("harvest curl totara_webapi_status --user alice", "calling-the-api.md"),
    "import-curl": ("harvest import-curl copied.txt --user alice", "calling-the-api.md"),
    "query": ("harvest query @query.graphql --user alice", "calling-the-api.md"),
    "schema": ("harvest schema --output schema.graphql", "calling-the-api.md"),
    "open": ("harvest open /course/view.php?id=2 --user alice", "using-the-session.md"),
    "status": ("harvest status --check", "keeping-fresh.md"),
    "refresh": ("harvest refresh --all --every 30m", "keeping-fresh.md"),
    "schedule": ("harvest schedule install --every 30m", "keeping-fresh.md"),
    "logout": ("harvest logout --user alice --forget-password", "keeping-fresh.md"),
    "agent": ("harvest agent start", "agent.md"),
    "site": ("harvest site add lms --url https://lms.example.com --default", "logging-in.md"),
    "doctor": ("harvest doctor", "keeping-fresh.md"),
    "demo": ("harvest demo --path /totara", "devsite.md"),
}


def _epilog(name: str) -> str | None:
    if name not in EXAMPLES:
        return None
    example, page = EXAMPLES[name]
    return f"Example: `{example}` · More: docs/{page}"


def _named(info: typer.models.CommandInfo) -> str:
    name = info.name or (info.callback.__name__ if info.callback else "")
    return name.rstrip("_").replace("_", "-")


for _info in app.registered_commands:
    _info.short_help = SUMMARIES.get(_named(_info), _info.short_help)
    _info.epilog = _epilog(_named(_info)) or _info.epilog
for _group in app.registered_groups:
    _group.short_help = SUMMARIES.get(_group.name or "", _group.short_help)
    _group.epilog = _epilog(_group.name or "") or _group.epilog
_ORDER = list(SUMMARIES)
app.registered_commands.sort(
    key=lambda info: _ORDER.index(_named(info)) if _named(info) in _ORDER else len(_ORDER)
)


def app_for(command: str | None) -> typer.Typer:
    """The app that runs a command line whose command is *command*: one that holds that command
    alone, when it is one of ours, else the whole app (`--help`, `--version`, a misspelt name,
    which Typer then names). Typer builds every command's parameters from its signature on each
    run (~30 ms for all of ours here, on every command); only the one run needs building. Its
    usage lines, help and errors are the same either way (tests/test_cli_fast.py)."""
    commands = [info for info in app.registered_commands if _named(info) == command]
    groups = [group for group in app.registered_groups if group.name == command]
    if not commands and not groups:
        return app
    one = _new_app()
    one.registered_callback = app.registered_callback
    one.registered_commands = commands
    one.registered_groups = groups
    return one


__all__ = [
    "EXAMPLES",
    "SUMMARIES",
    "agent_commands",
    "api_commands",
    "app",
    "app_for",
    "session_commands",
    "site_commands",
    "tool_commands",
    "upkeep_commands",
]
