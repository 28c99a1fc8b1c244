"""Durations as people type them: `90`, `90s`, `15m`, `2h`, `1d` (refresh --every, schedule)."""

from __future__ import annotations

import re

from .errors import UsageError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(text: str) -> float:
    """'90', '90s', '15m', '2h', '1d' → seconds."""
    found = _DURATION.match(text)
    if not found or float(found.group(1)) <= 0:
        raise UsageError(f"not a duration: {text!r} (use e.g. 30s, 15m, 2h)")
    return float(found.group(1)) * _UNITS[found.group(2)]
