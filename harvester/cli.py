"""The `harvest` command: parse, call the library, print. Behaviour lives in the library."""

from __future__ import annotations

import logging
import os
import sys
from typing import Annotated, Any, NoReturn

import typer

from . import __version__, redact
from .errors import HarvestError, UsageError

app = typer.Typer(
    name="harvest",
    help="Log in to a Totara site through a real browser and hand the session to scripts.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,  # tracebacks with locals would print secrets
    add_completion=True,
)

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
TimeoutOption = Annotated[
    float, typer.Option("--timeout", min=0.1, help="Seconds to wait for the site or the browser.")
]


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
    if debug:
        handler = logging.StreamHandler(sys.stderr)
        handler.addFilter(redact.RedactingFilter())
        handler.setFormatter(logging.Formatter("harvest: debug: %(name)s: %(message)s"))
        logging.getLogger("harvester").addHandler(handler)
        logging.getLogger("harvester").setLevel(logging.DEBUG)


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
        float, typer.Option("--wait", min=1, help="With --headed: seconds to wait for you.")
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
    from .config import BrowserOptions
    from .errors import LoginRefused
    from .login_flow import login as do_login
    from .login_flow import read_password_line, saved_password_refused
    from .store import SessionStore

    store = SessionStore()
    profile, user = _target(site, user, store, login=True)
    used_saved = False
    password: str | None = None
    if password_stdin:
        password = read_password_line()
    elif not headed:
        saved = store.load_password(profile.wwwroot, user)
        if saved:
            password, used_saved = saved, True
        else:
            password = _prompt_password(user, profile.wwwroot)
    try:
        session = do_login(
            profile,
            user,
            password,
            store=store,
            save_password=save_password,
            timeout=timeout,
            headed=headed,
            wait=wait,
            notify=lambda message: typer.echo(message, err=True),
            browser=BrowserOptions(path=browser_path, channel=channel, endpoint=browser_endpoint),
        )
    except LoginRefused as exc:
        raise (saved_password_refused(exc, user) if used_saved else exc) from None
    typer.echo(f"Logged in {user} at {profile.wwwroot} (cookie {session.cookie_name})")


def _target(site: str, user: str, store: Any, *, login: bool = False) -> tuple[Any, str]:
    """The site profile and user a command is about: --site (alias or URL, or HARVEST_SITE),
    else the config's default_site, else the one site where USER has a stored session."""
    from .config import load_config

    config = load_config()
    if site or config.default_site or login:
        profile = config.resolve(site)
    elif user:
        profile = config.for_wwwroot(store.site_for(user))
    else:
        raise UsageError("say whose session: --user NAME (and --site URL|ALIAS)")
    user = user or profile.default_user
    if not user:
        raise UsageError(
            f"no user given: pass --user NAME (or set default_user for {profile.name} "
            f"in {config.path})"
        )
    return profile, user


def _load(store: Any, wwwroot: str, user: str) -> Any:
    from .errors import NoSession

    session = store.load(wwwroot, user)
    if session is None:
        raise NoSession(
            f"no stored session for {user} at {wwwroot}: "
            f"run harvest login --user {user} --site {wwwroot}"
        )
    return session


FORMATS = ("sh", "fish", "powershell", "dotenv", "json")


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
    from .export import render
    from .store import SessionStore

    if format not in FORMATS:
        raise UsageError(f"unknown format {format!r}: use {', '.join(FORMATS)}")
    store = SessionStore()
    profile, user = _target(site, user, store)
    session = _load(store, profile.wwwroot, user)
    redact.register(session.cookie_value, session.sesskey)

    def warn(message: str) -> None:
        print(f"harvest: warning: {message}", file=sys.stderr)

    sys.stdout.write(render(session, format, warn))


