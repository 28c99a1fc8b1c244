"""Site addresses: the Wwwroot value (one per site, parsed and normalized once at the edge) and
the origin of any other URL.

The wwwroot is how harvester names a site everywhere: in the keyring's service names, the
index, the config and the variables it hands out (docs/contract.md). This module is the one
place that splits URLs.
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


class Wwwroot(str):
    """A site's wwwroot, parsed and normalized once, in the manner of httpx.URL: scheme and host
    lower-cased (an international host in punycode), the port only when it is not the scheme's
    default, no trailing slash, no query or fragment. Immutable. It *is* its canonical string
    (how harvester names the site in keyring service names, the index, the config and the
    variables it hands out), and it answers questions about itself: `origin`, `path` (the
    folder), `secure`, the URLs under it, and whether a URL is on the site.

    Wwwroot(text) raises UsageError for anything that is not an http(s) URL; a Wwwroot given
    to it is returned as it is, so values that are already parsed are never parsed again."""

    origin: Origin
    path: str  # the folder the site is installed in: "" at the root, else e.g. "/totara"

    def __new__(cls, url: str) -> Wwwroot:
        if isinstance(url, Wwwroot):
            return url
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
        host = _host(parts.hostname)
        path = parts.path.rstrip("/")
        if path.endswith("/login/index.php"):
            path = path[: -len("/login/index.php")]
        where = Origin(scheme, host, port or DEFAULT_PORTS[scheme])
        self = super().__new__(cls, f"{where}{path}")
        object.__setattr__(self, "origin", where)
        object.__setattr__(self, "path", path)
        return self

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"a Wwwroot is immutable ({name})")

    def __repr__(self) -> str:
        return f"Wwwroot({str(self)!r})"

    def __reduce__(self) -> tuple[type[Wwwroot], tuple[str]]:
        return (Wwwroot, (str(self),))

    @property
    def secure(self) -> bool:
        return self.origin.scheme == "https"

    @property
    def display(self) -> str:
        """The form to show people: the canonical string (it never carries credentials)."""
        return str(self)

    @property
    def login_url(self) -> str:
        return f"{self}/login/index.php"

    @property
    def ajax_url(self) -> str:
        return f"{self}{AJAX_PATH}"

    @property
    def logout_url(self) -> str:
        return f"{self}/login/logout.php"

    def url(self, path: str) -> str:
        """The URL of *path* ("/totara/webapi/dev_graphql_schema.php") on the site."""
        return f"{self}/{path.lstrip('/')}"

    @property
    def cookie_url(self) -> str:
        """The URL whose cookies are the site's: a cookie's path matches by prefix, and a site
        in a folder sets its cookie on the folder plus "/" (docs/totara-protocol.md)."""
        return f"{self}/"

    def page_path(self, url: str) -> str | None:
        """The path of *url* inside the site ("/login/index.php"), or None when *url* is not
        the site's own: another origin (however its port is written), or, for a site in a
        folder, a path outside that folder."""
        try:
            parts = urlsplit(url)
        except ValueError:
            return None
        if _origin_of(parts) != self.origin:  # split once: this runs on every request
            return None
        if not self.path:
            return parts.path or "/"
        if parts.path == self.path:
            return "/"
        if parts.path.startswith(self.path + "/"):
            return parts.path[len(self.path) :]
        return None

    def contains(self, url: str) -> bool:
        """Whether *url* is the site's own (page_path is not None)."""
        return self.page_path(url) is not None

    def is_ajax(self, url: str) -> bool:
        """Whether *url* is the site's ajax.php."""
        return self.page_path(url) == AJAX_PATH


AJAX_PATH = "/totara/webapi/ajax.php"


def normalize_wwwroot(url: str) -> Wwwroot:
    """The parsed, canonical wwwroot of *url* (Wwwroot); UsageError for anything that is not
    an http(s) URL."""
    return Wwwroot(url)


def origin(url: str) -> Origin | None:
    """The origin of *url* as a browser sees it, or None for a URL without one."""
    try:
        return _origin_of(urlsplit(url))
    except ValueError:
        return None


def _origin_of(parts: SplitResult) -> Origin | None:
    try:
        port = parts.port
        host = _host(parts.hostname or "")
    except (ValueError, UsageError):
        return None
    scheme = parts.scheme.lower()
    if not host or scheme not in DEFAULT_PORTS:
        return None
    return Origin(scheme, host, port or DEFAULT_PORTS[scheme])


def without_query(url: str) -> str:
    """*url* without query and fragment: safe to show (a query may carry a sesskey or a code)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def on_site(url: str, wwwroot: str) -> bool:
    """Whether *url* is the site's own (Wwwroot.contains)."""
    return Wwwroot(wwwroot).contains(url)
