"""Commands that make and use a session: login, env, exec, request."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from .app import app
from .options import (
    BrowserPathOption,
    ChannelOption,
    EndpointOption,
    SiteOption,
    TimeoutOption,
    UserOption,
    finite_seconds,
)


@app.command()
def login(
    user: UserOption = "",
    site: SiteOption = "",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from one line of stdin.")
    ] = False,
    save_password: Annotated[
        bool,
        typer.Option("--save-password", help="Also keep the password in the keyring for re-login."),
    ] = False,
    headed: Annotated[
        bool,
        typer.Option(
            "--headed", help="Open a visible browser and log in by hand (single sign-on, MFA)."
        ),
    ] = False,
    wait: Annotated[
        float,
        typer.Option(
            "--wait",
            min=1,
            max=86400,
            callback=finite_seconds,
            help="With --headed: seconds to wait for you.",
        ),
    ] = 300.0,
    browser_path: BrowserPathOption = "",
    channel: ChannelOption = "",
    browser_endpoint: EndpointOption = "",
    timeout: TimeoutOption = 30.0,
) -> None:
    """Log USER in through Chromium, verify the session and store it in the keyring.

    Unattended, the password comes from --password-stdin, else a password saved earlier with
    --save-password, else a hidden prompt; it is never a command-line argument. With --headed
    you log in yourself in a browser window and harvester captures the session.
    """
    from ..config import BrowserOptions
    from ..login_flow import PasswordSource
    from ..login_flow import login as log_in

    def prompt(text: str) -> str:
        import getpass

        return getpass.getpass(text)

    session = log_in(
        site,
        user,
        PasswordSource(
            stdin=sys.stdin if password_stdin else None,
            prompt=prompt if sys.stdin.isatty() else None,
        ),
        save_password=save_password,
        timeout=timeout,
        headed=headed,
        wait=wait,
        notify=lambda message: typer.echo(message, err=True),
        browser=BrowserOptions(path=browser_path, channel=channel, endpoint=browser_endpoint),
    )
    typer.echo(f"Logged in {session.user} at {session.wwwroot} (cookie {session.cookie_name})")


@app.command()
def env(
    user: UserOption = "",
    site: SiteOption = "",
    format: Annotated[
        str, typer.Option("--format", "-f", help="sh, fish, powershell, dotenv or json.")
    ] = "sh",
) -> None:
    """Print the stored session as environment variables: eval "$(harvest env --user alice)".

    TOTARA_WWWROOT, TOTARA_COOKIE (header-ready Name=value), TOTARA_COOKIE_NAME,
    TOTARA_SESSION (the cookie value) and TOTARA_SESSKEY, quoted exactly for the format.
    """
    from ..export import env_text

    def warn(message: str) -> None:
        print(f"harvest: warning: {message}", file=sys.stderr)

    sys.stdout.write(env_text(site, user, format, warn=warn))


@app.command(
    "exec",
    # everything after the command's name is the command's, options that look like ours too
    context_settings={
        "allow_extra_args": True,
        "ignore_unknown_options": True,
        "allow_interspersed_args": False,
    },
)
def exec_(
    ctx: typer.Context,
    user: UserOption = "",
    site: SiteOption = "",
) -> None:
    """Run a command with the session's variables set: harvest exec --user U -- CMD ARGS...

    No shell in between; inherited TOTARA_* variables are replaced; the exit code is CMD's.
    """
    from ..export import exec_session

    exec_session(site, user, list(ctx.args))


@app.command()
def request(
    operation: Annotated[str, typer.Argument(help="Persisted operation name.")],
    user: Annotated[
        str, typer.Option("--user", "-u", help="Totara username (not needed for _nosession).")
    ] = "",
    site: SiteOption = "",
    variables: Annotated[
        str, typer.Option("--variables", help="JSON object, @file, or - for standard input.")
    ] = "{}",
    timeout: TimeoutOption = 30.0,
) -> None:
    """POST one operation to the site's ajax.php with the stored session; print the answer.

    Operations ending in _nosession need no user and send neither cookie nor sesskey.
    GraphQL errors go to stderr: exit 4 for require_login/require_refresh, 8 for others.
    """
    from ..request import read_variables, request_operation

    answer = request_operation(
        operation, read_variables(variables), site=site, user=user, timeout=timeout
    )
    typer.echo(json.dumps(answer, ensure_ascii=False))
