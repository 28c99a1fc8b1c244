"""The Session value: what one login yields for one user on one site."""

from __future__ import annotations

import functools
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ..errors import NoSession, UsageError
from ..site.wwwroot import Wwwroot

# Version 2 keeps the session cookie's attributes; version 1 entries are read with attributes
# derived from the wwwroot and written as version 2 the next time they are stored.
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
SAME_SITE = ("Strict", "Lax", "None")


_HEADER_SAFE = re.compile(r"[!#-+\--:<-\[\]-~]{1,4096}")  # RFC 6265 cookie-octets


def header_safe(value: str) -> bool:
    """Whether *value* can travel in a Cookie or X-Totara-Sesskey header as it is: visible
    ASCII without quotes, commas, semicolons, backslashes or spaces, and not empty."""
    return _HEADER_SAFE.fullmatch(value) is not None


def normalize_username(user: str) -> str:
    """Totara trims and lower-cases a username at login: ' Alice ' and 'alice' are one
    account, so they are one stored session."""
    from ..inputs import text

    return text(user, "the user name (--user)").strip().lower()


def _tail(secret: str) -> str:
    """At most the last four characters, the way gh shows tokens."""
    return "…" + secret[-4:] if len(secret) > 8 else "****"


@dataclass(frozen=True)
class CookieAttributes:
    """What the site set for the session cookie besides its name and value, as a browser
    reports it: the exports (cookies.txt, Playwright storage state) hand out exactly this."""

    domain: str  # a host name; for a domain cookie the registrable domain it covers
    host_only: bool  # no Domain attribute: sent to exactly `domain`, not to its subdomains
    path: str
    secure: bool
    http_only: bool
    same_site: str  # Strict, Lax or None (Lax when the site named none, as browsers treat it)
    expires: float | None = None  # None: a browser-session cookie (Totara's)

    @classmethod
    def derived(cls, wwwroot: Wwwroot) -> CookieAttributes:
        """What Totara sets when nothing else is known (docs/totara-protocol.md): host-only,
        on the wwwroot's path plus "/", HttpOnly, Secure on https, no expiry."""
        return cls(
            domain=wwwroot.origin.host,
            host_only=True,
            path=wwwroot.path + "/",
            secure=wwwroot.secure,
            http_only=True,
            same_site="Lax",
        )

    @classmethod
    def from_browser(cls, cookie: Mapping[str, Any]) -> CookieAttributes:
        """From a cookie as Playwright reports it: a host-only cookie's domain has no leading
        dot, a domain cookie's has one; `expires` is -1 for a browser-session cookie."""
        domain = str(cookie.get("domain", ""))
        expires = float(cookie.get("expires", -1) or -1)
        same_site = str(cookie.get("sameSite", "Lax"))
        return cls(
            domain=domain.lstrip("."),
            host_only=not domain.startswith("."),
            path=str(cookie.get("path", "/")) or "/",
            secure=bool(cookie.get("secure", False)),
            http_only=bool(cookie.get("httpOnly", False)),
            same_site=same_site if same_site in SAME_SITE else "Lax",
            expires=None if expires < 0 else expires,
        )

    @property
    def written_domain(self) -> str:
        """The domain as browsers and cookies.txt write it (from_browser reads it back): a
        leading dot for a domain cookie, none for a host-only one."""
        return self.domain if self.host_only else "." + self.domain

    def to_json(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "host_only": self.host_only,
            "path": self.path,
            "secure": self.secure,
            "http_only": self.http_only,
            "same_site": self.same_site,
            "expires": self.expires,
        }

    @classmethod
    def from_json(cls, data: Any) -> CookieAttributes:
        """ValueError/TypeError/KeyError for anything but what to_json wrote."""
        if not isinstance(data, dict):
            raise TypeError("cookie attributes are not an object")
        same_site = str(data["same_site"])
        if same_site not in SAME_SITE:
            raise ValueError(same_site)
        expires = data.get("expires")
        return cls(
            domain=str(data["domain"]),
            host_only=bool(data["host_only"]),
            path=str(data["path"]),
            secure=bool(data["secure"]),
            http_only=bool(data["http_only"]),
            same_site=same_site,
            expires=None if expires is None else float(expires),
        )


@dataclass(frozen=True)
class Session:
    """A logged-in Totara session. Its repr never shows the cookie value or the sesskey."""

    # As stored and handed out (TOTARA_WWWROOT); `site` is the parsed value, made once on use.
    wwwroot: str
    user: str
    cookie_name: str
    cookie_value: str = field(repr=False)
    sesskey: str = field(repr=False)
    obtained_at: float = field(default_factory=time.time)
    verified_at: float | None = None
    # None: not known (a session built from variables or by hand): derived from the wwwroot
    cookie_attributes: CookieAttributes | None = None

    def __post_init__(self) -> None:
        if self.cookie_attributes is None:
            try:
                site = self.site
            except UsageError:  # a stored value that is no site URL: nothing to derive from
                return
            object.__setattr__(self, "cookie_attributes", CookieAttributes.derived(site))

    @functools.cached_property
    def site(self) -> Wwwroot:
        """The site this session belongs to, parsed (UsageError for a stored value that is no
        site URL: such a session can be handed out as it is, never sent anywhere)."""
        return Wwwroot(self.wwwroot)

    @property
    def cookie(self) -> CookieAttributes:
        """The session cookie's attributes: as the site set them, else derived."""
        if self.cookie_attributes is None:
            return CookieAttributes.derived(self.site)
        return self.cookie_attributes

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
                "cookie": self.cookie.to_json(),
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
        if data.get("v") not in READABLE_VERSIONS:
            raise NoSession(
                f"the stored session for {user} is of format version {data.get('v')!r}; this "
                f"harvester reads versions 1 and 2: run harvest login again"
            )
        try:
            attributes = None if data["v"] == 1 else CookieAttributes.from_json(data["cookie"])
            return cls(
                wwwroot=str(data["wwwroot"]),
                user=user,
                cookie_name=str(data["cookie_name"]),
                cookie_value=str(data["cookie_value"]),
                sesskey=str(data["sesskey"]),
                obtained_at=float(data["obtained_at"]),
                verified_at=None if data.get("verified_at") is None else float(data["verified_at"]),
                cookie_attributes=attributes,
            )
        except (KeyError, TypeError, ValueError):
            raise NoSession(
                f"the stored session for {user} is incomplete: run harvest login again"
            ) from None
