"""The `harvest` command: parse, call the library, print. Behaviour lives in the library."""

from __future__ import annotations

import logging
import os
import sys
from typing import Annotated, NoReturn

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
        "--site", envvar="HARVEST_SITE", help="Site URL (or HARVEST_SITE).", show_default=False
    ),
]
UserOption = Annotated[str, typer.Option("--user", "-u", help="Totara username.")]
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
    user: UserOption,
    site: SiteOption = "",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from one line of stdin.")
    ] = False,
    save_password: Annotated[
        bool,
        typer.Option("--save-password", help="Also keep the password in the keyring for re-login."),
    ] = False,
    timeout: TimeoutOption = 30.0,
) -> None:
    """Log USER in through headless Chromium, verify the session and store it in the keyring.

    The password comes from --password-stdin, else a password saved earlier with
    --save-password, else a hidden prompt. It is never a command-line argument.
    """
    from .errors import LoginRefused
    from .login_flow import login as do_login
    from .login_flow import read_password_line, saved_password_refused
    from .site import normalize_wwwroot
    from .store import SessionStore

    wwwroot = normalize_wwwroot(site)
    store = SessionStore()
    used_saved = False
    if password_stdin:
        password = read_password_line()
    else:
        saved = store.load_password(wwwroot, user)
        if saved:
            password, used_saved = saved, True
        else:
            password = _prompt_password(user, wwwroot)
    try:
        session = do_login(
            wwwroot, user, password, store=store, save_password=save_password, timeout=timeout
        )
    except LoginRefused as exc:
        raise (saved_password_refused(exc, user) if used_saved else exc) from None
    typer.echo(f"Logged in {user} at {wwwroot} (cookie {session.cookie_name})")


def _prompt_password(user: str, wwwroot: str) -> str:
    import getpass

    if not sys.stdin.isatty():
        raise UsageError("no password: pass --password-stdin and write it to standard input")
    password = getpass.getpass(f"Password for {user} at {wwwroot}: ")
    if not password:
        raise UsageError("the password is empty")
    return password


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
