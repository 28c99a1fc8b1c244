"""Defence in depth: secrets this process has handled are masked in any text it prints or logs.

Code never puts a secret in a message on purpose; this catches what a third-party error
message might echo back (a URL with a sesskey, a driver's call log).
"""

from __future__ import annotations

import logging
import threading

_secrets: set[str] = set()
_lock = threading.Lock()
MASK = "[redacted]"


def register(*values: str | None) -> None:
    """Remember values to mask. Very short values are ignored: masking them would shred text."""
    with _lock:
        _secrets.update(v for v in values if v and len(v) >= 4)


def redact(text: str) -> str:
    with _lock:
        known = sorted(_secrets, key=len, reverse=True)
    for secret in known:
        text = text.replace(secret, MASK)
    return text


class RedactingFilter(logging.Filter):
    """Attach to a handler: every record is rendered, then masked, before it is written."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        return True
