"""What the command line prints when things go wrong, without Typer (the fast path shares it):
one `harvest: error:` line per failure, `harvest: warning:` lines for the library's warnings,
and signals that end in 128 + their number."""

from __future__ import annotations

import sys
import warnings
from types import FrameType
from typing import Any

from .. import redact

interrupted: list[int] = []


class Failed(Exception):
    """One reported failure: its line is printed, its code returned."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def on_signal(signum: int, _frame: FrameType | None) -> None:
    # A terminal's Ctrl-C reaches the browser and its driver too; whatever error their exit
    # causes next, the user's intent wins: report the interruption, not its side effects.
    interrupted.append(signum)
    # Tearing the event loop down mid-login leaves transports for the garbage collector, which
    # would print "Exception ignored in ..." stacks: the user asked to stop, one line is owed.
    sys.unraisablehook = lambda _unraisable: None
    # ...and coroutines of the driver that never ran warn at exit ("was never awaited")
    warnings.simplefilter("ignore", RuntimeWarning)
    raise KeyboardInterrupt


def print_failure(failed: Failed) -> int:
    print(f"harvest: error: {redact.redact(str(failed))}", file=sys.stderr)
    return failed.code


def print_warning(message: str) -> None:
    print(f"harvest: warning: {redact.redact(message)}", file=sys.stderr)


def logged_in_line(user: str, wwwroot: str, cookie_name: str) -> str:
    """What `harvest login` prints when it has stored a session."""
    return f"Logged in {user} at {wwwroot} (cookie {cookie_name})"


_warning_lines: Any = None  # the handler, made once (logging is imported only when needed)


def show_warnings() -> None:
    """Print the library's warnings (a damaged index set aside, …) on stderr, one
    `harvest: warning:` line each, always, secrets masked (once per process)."""
    import logging

    global _warning_lines
    if _warning_lines is None:

        class WarningLines(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                print_warning(record.getMessage())

        _warning_lines = WarningLines(logging.WARNING)
    logger = logging.getLogger("harvester")
    if _warning_lines not in logger.handlers:
        logger.addHandler(_warning_lines)
        if logger.level == logging.NOTSET or logger.level > logging.WARNING:
            logger.setLevel(logging.WARNING)