@app.command(
    "exec",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def exec_(
    ctx: typer.Context,
    user: UserOption = "",
    site: SiteOption = "",
) -> None:
    """Run a command with the session's variables set: harvest exec --user U -- CMD ARGS...

    No shell in between; inherited TOTARA_* variables are replaced; the exit code is CMD's.
    """
    from .export import exec_with, refuse_nested
    from .store import SessionStore

    refuse_nested()
    store = SessionStore()
    profile, user = _target(site, user, store)
    exec_with(_load(store, profile.wwwroot, user), list(ctx.args))


def _read_variables(spec: str) -> dict[str, Any]:
    import json

    if spec == "-":
        text, where = sys.stdin.read(), "standard input"
    elif spec.startswith("@"):
        try:
            with open(spec[1:], encoding="utf-8") as handle:
                text, where = handle.read(), spec[1:]
        except OSError as exc:
            raise UsageError(f"cannot read --variables file {spec[1:]}: {exc.strerror}") from None
    else:
        text, where = spec, "--variables"
    try:
        value = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as exc:
        raise UsageError(f"{where} is not valid JSON: {exc.msg} (line {exc.lineno})") from None
    if not isinstance(value, dict):
        raise UsageError(f'{where} must be a JSON object, e.g. \'{{"lang": "en"}}\'')
    return value


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
    import json

    from .client import TotaraClient, data_of, is_nosession
    from .config import load_config
    from .errors import NoSession, SessionExpired
    from .store import SessionStore

    values = _read_variables(variables)
    store = SessionStore()
    if is_nosession(operation) and not user:
        client = TotaraClient(load_config().resolve(site).wwwroot, timeout=timeout)
    else:
        from .refresh import refresh_hook

        profile, user = _target(site, user, store)
        wwwroot = profile.wwwroot
        session = _load(store, wwwroot, user)
        redact.register(session.cookie_value, session.sesskey)
        # On require_login: log in again once with the saved password, then retry once.
        client = TotaraClient(
            wwwroot, session, timeout=timeout, on_expired=refresh_hook(store, timeout)
        )
    with client:
        [answer] = client.request([(operation, values)])
    try:
        data_of(answer, operation)  # raises the typed error, printed as one line by main()
    except SessionExpired as exc:
        raise NoSession(
            f"{exc.message.split(': run harvest login')[0]}; no saved password to log in "
            f"again: run harvest login --user {user} --site {client.wwwroot} (add "
            "--save-password for automatic re-login)"
        ) from None
    typer.echo(json.dumps(answer, ensure_ascii=False))


@app.command()
def status(
    user: Annotated[str, typer.Option("--user", "-u", help="Only this user.")] = "",
    site: SiteOption = "",
    check: Annotated[
        bool, typer.Option("--check", help="Ask each site whether the session still works.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table.")] = False,
    timeout: TimeoutOption = 30.0,
) -> None:
    """List stored sessions (never a secret). With --check, exit 4 if any is no longer valid."""
    import json

    from .config import load_config
    from .sessions import list_sessions
    from .store import SessionStore

    rows = list_sessions(
        SessionStore(),
        site=load_config().resolve(site).wwwroot if site else None,
        user=user or None,
        check=check,
        timeout=timeout,
    )
    if as_json:
        typer.echo(json.dumps([row.as_dict() for row in rows], indent=2))
    else:
        from .render import print_status_table

        print_status_table(rows, check)
    if check and any(row.valid is False for row in rows):
        raise typer.Exit(4)
    if check and any(row.valid is None for row in rows):
        raise typer.Exit(5)


@app.command()
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
        str, typer.Option("--every", help="Repeat every DURATION (30s, 15m, 2h) until stopped.")
    ] = "",
    browser_path: BrowserPathOption = "",
    channel: ChannelOption = "",
    browser_endpoint: EndpointOption = "",
    timeout: TimeoutOption = 30.0,
) -> None:
    """Verify sessions and log dead ones in again with the password saved by --save-password.

    All re-logins share one browser, one context each. One user's failure never stops the
    others; the exit code is 0 only if every session is alive at the end.
    """
    from .config import BrowserOptions, load_config
    from .refresh import Target, parse_duration, repeat
    from .render import refresh_round
    from .store import SessionStore

    store = SessionStore()
    config = load_config()
    wwwroot = config.resolve(site).wwwroot if site else None
    if all_:
        targets = sorted(
            {
                Target(e.wwwroot, e.user)
                for e in store.entries()
                if not wwwroot or e.wwwroot == wwwroot
            },
            key=lambda t: (t.wwwroot, t.user),
        )
    elif user:
        targets = [Target(wwwroot or store.site_for(name), name) for name in user]
    else:
        raise UsageError("say which sessions: --user NAME (repeatable) or --all")
    interval = parse_duration(every) if every else None
    del keepalive  # every check is a request with the session: it resets the idle timeout

    browser = BrowserOptions(path=browser_path, channel=channel, endpoint=browser_endpoint)

    def one_round() -> list[Any]:
        return refresh_round(store, targets, concurrency, timeout, config=config, browser=browser)

    if interval is None:
        results = one_round()
        failed = [r for r in results if not r.ok]
        if failed:
            codes = {r.exit_code for r in failed}
            raise typer.Exit(codes.pop() if len(codes) == 1 else 1)
        return
    import signal
    import threading

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())  # finish the round, then stop
    repeat(interval, one_round, stop)
    typer.echo("Stopped.", err=True)


