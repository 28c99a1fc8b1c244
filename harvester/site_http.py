"""Talking HTTP to a site: the one client that carries credentials, and the rules every
exchange shares (transport failures, maintenance, a TCP probe before a browser starts).

httpx is imported lazily (~70 ms): commands that only read the keyring never pay for it.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator, Mapping
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import TYPE_CHECKING

from .errors import SiteMaintenance, SiteUnreachable

if TYPE_CHECKING:
    import httpx


def credential_client(timeout: float, transport: httpx.BaseTransport | None = None) -> httpx.Client:
    """The HTTP client for every request that carries a session: it follows no redirect (the
    cookie never travels to another origin) and keeps no cookie the site sets (a fresh
    anonymous cookie after expiry must never mix with ours). Safe to share between threads."""
    import httpx

    jar = CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))
    return httpx.Client(timeout=timeout, follow_redirects=False, cookies=jar, transport=transport)


@contextlib.contextmanager
def transport_errors(wwwroot: str, timeout: float) -> Iterator[None]:
    """Turn httpx's transport failures and timeouts into SiteUnreachable (exit 5)."""
    import httpx

    try:
        yield
    except httpx.TimeoutException:
        raise SiteUnreachable(
            f"{wwwroot} did not answer within {timeout:g} s (--timeout)"
        ) from None
    except httpx.TransportError as exc:
        raise SiteUnreachable(f"cannot reach {wwwroot}: {type(exc).__name__}") from None


def maintenance(status: int, headers: Mapping[str, str], where: str) -> SiteMaintenance | None:
    """HTTP 503 is the site's maintenance answer (docs/totara-protocol.md): the error to raise,
    with its Retry-After when the site gave one; None for any other status."""
    if status != 503:
        return None
    retry = str(headers.get("retry-after", "")).strip()
    seconds = int(retry) if retry.isdigit() else None
    hint = f"; retry after {seconds} s" if seconds is not None else ""
    return SiteMaintenance(f"{where} answered 503 (maintenance){hint}", seconds)


def tcp_probe(host: str, port: int, timeout: float, what: str) -> None:
    """Open and close a TCP connection to *host*:*port*; SiteUnreachable names *what* when
    that fails."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except socket.gaierror:
        raise SiteUnreachable(f"cannot resolve the host of {what}: check the URL") from None
    except ConnectionRefusedError:
        raise SiteUnreachable(f"nothing is listening at {what}: is it up?") from None
    except TimeoutError:
        raise SiteUnreachable(f"{what} did not answer within {timeout:g} s") from None
    except OSError as exc:
        raise SiteUnreachable(f"cannot reach {what}: {exc.strerror or exc}") from None


def default_port(scheme: str) -> int:
    return 443 if scheme in ("https", "wss") else 80


def check_reachable(wwwroot: str, timeout: float) -> None:
    """Probe the site's port, so an unreachable site fails in milliseconds with exit 5 instead
    of after a browser start. Skipped behind a proxy (the proxy decides what is reachable)."""
    from urllib.parse import urlsplit

    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")):
        return
    parts = urlsplit(wwwroot)
    tcp_probe(parts.hostname or "", parts.port or default_port(parts.scheme), timeout, wwwroot)
