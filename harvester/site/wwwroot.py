"""Site addresses: one canonical wwwroot string per site, and the URLs under it.

The wwwroot is how harvester names a site everywhere: in the keyring's service names, the
index, the config and the variables it hands out (docs/contract.md).
"""

from __future__ import annotations

from typing import NamedTuple
from urllib.parse import SplitResult, urlsplit

from ..errors import UsageError

DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
SITE_SCHEMES = ("http", "https")


class Origin(NamedTuple):
    """Scheme, host and port, as a browser compares them: host lower-case and in punycode,
    the port explicit."""

    scheme: str
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = "" if DEFAULT_PORTS.get(self.scheme) == self.port else f":{self.port}"
        return f"{self.scheme}://{host}{port}"


def _split(text: str) -> tuple[SplitResult, int | None]:
    """urlsplit, with the port checked; any URL that does not parse is a UsageError that never
    echoes credentials."""
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        reason = (
            "its port is not a number from 0 to 65535" if "port" in str(exc).lower() else str(exc)
        )
        raise UsageError(f"not a site URL: {_shown(text)} ({reason})") from None
    if parts.username is not None or parts.password is not None:
        raise UsageError("a site URL must not carry credentials: drop the user:password@ part")
    return parts, port


def _shown(text: str) -> str:
    """*text* fit to quote in an error: without anything that could be a user:password@."""
    scheme, sep, rest = text.partition("://")
    if sep and "@" in rest.split("/", 1)[0]:
        rest = rest.split("@", 1)[1]
        return repr(f"{scheme}://…@{rest}")
    return repr(text)


def _host(hostname: str) -> str:
    """Lower case, internationalised names in punycode (what a browser sends and shows)."""
    host = hostname.lower()
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        raise UsageError(f"not a site URL: the host {hostname!r} is not a valid name") from None


def normalize_wwwroot(url: str) -> str:
    """Return the canonical wwwroot for *url*: scheme and host lower-cased (an international
    host in punycode), the port only when it is not the scheme's default, no trailing slash, no
    query or fragment. Raises UsageError for anything that is not an http(s) URL."""
    from ..inputs import text as checked

    text = checked(url, "the site (--site)").strip()
    if not text:
        raise UsageError("no site given: pass --site URL or set HARVEST_SITE")
    parts, port = _split(text)
    scheme = parts.scheme.lower()
    if scheme not in SITE_SCHEMES or not parts.hostname:
        raise UsageError(
            f"not a site URL: {_shown(text)} (expected http://host or https://host/path)"
        )
    if port == 0:
        raise UsageError(f"not a site URL: {_shown(text)} (port 0 is no port)")
    netloc = _host(parts.hostname)
    if ":" in netloc:  # IPv6 literal
        netloc = f"[{netloc}]"
    if port is not None and port != DEFAULT_PORTS[scheme]:
        netloc = f"{netloc}:{port}"
    path = parts.path.rstrip("/")
    if path.endswith("/login/index.php"):
        path = path[: -len("/login/index.php")]
    return f"{scheme}://{netloc}{path}"


def origin(url: str) -> Origin | None:
    """The origin of *url* as a browser sees it, or None for a URL without one."""
    try:
        parts = urlsplit(url)
        port = parts.port
        host = _host(parts.hostname or "")
    except (ValueError, UsageError):
        return None
    scheme = parts.scheme.lower()
    if not host or scheme not in DEFAULT_PORTS:
        return None
    return Origin(scheme, host, port or DEFAULT_PORTS[scheme])


def same_origin(a: str, b: str) -> bool:
    found = origin(a)
    return found is not None and found == origin(b)


def login_url(wwwroot: str) -> str:
    return f"{wwwroot}/login/index.php"


def ajax_url(wwwroot: str) -> str:
    return f"{wwwroot}/totara/webapi/ajax.php"


def logout_url(wwwroot: str) -> str:
    return f"{wwwroot}/login/logout.php"


def without_query(url: str) -> str:
    """*url* without query and fragment: safe to show (a query may carry a sesskey or a code)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def on_site(url: str, wwwroot: str) -> bool:
    """Whether *url* is the site's own: its origin (however the port is written) and, for a
    site in a folder, a path in that folder."""
    if not same_origin(url, wwwroot):
        return False
    folder = urlsplit(wwwroot).path.rstrip("/")
    path = urlsplit(url).path
    return not folder or path == folder or path.startswith(folder + "/")


def cookie_url(wwwroot: str) -> str:
    """The URL whose cookies are the site's: a cookie's path matches by prefix, and a site in a
    folder sets its cookie on the folder plus "/" (docs/totara-protocol.md)."""
    return wwwroot + "/"