@app.command()
def schedule(
    action: Annotated[str, typer.Argument(help="install, show or remove.")],
    every: Annotated[str, typer.Option("--every", help="How often (e.g. 15m).")] = "15m",
    backend: Annotated[
        str, typer.Option("--backend", help="systemd or cron (default: systemd when available).")
    ] = "",
) -> None:
    """Run `harvest refresh --all` periodically: a systemd user timer, else a crontab entry."""
    from . import schedule as sched
    from .refresh import parse_duration

    if action == "remove":
        typer.echo(sched.remove())
        return
    if action not in ("install", "show"):
        raise UsageError(f"unknown action {action!r}: install, show or remove")
    plan = sched.plan(parse_duration(every), backend or None)
    typer.echo(sched.describe(plan) if action == "show" else sched.install(plan))


@app.command()
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
    timeout: TimeoutOption = 30.0,
) -> None:
    """End USER's session on the site (logout with its sesskey) and remove it from the keyring."""
    from .sessions import logout as do_logout
    from .store import SessionStore

    store = SessionStore()
    profile, user = _target(site, user, store)
    wwwroot = profile.wwwroot
    try:
        result = do_logout(store, wwwroot, user, timeout=timeout)
    finally:
        if forget_password:
            store.delete_password(wwwroot, user)
    typer.echo(result.note[:1].upper() + result.note[1:])


def _prompt_password(user: str, wwwroot: str) -> str:
    import getpass

    if not sys.stdin.isatty():
        raise UsageError("no password: pass --password-stdin and write it to standard input")
    password = getpass.getpass(f"Password for {user} at {wwwroot}: ")
    if not password:
        raise UsageError("the password is empty")
    return password


site_app = typer.Typer(
    help="Site aliases and how to log in to each (the config file; HARVEST_CONFIG overrides).",
    no_args_is_help=True,
)
app.add_typer(site_app, name="site")


@site_app.command("add")
def site_add(
    alias: Annotated[str, typer.Argument(help="Short name to use with --site.")],
    url: Annotated[str, typer.Option("--url", help="The site's wwwroot.")],
    cookie_name: Annotated[str, typer.Option("--cookie-name", help="Exact cookie name.")] = "",
    cookie_prefix: Annotated[
        str, typer.Option("--cookie-prefix", help="Cookie name prefix (default TotaraSession).")
    ] = "",
    login_url: Annotated[str, typer.Option("--login-url", help="Where the login starts.")] = "",
    username_selector: Annotated[str, typer.Option("--username-selector")] = "",
    password_selector: Annotated[str, typer.Option("--password-selector")] = "",
    submit_selector: Annotated[str, typer.Option("--submit-selector")] = "",
    error_selector: Annotated[
        str, typer.Option("--error-selector", help="Where a refused login shows its message.")
    ] = "",
    step: Annotated[
        list[str] | None,
        typer.Option(
            "--step",
            help="A login step, repeatable, in order: click:SEL, fill:SEL:VALUE, press:SEL:KEY, "
            "wait_for:SEL, wait_for_url:GLOB; VALUE may be {username} or {password}.",
        ),
    ] = None,
    default_user: Annotated[str, typer.Option("--default-user")] = "",
    browser_path: BrowserPathOption = "",
    channel: ChannelOption = "",
    browser_endpoint: Annotated[
        str, typer.Option("--browser-endpoint", help="A running browser for this site's logins.")
    ] = "",
    browser_arg: Annotated[
        list[str] | None, typer.Option("--browser-arg", help="Extra browser flag; repeatable.")
    ] = None,
    default: Annotated[bool, typer.Option("--default", help="Make this the default site.")] = False,
) -> None:
    """Add (or replace) a site alias in the config file."""
    from .config import add_site, parse_step
    from .site import normalize_wwwroot

    if cookie_name and cookie_prefix:
        raise UsageError("pass --cookie-name or --cookie-prefix, not both")
    settings = {
        "url": normalize_wwwroot(url),
        "cookie_name": cookie_name,
        "cookie_prefix": cookie_prefix,
        "login_url": login_url,
        "username_selector": username_selector,
        "password_selector": password_selector,
        "submit_selector": submit_selector,
        "error_selector": error_selector,
        "steps": [parse_step(text) for text in step or []],
        "default_user": default_user,
        "browser_path": browser_path,
        "browser_channel": channel,
        "browser_endpoint": browser_endpoint,
        "browser_args": list(browser_arg or []),
    }
    path = add_site(alias, settings, make_default=default)
    typer.echo(f"Site {alias} is {settings['url']} (in {path})")


