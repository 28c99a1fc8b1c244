"""Site addresses: one canonical wwwroot string per site, and the URLs under it.

The wwwroot is how harvester names a site everywhere: in the keyring's service names, the
index, the config and the variables it hands out (docs/contract.md).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from .errors import UsageError


def normalize_wwwroot(url: str) -> str:
    """Return the canonical wwwroot for *url*: scheme and host lower-cased, no trailing slash,
    no query or fragment. Raises UsageError for anything that is not an http(s) URL."""
    text = url.strip()
    if not text:
        raise UsageError("no site given: pass --site URL or set HARVEST_SITE")
    parts = urlsplit(text)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise UsageError(f"not a site URL: {text!r} (expected http://host or https://host/path)")
    if parts.username or parts.password:
        raise UsageError("a site URL must not carry credentials: drop the user:password@ part")
    netloc = parts.hostname.lower()
    if ":" in netloc:  # IPv6 literal
        netloc = f"[{netloc}]"
    if parts.port is not None:
        netloc = f"{netloc}:{parts.port}"
    path = parts.path.rstrip("/")
    if path.endswith("/login/index.php"):
        path = path[: -len("/login/index.php")]
    return f"{parts.scheme.lower()}://{netloc}{path}"


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
    """Whether *url* is the site's own (the wwwroot itself or anything under it)."""
    return url == wwwroot or url.startswith(wwwroot + "/") or url.startswith(wwwroot + "?")
