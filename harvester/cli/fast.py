"""The console entry point, and the fast paths of the hottest commands
(docs/cli-fast-path.md).

Shells and scripts run `harvest env` all day; Typer's import alone is ~60 ms of the ~110 ms the
full command line costs before any work. So `harvest env` with plain options (`--user NAME`,
`--site=URL`, `-f json`, …) is parsed here, without Typer, and runs the same library call with
the same error lines and exit codes; so is `harvest login` when a running agent can do the
whole login (logins/agent_socket.py). Anything else (`--help`, an unknown or malformed option,
`--debug`, another command) goes to the full command line, which also says what is wrong. The
tables below are checked against the Typer commands by tests/test_cli_fast_path.py, so the two
cannot drift apart.
"""

from __future__ import annotations

import io
import math
import os
import signal
import sys
from collections.abc import Callable, Sequence

# option -> (parameter, takes a value), exactly the options of `harvest env` (session_commands)
ENV_OPTIONS: dict[str, tuple[str, bool]] = {
    "--user": ("user", True),
    "-u": ("user", True),
    "--site": ("site", True),
    "--format": ("format", True),
    "-f": ("format", True),
    "--output": ("output", True),
    "-o": ("output", True),
    "--force": ("force", False),
}
# the plain options of `harvest login` (a subset of the Typer command's: --headed and the
# browser's options go to the full command line)
LOGIN_OPTIONS: dict[str, tuple[str, bool]] = {
    "--user": ("user", True),
    "-u": ("user", True),
    "--site": ("site", True),
    "--password-stdin": ("password_stdin", False),
    "--save-password": ("save_password", False),
    "--timeout": ("timeout", True),
}


def main() -> None:
    """Console entry point (`harvest`)."""
    args = sys.argv[1:]
    fast = run_fast(args)
    if fast is not None:
        sys.exit(fast)
    from .main import run

    sys.exit(run(args))


def parse_env(args: Sequence[str]) -> dict[str, str | bool] | None:
    """`harvest env`'s options as the command's parameters, or None when they are not plain
    ones (the full command line then parses them, and explains any mistake)."""
    defaults: dict[str, str | bool] = {
        "user": "",
        "site": os.environ.get("HARVEST_SITE", ""),
        "format": "sh",
        "output": "",
        "force": False,
    }
    return _parse(args, ENV_OPTIONS, defaults)


def parse_login(args: Sequence[str]) -> dict[str, str | bool | float] | None:
    """`harvest login`'s plain options as the command's parameters, or None (the full command
    line)."""
    defaults: dict[str, str | bool] = {
        "user": "",
        "site": os.environ.get("HARVEST_SITE", ""),
        "password_stdin": False,
        "save_password": False,
        "timeout": "30",
    }
    found = _parse(args, LOGIN_OPTIONS, defaults)
    if found is None:
        return None
    try:
        timeout = float(str(found["timeout"]))
    except ValueError:
        return None
    if not (math.isfinite(timeout) and 0.1 <= timeout <= 86400):  # the Typer option's range
        return None
    return {**found, "timeout": timeout}


def _parse(
    args: Sequence[str], table: dict[str, tuple[str, bool]], defaults: dict[str, str | bool]
) -> dict[str, str | bool] | None:
    found = dict(defaults)
    words = list(args)
    while words:
        word = words.pop(0)
        name, equals, value = word.partition("=") if word.startswith("--") else (word, "", "")
        known = table.get(name)
        if known is None:
            return None  # --help, an unknown option, a stray argument, -uNAME, --
        parameter, takes_value = known
        if not takes_value:
            if equals:
                return None
            found[parameter] = True
            continue
        if not equals:
            if not words or words[0].startswith("-"):
                return None  # a missing value: the full command line says so
            value = words.pop(0)
        found[parameter] = value
    return found


def run_fast(args: Sequence[str]) -> int | None:
    """Run `harvest env`, or `harvest login` with an agent running, here when their options
    are plain; None to use the full command line."""
    if not args or os.environ.get("HARVEST_DEBUG") or sys.stdout is None:
        return None
    if args[0] == "env":
        options = parse_env(args[1:])
        return None if options is None else _run(lambda: env(**options))  # type: ignore[arg-type]
    if args[0] == "login" and _agent_listening():
        plain = parse_login(args[1:])
        if plain is None:
            return None
        # the library's warnings are shown by login() when it logs in in this process
        return _run(lambda: login(**plain), library=False)  # type: ignore[arg-type]
    return None


def _agent_listening() -> bool:
    """Whether an agent may do a whole `harvest login` here (its socket is there, and neither
    HARVEST_AGENT=0 nor a browser named in the environment says otherwise): else Typer's
    path is as fast."""
    from ..logins.agent_socket import agent_wanted, socket_path

    return (
        agent_wanted()
        and not os.environ.get("HARVEST_BROWSER_ENDPOINT")
        and os.path.exists(socket_path())
    )


