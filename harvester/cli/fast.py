"""The console entry point, and the fast path of the hottest command (docs/cli-fast-path.md).

Shells and scripts run `harvest env` all day; Typer's import alone is ~60 ms of the ~110 ms the
full command line costs before any work. So `harvest env` with plain options (`--user NAME`,
`--site=URL`, `-f json`, …) is parsed here, without Typer, and runs the same library call with
the same error lines and exit codes. Anything else (`--help`, an unknown or malformed option,
`--debug`, another command) goes to the full command line, which also says what is wrong. The
table below is checked against the Typer command by tests/test_cli_fast_path.py, so the two
cannot drift apart.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Sequence

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
    found: dict[str, str | bool] = {
        "user": "",
        "site": os.environ.get("HARVEST_SITE", ""),
        "format": "sh",
        "output": "",
        "force": False,
    }
    words = list(args)
    while words:
        word = words.pop(0)
        name, equals, value = word.partition("=") if word.startswith("--") else (word, "", "")
        known = ENV_OPTIONS.get(name)
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
    """Run `harvest env` here when its options are plain; None to use the full command line."""
    if not args or args[0] != "env" or os.environ.get("HARVEST_DEBUG"):
        return None
    options = parse_env(args[1:])
    if options is None or sys.stdout is None:
        return None
    from .lines import Failed, on_signal, print_failure, show_warnings

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    show_warnings()
    try:
        env(**options)  # type: ignore[arg-type]
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
