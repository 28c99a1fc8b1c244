"""What people type, checked once: text that is really text, and numbers of seconds that are
really numbers. Each refusal is a UsageError (exit 2) naming what was wrong."""

from __future__ import annotations

import math
import unicodedata

MAX_SECONDS = 86400.0  # a day: no exchange, wait or keyring call sensibly takes longer


def text(value: str, what: str, *, controls: bool = False) -> str:
    """*value* if it is UTF-8 text (without control characters, unless *controls*); else a
    UsageError naming *what* (bytes that are not UTF-8 reach Python as lone surrogates)."""
    from .errors import UsageError

    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(f"{what} is not valid UTF-8 text") from None
    if not controls and any(unicodedata.category(c) == "Cc" for c in value):
        raise UsageError(f"{what} holds a control character")
    return value


def seconds(value: float, what: str, minimum: float = 0.0) -> float:
    """*value* if it is a finite number of seconds above *minimum* (or equal, when it is not 0)
    and at most a day; else a UsageError naming *what*."""
    from .errors import UsageError

    low_ok = value > minimum if minimum == 0 else value >= minimum
    if not (math.isfinite(value) and low_ok and value <= MAX_SECONDS):
        floor = "more than 0" if minimum == 0 else f"at least {minimum:g}"
        raise UsageError(
            f"{what} must be {floor} and at most {MAX_SECONDS:g} seconds, not {value!r}"
        )
    return value