def _debug_flag() -> bool:
    """--debug on the command line: its lines are this process's to show. (HARVEST_DEBUG is in
    the environment, which a whole login's agent shares: its lines are in the agent's log.)"""
    logging = sys.modules.get("logging")  # not imported: nothing asked for debug lines
    if logging is None or os.environ.get("HARVEST_DEBUG"):
        return False
    return bool(logging.getLogger("harvester").isEnabledFor(logging.DEBUG))


def _network_flags() -> bool:
    """Whether the full command line was given --ca-file, --insecure or --proxy (they are this
    process's: settings/reach.py); the fast path takes none."""
    reach = sys.modules.get("harvester.settings.reach")
    return reach is not None and bool(reach.command_line_given())


def _run(command: Callable[[], None], *, library: bool = True) -> int:
    """A command on the fast path, its failures reported as the full command line does (and
    the library's warnings, when it runs the *library* in this process)."""
    from .lines import Failed, on_signal, print_failure, show_warnings

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    if library:
        show_warnings()
    try:
        command()
        sys.stdout.flush()
        return 0
    except BrokenPipeError:
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        return print_failure(
            Failed("standard output was closed by its reader before all was written", 1)
        )
    except BaseException as exc:
        from ..errors import HarvestError

        if isinstance(exc, HarvestError):
            return print_failure(Failed(exc.message, exc.exit_code))
        from .lines import interrupted
        from .main import _report

        if interrupted:
            return print_failure(Failed("interrupted", 128 + interrupted[0]))
        return print_failure(_report(exc))


def env(user: str, site: str, format: str, output: str, force: bool) -> None:
    """`harvest env`: the one implementation both paths call."""
    from ..handoff.export import check_output, env_text, write_output

    if output:
        check_output(output, force=force)  # before the keyring is asked

    def warn(message: str) -> None:
        print(f"harvest: warning: {message}", file=sys.stderr)

    text = env_text(site, user, format, warn=warn, for_file=bool(output))
    if output:
        write_output(output, text, force=force)
    else:
        sys.stdout.write(text)


def login(
    user: str,
    site: str,
    password_stdin: bool,
    save_password: bool,
    timeout: float,
    *,
    headed: bool = False,
    wait: float = 300.0,
    browser_path: str = "",
    channel: str = "",
    browser_endpoint: str = "",
    no_agent: bool = False,
) -> None:
    """`harvest login`: the one implementation both paths call. A running agent whose
    environment is this process's does the whole login (logins/agent_socket.py); else this process
    does it (a running agent still driving the browser), as logins/flow.py says."""
    from .lines import logged_in_line, print_warning

    line = sys.stdin.readline() if password_stdin else None
    password = None if line is None else line.removesuffix("\n").removesuffix("\r")
    if password:
        from .. import redact

        redact.register(password)
    if (
        not (headed or browser_path or channel or browser_endpoint or no_agent)
        and password != ""
        and not _network_flags()
        and not _debug_flag()
        and _agent_listening()
    ):
        from ..logins.agent_socket import AgentGone, AgentUnavailable, login_here

        try:
            done = login_here(
                site,
                user,
                password,
                save_password=save_password,
                timeout=timeout,
                prompt=line is None and sys.stdin.isatty(),
                warn=print_warning,
            )
            print(logged_in_line(done.user, done.wwwroot, done.cookie_name))
            return
        except AgentGone as exc:  # killed mid-login, or another version: not asked again
            print_warning(f"{exc.message}; logging in with a browser of its own")
            no_agent = True
        except AgentUnavailable as exc:  # this process logs in (the agent may drive its browser)
            import logging

            logging.getLogger("harvester.cli").debug("agent: %s", exc.message)
    from .lines import show_warnings

    show_warnings()
    from ..logins.flow import PasswordSource
    from ..logins.flow import login as log_in
    from ..settings.config import BrowserOptions

    def prompt(text: str) -> str:
        import getpass

        return getpass.getpass(text)

    session = log_in(
        site,
        user,
        PasswordSource(
            # what was read already is read again, at the same step (an empty line too)
            stdin=None if line is None else io.StringIO(line),
            prompt=prompt if sys.stdin.isatty() else None,
        ),
        save_password=save_password,
        timeout=timeout,
        headed=headed,
        wait=wait,
        notify=lambda message: print(message, file=sys.stderr),
        browser=BrowserOptions(path=browser_path, channel=channel, endpoint=browser_endpoint),
        use_agent=not no_agent,
    )
    print(logged_in_line(session.user, str(session.wwwroot), session.cookie_name))
