"""Commands that look after stored sessions: status, refresh, schedule, logout."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from .app import app
from .options import (
    BrowserPathOption,
    ChannelOption,
    EndpointOption,
    JsonOption,
    NoAgentOption,
    SiteOption,
    TimeoutOption,
    UserOption,
    reaches_site,
)


@app.command()
@reaches_site
def status(
    user: Annotated[str, typer.Option("--user", "-u", help="Only this user.")] = "",
    site: SiteOption = "",
    check: Annotated[
        bool, typer.Option("--check", help="Ask each site whether the session still works.")
    ] = False,
    as_json: JsonOption = False,
    timeout: TimeoutOption = 30.0,
) -> None:
    """List stored sessions (never a secret). With --check, exit 4 if any is no longer valid."""
    from ..upkeep.status import check_verdict, list_sessions

    rows = list_sessions(site=site, user=user, check=check, timeout=timeout)
    if as_json:
        typer.echo(json.dumps([row.as_dict() for row in rows], indent=2))
    else:
        from .output import print_status_table

        print_status_table(rows, check)
    if check:
        check_verdict(rows)  # one line on stderr and exit 4 or 5 when not all are alive


@app.command()
@reaches_site
def refresh(
    user: Annotated[
        list[str] | None, typer.Option("--user", "-u", help="A user to refresh; repeatable.")
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every stored session.")] = False,
    site: SiteOption = "",
    concurrency: Annotated[
        int | None,
        typer.Option(
            "--concurrency", "-j", min=1, help="Logins at once (default: one per two cores, max 8)."
        ),
    ] = None,
    keepalive: Annotated[
        bool,
        typer.Option(
            "--keepalive",
            help="Live sessions are touched so the idle timeout never hits (the check does it).",
        ),
    ] = False,
    every: Annotated[
        str,
        typer.Option(
            "--every",
            help=(
                "Repeat every DURATION (30s, 15m, 2h; at least 10s, at most 30d) until "
                "stopped; SIGUSR1 runs the next round now."
            ),
        ),
    ] = "",
    browser_path: BrowserPathOption = "",
    channel: ChannelOption = "",
    browser_endpoint: EndpointOption = "",
    no_agent: NoAgentOption = False,
    timeout: TimeoutOption = 30.0,
) -> None:
    """Verify sessions and log dead ones in again with the password saved by --save-password.

    All re-logins share one browser, one context each. One user's failure never stops the
    others; the exit code is 0 only if every session is alive at the end.
    """
    from ..settings.config import BrowserOptions, load_config
    from ..settings.targets import refresh_targets
    from ..store.sessions import SessionStore
    from ..upkeep.durations import parse_duration
    from ..upkeep.refresh import (
        MINIMUM_REFRESH_EVERY,
        RefreshResult,
        check_round,
        refresh_sessions,
        repeat,
    )
    from .output import with_progress

    del keepalive  # every check is a request with the session: it resets the idle timeout
    store = SessionStore()
    config = load_config()
    targets = refresh_targets(store, users=user or (), every_session=all_, site=site, config=config)
    interval = parse_duration(every, minimum=MINIMUM_REFRESH_EVERY) if every else None
    browser = BrowserOptions(path=browser_path, channel=channel, endpoint=browser_endpoint)

    def one_round() -> list[RefreshResult]:
        return with_progress(
            len(targets),
            lambda on_result: refresh_sessions(
                store,
                targets,
                concurrency=concurrency,
                timeout=timeout,
                on_result=on_result,
                config=config,
                browser=browser,
                use_agent=not no_agent,
            ),
        )

    if interval is None:
        check_round(one_round())  # one line on stderr, the failures' exit code
        return
    import signal
    import threading

    stop, wake = threading.Event(), threading.Event()

    def stopping(*_: object) -> None:  # finish the round, then stop
        stop.set()
        wake.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, stopping)
    signal.signal(signal.SIGUSR1, lambda *_: wake.set())  # a round now (docs/keeping-fresh.md)
    repeat(interval, one_round, stop, wake)
    typer.echo("Stopped.", err=True)


@app.command()
def schedule(
    action: Annotated[str, typer.Argument(help="install, show or remove.")],
    every: Annotated[
        str,
        typer.Option(
            "--every",
            help="How often (e.g. 15m; at least 1m). cron keeps intervals that divide a day; "
            "systemd keeps any whole number of seconds.",
        ),
    ] = "15m",
    backend: Annotated[
        str, typer.Option("--backend", help="systemd or cron (default: systemd when available).")
    ] = "",
) -> None:
    """Run `harvest refresh --all` periodically: a systemd user timer, else a crontab entry."""
    from ..upkeep.schedule import schedule as run_schedule

    typer.echo(run_schedule(action, every, backend))


@app.command()
@reaches_site
def logout(
    user: UserOption = "",
    site: SiteOption = "",
    forget_password: Annotated[
        bool,
        typer.Option(
            "--forget-password",
            help="Also delete the saved password (else refresh --all logs USER in again).",
        ),
    ] = False,
    local: Annotated[
        bool,
        typer.Option(
            "--local",
            help="Remove the stored session even when the site cannot end it (a site gone for "
            "good); without it, it is kept so that a later logout can end it there.",
        ),
    ] = False,
    timeout: TimeoutOption = 30.0,
) -> None:
    """End USER's session on the site (logout with its sesskey) and remove it from the keyring."""
    from ..upkeep.logout import logout_user

    note = logout_user(
        site, user, forget_password=forget_password, timeout=timeout, local=local
    ).note
    typer.echo(note[:1].upper() + note[1:])
