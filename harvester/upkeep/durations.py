"""Durations as people type them: `90`, `90s`, `15m`, `2h`, `1d` (refresh --every, schedule)."""

from __future__ import annotations

import re

from ..errors import UsageError

_DURATION = re.compile(r"^\s*(\d{1,30}(?:\.\d{1,9})?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
MAXIMUM = 30 * 86400.0  # a session outlives no such interval: longer is surely a typo


def parse_duration(text: str, *, minimum: float = 1.0, what: str = "--every") -> float:
    """'90', '90s', '15m', '2h', '1d' → seconds, from *minimum* to 30 days."""
    found = _DURATION.match(text)
    if not found:
        raise UsageError(f"not a duration: {text!r} (use e.g. 30s, 15m, 2h)")
    seconds = float(found.group(1)) * _UNITS[found.group(2)]
    if seconds < minimum:
        raise UsageError(
            f"{what} {text.strip()} is too often: at least {minimum:g}s (a site is not to be "
            "hammered)"
        )
    if seconds > MAXIMUM:
        raise UsageError(f"{what} {text.strip()} is longer than the most, 30d")
    return seconds
