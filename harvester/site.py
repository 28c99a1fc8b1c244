"""Site addresses: one canonical wwwroot string per site."""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

from .errors import SiteUnreachable, UsageError

DEFAULT_COOKIE_PREFIX = "TotaraSession"


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


def check_reachable(wwwroot: str, timeout: float) -> None:
    """Open (and close) a TCP connection to the site, so an unreachable site fails in
    milliseconds with exit 5 instead of after a browser start. Skipped behind a proxy."""
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")):
        return
    parts = urlsplit(wwwroot)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except socket.gaierror:
        raise SiteUnreachable(f"cannot resolve the host of {wwwroot}: check the site URL") from None
    except ConnectionRefusedError:
        raise SiteUnreachable(f"nothing is listening at {wwwroot}: is the site up?") from None
    except TimeoutError:
        raise SiteUnreachable(f"{wwwroot} did not answer within {timeout:g} s") from None
    except OSError as exc:
        raise SiteUnreachable(f"cannot reach {wwwroot}: {exc.strerror or exc}") from None