@site_app.command("list")
def site_list(
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table.")] = False,
) -> None:
    """List the configured sites."""
    import json

    from .config import load_config

    config = load_config()
    rows = [
        {
            "alias": alias,
            "url": p.wwwroot,
            "default": alias == config.default_site,
            "cookie": p.cookie_label,
            "login": "steps" if p.steps else "form",
            "default_user": p.default_user,
            "browser": p.browser.source() or "automatic",
        }
        for alias, p in sorted(config.sites.items())
    ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        typer.echo(f"No sites in {config.path}: add one with harvest site add ALIAS --url URL")
        return
    for row in rows:
        mark = "*" if row["default"] else " "
        user = f", user {row['default_user']}" if row["default_user"] else ""
        typer.echo(
            f"{mark} {row['alias']}: {row['url']} (cookie {row['cookie']}, login by "
            f"{row['login']}{user}, browser {row['browser']})"
        )


@site_app.command("remove")
def site_remove(alias: Annotated[str, typer.Argument(help="The alias to remove.")]) -> None:
    """Remove a site alias from the config file (stored sessions stay until logout)."""
    from .config import remove_site

    path = remove_site(alias)
    typer.echo(f"Removed site {alias} from {path}")


@app.command()
def doctor(
    browser_path: BrowserPathOption = "",
    channel: ChannelOption = "",
    browser_endpoint: EndpointOption = "",
    timeout: TimeoutOption = 10.0,
) -> None:
    """Show the keyring backend, browser, config and paths in use and why; check each site."""
    from . import doctor as checks
    from .config import BrowserOptions
    from .store import SessionStore

    store = SessionStore()
    config_finding, config = checks.config_finding()
    options = BrowserOptions(path=browser_path, channel=channel, endpoint=browser_endpoint)
    findings = [checks.keyring_finding(), checks.browser_finding(options, timeout)]
    findings.append(config_finding)
    typer.echo(f"state dir: {store.state_path} (index of stored sessions: {store.index_file})")
    wwwroots = {p.wwwroot for p in config.sites.values()} | {e.wwwroot for e in store.entries()}
    findings += checks.site_findings([config.for_wwwroot(w) for w in sorted(wwwroots)], timeout)
    for finding in findings:
        typer.echo(f"{finding.topic}: {'ok' if finding.ok else 'PROBLEM'}: {finding.detail}")
    failed = [f.exit_code for f in findings if not f.ok]
    if failed:
        raise typer.Exit(failed[0])


@app.command()
def demo(
    timeout: TimeoutOption = 30.0,
) -> None:
    """Start the bundled Totara-compatible site and walk alice through login and one ajax call."""
    from .demo import run_demo

    code = run_demo(typer.echo, timeout=timeout)
    raise typer.Exit(code)


def _fail(message: str, code: int) -> NoReturn:
    print(f"harvest: error: {redact.redact(message)}", file=sys.stderr)
    sys.exit(code)


_interrupted: list[int] = []


def _on_signal(signum: int, _frame: object) -> None:
    # A terminal's Ctrl-C reaches the browser and its driver too; whatever error their exit
    # causes next, the user's intent wins: report the interruption, not its side effects.
    _interrupted.append(signum)
    # Tearing the event loop down mid-login leaves transports for the garbage collector, which
    # would print "Exception ignored in ..." stacks: the user asked to stop, one line is owed.
    sys.unraisablehook = lambda _unraisable: None
    raise KeyboardInterrupt


def main() -> None:
    """Console entry point: one line on stderr and a documented exit code for every failure."""
    import signal

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    # asyncio inside Playwright complains on stderr when its driver dies under it; the error
    # that matters reaches us as an exception anyway.
    asyncio_log = logging.getLogger("asyncio")
    asyncio_log.addHandler(logging.NullHandler())
    asyncio_log.propagate = False
    try:
        result = app(standalone_mode=False)
    except SystemExit:
        raise
    except BaseException as exc:
        if _interrupted:
            _fail("interrupted", 128 + _interrupted[0])
        _report(exc)
    if _interrupted and result == 130:  # Typer turns KeyboardInterrupt into Exit(130)
        _fail("interrupted", 128 + _interrupted[0])
    sys.exit(result if isinstance(result, int) else 0)


def _report(exc: BaseException) -> NoReturn:
    """One line on stderr and the documented exit code for any exception."""
    if isinstance(exc, HarvestError):
        _fail(exc.message, exc.exit_code)
    if isinstance(exc, (typer.Abort, KeyboardInterrupt)):
        _fail("interrupted", 130)
    if isinstance(exc, typer.TyperException):
        # Typer's usage errors ("No such option", "Missing option"): one line, exit 2 (design.md)
        text = exc.format_message().strip().splitlines()
        _fail(f"{text[0] if text else 'usage error'} (see harvest --help)", 2)
    # The last line of defence: still one line, still no secret.
    if os.environ.get("HARVEST_DEBUG"):
        import traceback

        print(redact.redact("".join(traceback.format_exception(exc))), file=sys.stderr)
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    _fail(f"unexpected {type(exc).__name__}: {first[:200]} (HARVEST_DEBUG=1 shows more)", 1)
