"""The console entry point: every failure is one line on stderr and the exit code its error
class carries (docs/contract.md, "Exit codes"); signals end in 128 + their number."""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Sequence

import typer

from .. import redact
from ..errors import HarvestError, first_line
from .app import app_for
from .lines import Failed, interrupted, on_signal, print_failure, show_warnings


def run(argv: Sequence[str] | None = None, *, handle_signals: bool = True) -> int:
    """Run `harvest` with *argv* (default: the process's arguments); return the exit code.
    Errors are printed as one line on stderr. In-process callers (the fast tests) pass
    handle_signals=False to keep their own signal handlers."""
    if handle_signals:
        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
    # asyncio inside Playwright complains on stderr when its driver dies under it; the error
    # that matters reaches us as an exception anyway.
    asyncio_log = logging.getLogger("asyncio")
    asyncio_log.addHandler(logging.NullHandler())
    asyncio_log.propagate = False
    interrupted.clear()
    show_warnings()
    _forget_network_flags()  # an in-process caller's previous command set its own
    args = list(sys.argv[1:] if argv is None else argv)
    command = _command(args)
    try:
        if sys.stdout is None and command not in ("exec", None):
            # started with stdout closed (harvest env >&-): there is nowhere to print to
            raise Failed("standard output is closed: nothing to write the answer to", 2)
        try:
            result = app_for(command)(args=args, standalone_mode=False)
        except SystemExit as exc:  # typer.Exit from a command, or an eager --help/--version
            return exc.code if isinstance(exc.code, int) else 0
        except BrokenPipeError:
            # the reader went away (harvest status | head -1): say so once, and do not let the
            # interpreter complain again while flushing at exit
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
            raise Failed(
                "standard output was closed by its reader before all was written", 1
            ) from None
        except BaseException as exc:
            if interrupted:
                raise Failed("interrupted", 128 + interrupted[0]) from None
            raise _report(exc) from None
        if interrupted and result == 130:  # Typer turns KeyboardInterrupt into Exit(130)
            raise Failed("interrupted", 128 + interrupted[0])
        return result if isinstance(result, int) else 0
    except Failed as failed:
        return print_failure(failed)


def _forget_network_flags() -> None:
    import sys as _sys

    reach = _sys.modules.get("harvester.settings.reach")  # imported only by the commands
    if reach is not None:
        from ..settings.config import NetworkOptions

        reach.use_command_line(NetworkOptions())


def _command(args: list[str]) -> str | None:
    """The command named in *args* (the first word that is not an option), if any."""
    return next((a for a in args if not a.startswith("-")), None)


def _report(exc: BaseException) -> Failed:
    """The one line and the documented exit code for any exception."""
    if isinstance(exc, HarvestError):
        return Failed(exc.message, exc.exit_code)
    if isinstance(exc, (typer.Abort, KeyboardInterrupt)):
        return Failed("interrupted", 130)
    if isinstance(exc, typer.TyperException):
        # Typer's usage errors ("No such option", "Missing option"): one line, exit 2
        text = exc.format_message().strip().splitlines()
        return Failed(f"{text[0] if text else 'usage error'} (see harvest --help)", 2)
    # The last line of defence: still one line, still no secret.
    if os.environ.get("HARVEST_DEBUG"):
        import traceback

        print(redact.redact("".join(traceback.format_exception(exc))), file=sys.stderr)
    return Failed(
        f"unexpected {type(exc).__name__}: {first_line(exc)} (HARVEST_DEBUG=1 shows more)", 1
    )
