"""`harvest agent start|stop|status|run`: a warm browser that logs in for every harvester
process of this user (docs/agent.md)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from .app import app
from .options import finite_seconds

agent_app = typer.Typer(
    help="A background browser that makes every login warm: start, stop, status, run.",
    no_args_is_help=True,
)
app.add_typer(agent_app, name="agent")

IdleOption = Annotated[
    float,
    typer.Option(
        "--idle",
        min=1,
        max=7 * 86400,
        callback=finite_seconds,
        help="Exit after this many seconds without a request.",
    ),
]
MemoryOption = Annotated[
    int,
    typer.Option(
        "--memory",
        min=64,
        max=1 << 20,
        metavar="MIB",
        help="Start the browser afresh once its processes hold more than this.",
    ),
]


@agent_app.command("start")
def agent_start(idle: IdleOption = 900.0, memory: MemoryOption = 2048) -> None:
    """Start the agent in the background; returns once it answers."""
    from ..agent.control import start_agent

    pid, already = start_agent(idle, memory)
    said = "already running" if already else "started"
    typer.echo(f"harvest agent {said} (pid {pid}); logins now go through it")


@agent_app.command("stop")
def agent_stop() -> None:
    """Stop the agent and its browser."""
    from ..agent.control import stop_agent

    pid = stop_agent()
    typer.echo("no agent was running" if pid is None else f"harvest agent stopped (pid {pid})")


@agent_app.command("status")
def agent_status(
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of text.")] = False,
) -> None:
    """Whether an agent runs, and what it holds (exit 1 when none runs)."""
    from ..agent.control import agent_status as status_of

    status = status_of()
    if as_json:
        typer.echo(json.dumps(status))
    elif status is None:
        typer.echo("no agent is running")
    else:
        typer.echo(
            f"harvest agent {status['version']} (pid {status['pid']}) on {status['socket']}: "
            f"{status['logins']} logins in {status['uptime']:g} s, {status['browsers']} "
            f"browsers using {status['browser_memory_mib']} MiB (bound "
            f"{status['memory_bound_mib']} MiB, started afresh {status['recycled']} times), "
            f"idle exit after {status['idle_exit']:g} s"
        )
    if status is None:
        raise typer.Exit(1)


@agent_app.command("run")
def agent_run(idle: IdleOption = 900.0, memory: MemoryOption = 2048) -> None:
    """Run the agent in the foreground (for systemd; `start` runs this detached)."""
    import logging
    import sys

    from .. import redact
    from ..agent.control import run_agent

    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(redact.RedactingFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s harvest agent: %(message)s"))
    logger = logging.getLogger("harvester.agent")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    run_agent(idle, memory)
