"""The Session value: what one login yields for one user on one site."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field, replace
from typing import Any

from .errors import NoSession

FORMAT_VERSION = 1


_HEADER_SAFE = re.compile(r"[!#-+\--:<-\[\]-~]{1,4096}")  # RFC 6265 cookie-octets


def header_safe(value: str) -> bool:
    """Whether *value* can travel in a Cookie or X-Totara-Sesskey header as it is: visible
    ASCII without quotes, commas, semicolons, backslashes or spaces, and not empty."""
    return _HEADER_SAFE.fullmatch(value) is not None


def normalize_username(user: str) -> str:
    """Totara trims and lower-cases a username at login: ' Alice ' and 'alice' are one
    account, so they are one stored session."""
    from .inputs import text

    return text(user, "the user name (--user)").strip().lower()


def _tail(secret: str) -> str:
    """At most the last four characters, the way gh shows tokens."""
    return "…" + secret[-4:] if len(secret) > 8 else "****"


@dataclass(frozen=True)
class Session:
    """A logged-in Totara session. Its repr never shows the cookie value or the sesskey."""

    wwwroot: str
    user: str
    cookie_name: str
    cookie_value: str = field(repr=False)
    sesskey: str = field(repr=False)
    obtained_at: float = field(default_factory=time.time)
    verified_at: float | None = None

    @property
    def cookie_header(self) -> str:
        """Header-ready `Name=value`, what `Cookie:` wants."""
        return f"{self.cookie_name}={self.cookie_value}"

    def check_sendable(self) -> None:
        """NoSession unless cookie and sesskey can travel in HTTP headers as they are (a
        damaged or hand-made entry may hold anything; harvest env still hands it out)."""
        values = (self.cookie_name, self.cookie_value, self.sesskey)
        if not all(header_safe(value) for value in values):
            raise NoSession(
                f"the session for {self.user or 'this user'} holds a value no HTTP header can "
                "carry: run harvest login again"
            )

    def redacted(self) -> dict[str, Any]:
        """A view safe to print or log."""
        return {
            "wwwroot": self.wwwroot,
            "user": self.user,
            "cookie_name": self.cookie_name,
            "cookie_value": _tail(self.cookie_value),
            "sesskey": _tail(self.sesskey),
            "obtained_at": self.obtained_at,
            "verified_at": self.verified_at,
        }

    def verified(self, when: float | None = None) -> Session:
        return replace(self, verified_at=time.time() if when is None else when)

    def to_secret(self) -> str:
        """The keyring secret: one JSON object, layout in docs/contract.md ("Storage")."""
        return json.dumps(
            {
                "v": FORMAT_VERSION,
                "cookie_name": self.cookie_name,
                "cookie_value": self.cookie_value,
                "sesskey": self.sesskey,
                "wwwroot": self.wwwroot,
                "obtained_at": self.obtained_at,
                "verified_at": self.verified_at,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_secret(cls, user: str, secret: str) -> Session:
        """Parse a keyring secret. A damaged entry is a NoSession, never a traceback holding it."""
        try:
            data = json.loads(secret)
        except ValueError:
            raise NoSession(
                f"the stored session for {user} is not valid JSON: run harvest login again"
            ) from None
        if not isinstance(data, dict):
            raise NoSession(
                f"the stored session for {user} has an unknown format: run harvest login again"
            )
        if data.get("v") != FORMAT_VERSION:
            raise NoSession(
                f"the stored session for {user} is of format version {data.get('v')!r}; this "
                f"harvester reads version {FORMAT_VERSION}: run harvest login again"
            )
        try:
            return cls(
                wwwroot=str(data["wwwroot"]),
                user=user,
                cookie_name=str(data["cookie_name"]),
                cookie_value=str(data["cookie_value"]),
                sesskey=str(data["sesskey"]),
                obtained_at=float(data["obtained_at"]),
                verified_at=None if data.get("verified_at") is None else float(data["verified_at"]),
            )
        except (KeyError, TypeError, ValueError):
            raise NoSession(
                f"the stored session for {user} is incomplete: run harvest login again"
            ) from None
