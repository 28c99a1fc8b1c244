"""Commands that make and use a session: login, env, exec, request."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from .api_commands import complete_operation
from .app import app
from .options import (
    BrowserPathOption,
    ChannelOption,
    EndpointOption,
    NoAgentOption,
    SiteOption,
    TimeoutOption,
    UserOption,
    finite_seconds,
    reaches_site,
)


@app.command()
@reaches_site
def login(
    user: UserOption = "",
    site: SiteOption = "",
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin",
            help="Read the password from one line of stdin.",
            rich_help_panel="Password",
        ),
    ] = False,
    save_password: Annotated[
        bool,
        typer.Option(
            "--save-password",
            help="Also keep the password in the keyring for re-login.",
            rich_help_panel="Password",
        ),
    ] = False,
    headed: Annotated[
        bool,
        typer.Option(
            "--headed",
            help="Open a visible browser and log in by hand (single sign-on, MFA).",
            rich_help_panel="Browser",
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
            rich_help_panel="Browser",
        ),
    ] = 300.0,
    browser_path: BrowserPathOption = "",
    channel: ChannelOption = "",
    browser_endpoint: EndpointOption = "",
    timeout: TimeoutOption = 30.0,
    no_agent: NoAgentOption = False,
) -> None:
    """Log USER in through Chromium, verify the session and store it in the keyring.

    Unattended, the password comes from --password-stdin, else a password saved earlier with
    --save-password, else a hidden prompt; it is never a command-line argument. With --headed
    you log in yourself in a browser window and harvester captures the session.
    """
    from .fast import login as log_in

    log_in(
        user,
        site,
        password_stdin,
        save_password,
        timeout,
        headed=headed,
        wait=wait,
        browser_path=browser_path,
        channel=channel,
        browser_endpoint=browser_endpoint,
        no_agent=no_agent,
    )


@app.command()
def env(
    user: UserOption = "",
    site: SiteOption = "",
    format: Annotated[
        str,
        typer.Option(
            "--format",
            "-f",
            help="sh, fish, powershell, dotenv, json; or a cookie file: netscape, playwright.",
        ),
    ] = "sh",
    output: Annotated[
        str,
        typer.Option(
            "--output", "-o", help="Write to this file (mode 0600) instead of standard output."
        ),
    ] = "",
    force: Annotated[
        bool,
        typer.Option("--force", help="With --output: replace a file harvester did not write."),
    ] = False,
) -> None:
    """Print the stored session as environment variables: eval "$(harvest env --user alice)".

    TOTARA_WWWROOT, TOTARA_COOKIE (header-ready Name=value), TOTARA_COOKIE_NAME,
    TOTARA_SESSION (the cookie value) and TOTARA_SESSKEY, quoted exactly for the format.
    --format netscape writes a cookies.txt for curl -b and wget --load-cookies; --format
    playwright a storage state for Playwright; both carry the sesskey beside the cookie.
    """
    from .fast import env as print_env

    print_env(user, site, format, output, force)


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
    proxy: Annotated[
        bool,
        typer.Option(
            "--proxy",
            help="Give CMD a proxy (TOTARA_AJAX_URL, TOTARA_PROXY_TOKEN), not the secrets.",
        ),
    ] = False,
) -> None:
    """Run a command with the session's variables set: harvest exec --user U -- CMD ARGS...

    No shell in between; inherited TOTARA_* variables are replaced; the exit code is CMD's.
    With --proxy, CMD never sees the cookie or the sesskey: it calls ajax.php through a
    harvest proxy that lives as long as it does, and the session is renewed behind it.
    """
    if proxy:
        from ..proxy.child import exec_with_proxy

        raise typer.Exit(exec_with_proxy(site, user, list(ctx.args)))
    from ..handoff.export import exec_session

    exec_session(site, user, list(ctx.args))


@app.command()
@reaches_site
def request(
    operation: Annotated[
        str,
        typer.Argument(
            help="Persisted operation name (see harvest operations).",
            autocompletion=complete_operation,
            show_default=False,
        ),
    ] = "",
    user: Annotated[
        str, typer.Option("--user", "-u", help="Totara username (not needed for _nosession).")
    ] = "",
    site: SiteOption = "",
    variables: Annotated[
        str, typer.Option("--variables", help="JSON object, @file, or - for standard input.")
    ] = "{}",
    batch: Annotated[
        str,
        typer.Option(
            "--batch",
            help="Several operations in one POST: a JSON array of "
            '{"operationName": …, "variables": …}, from a file or - (queries only).',
        ),
    ] = "",
    no_check: Annotated[
        bool,
        typer.Option(
            "--no-check", help="Send variables the catalogue would refuse (another Totara)."
        ),
    ] = False,
    from_curl: Annotated[
        str,
        typer.Option(
            "--from-curl",
            help="Replay the operations of a command copied with Copy as cURL (a file or -), "
            "with the stored session.",
        ),
    ] = "",
    timeout: TimeoutOption = 30.0,
) -> None:
    """POST an operation (or a --batch) to the site's ajax.php with the stored session; print
    the answer.

    Before anything is sent, the name must follow Totara's rule, and the variables must fit
    what the operation declares (harvest operations NAME shows it); a name the catalogue does
    not know is sent with a warning. Operations ending in _nosession need no user and send
    neither cookie nor sesskey. GraphQL errors go to stderr: exit 4 for require_login or
    require_refresh, 8 for others.
    """
    from ..errors import UsageError
    from ..handoff.request import read_batch, read_variables, request_operations

    if sum(map(bool, (batch, from_curl, operation))) > 1 or (
        (batch or from_curl) and variables != "{}"
    ):
        raise UsageError(
            "give one of: an operation (with --variables), --batch FILE, --from-curl FILE"
        )
    if from_curl:
        from ..handoff.curl import parse_copied_curl
        from ..handoff.request import read_file

        copied = parse_copied_curl(read_file(from_curl, "--from-curl")[0])
        operations = copied.operations()
        site = site or str(copied.wwwroot())
    elif batch:
        operations = read_batch(batch)
    else:
        operations = [(operation, read_variables(variables))]

    several = bool(batch) or len(operations) > 1

    def show(answers: list[object]) -> None:
        if several:  # every answer, the good ones too; the first error then sets the exit code
            typer.echo(json.dumps(answers, ensure_ascii=False))

    answers = request_operations(
        operations, site=site, user=user, timeout=timeout, check=not no_check, on_answers=show
    )
    if not several:
        typer.echo(json.dumps(answers[0], ensure_ascii=False))


@app.command("open")
@reaches_site
def open_(
    path: Annotated[
        str, typer.Argument(help="A page of the site, e.g. /course/view.php?id=2 (default: home).")
    ] = "",
    user: UserOption = "",
    site: SiteOption = "",
    browser_path: BrowserPathOption = "",
    channel: ChannelOption = "",
    browser_endpoint: EndpointOption = "",
    timeout: TimeoutOption = 30.0,
) -> None:
    """Open a browser window at PATH, logged in as USER from the stored session.

    For a person who wants to see what the user sees. It needs a screen (like login --headed);
    nothing done in the window is stored. Closing the window ends the command.
    """
    from ..handoff.open_window import open_window
    from ..settings.config import BrowserOptions

    open_window(
        site,
        user,
        path,
        timeout=timeout,
        browser=BrowserOptions(path=browser_path, channel=channel, endpoint=browser_endpoint),
        notify=lambda message: typer.echo(message, err=True),
    )
