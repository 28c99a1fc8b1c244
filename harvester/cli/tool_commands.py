"""Commands about harvester itself: doctor and demo."""

from __future__ import annotations

from typing import Annotated

import typer

from .app import app
from .options import BrowserPathOption, ChannelOption, EndpointOption, TimeoutOption, reaches_site


@app.command()
@reaches_site
def doctor(
    browser_path: BrowserPathOption = "",
    channel: ChannelOption = "",
    browser_endpoint: EndpointOption = "",
    timeout: TimeoutOption = 10.0,
) -> None:
    """Show the keyring backend, browser, config and paths in use and why; check each site."""
    from ..doctor import run_doctor
    from ..settings.config import BrowserOptions

    options = BrowserOptions(path=browser_path, channel=channel, endpoint=browser_endpoint)
    report = run_doctor(options, timeout)
    typer.echo(report.state_line)
    for finding in report.findings:
        typer.echo(finding.line)
    raise typer.Exit(report.exit_code)


@app.command()
def demo(
    timeout: TimeoutOption = 30.0,
    path: Annotated[
        str,
        typer.Option("--path", help="Install the bundled site in this folder (e.g. /totara)."),
    ] = "",
) -> None:
    """Start the bundled Totara-compatible site and walk alice through login and one ajax call."""
    from ..demo import run_demo

    raise typer.Exit(run_demo(typer.echo, timeout=timeout, path=path))
