"""The proxy between harvester and a site, for the browser and every HTTP exchange alike.

In this order: --proxy, the site's `proxy` (either may be "direct": no proxy), else the standard
variables HTTPS_PROXY / HTTP_PROXY / ALL_PROXY and NO_PROXY, in either case, as curl reads them.
Credentials in a proxy URL are held apart from it: they never appear in a message (`shown`
masks them), in a process's arguments (Playwright gets them over its pipe), or in a log.
"""

from __future__ import annotations

import os
import urllib.parse
from dataclasses import dataclass

from ..errors import UsageError

DIRECT = "direct"
PROXY_SCHEMES = ("http", "https")


@dataclass(frozen=True)
class Proxy:
    """A forward proxy: *server* is scheme://host:port without credentials."""

    server: str
    username: str = ""
    password: str = ""
    why: str = ""
    bypass: str = ""  # NO_PROXY, for the other origins a browser visits (an IdP)

    def __repr__(self) -> str:
        return f"Proxy({self.shown})"

    @property
    def shown(self) -> str:
        """The proxy as messages show it: credentials masked."""
        return self._with_user("***")

    @property
    def url(self) -> str:
        """The proxy with its credentials, for httpx (never printed)."""
        return self._with_user(urllib.parse.quote(self.password, safe=""))

    def _with_user(self, password: str) -> str:
        if not self.username:
            return self.server
        scheme, _, rest = self.server.partition("://")
        return f"{scheme}://{urllib.parse.quote(self.username, safe='')}:{password}@{rest}"

    @property
    def tls(self) -> bool:
        """Whether the connection to the proxy itself is TLS (an https:// proxy)."""
        return self.server.startswith("https:")  # parse_proxy lower-cases the scheme

    @property
    def host_port(self) -> tuple[str, int]:
        parts = urllib.parse.urlsplit(self.server)
        return parts.hostname or "", parts.port or (443 if self.tls else 80)

    def for_browser(self) -> dict[str, str]:
        """Playwright's proxy settings. Loopback is proxied too (Chromium skips it unless told),
        so the browser goes the way the HTTP client goes."""
        bypass = ",".join(filter(None, [self.bypass, "<-loopback>"]))
        settings = {"server": self.server, "bypass": bypass}
        if self.username:
            settings.update(username=self.username, password=self.password)
        return settings


def parse_proxy(text: str, why: str, bypass: str = "") -> Proxy:
    """A proxy URL (http://[user:password@]host:port); UsageError (exit 2) with the URL
    masked when it does not parse."""
    masked = mask_credentials(text)
    try:
        parts = urllib.parse.urlsplit(text.strip())
        port = parts.port
    except ValueError:
        raise UsageError(f"bad proxy URL {masked} ({why}): expected http://host:port") from None
    if parts.scheme.lower() not in PROXY_SCHEMES or not parts.hostname:
        raise UsageError(
            f"bad proxy URL {masked} ({why}): expected http://host:port or https://host:port"
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise UsageError(f"bad proxy URL {masked} ({why}): a proxy URL has no path")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    port = port or (443 if parts.scheme.lower() == "https" else 80)
    return Proxy(
        f"{parts.scheme.lower()}://{host}:{port}",
        urllib.parse.unquote(parts.username or ""),
        urllib.parse.unquote(parts.password or ""),
        why,
        bypass,
    )


def mask_credentials(text: str) -> str:
    """*text* with the password of a URL's user-info replaced by ***."""
    scheme, sep, rest = text.partition("://")
    if not sep or "@" not in rest.split("/", 1)[0]:
        return text[:200]
    userinfo, _, host = rest.partition("@")
    user = userinfo.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"[:200]


def resolve_proxy(
    scheme: str,
    host: str,
    port: int,
    *,
    flag: str = "",
    configured: str = "",
    where: str = "",
    environ: os._Environ[str] | dict[str, str] | None = None,
) -> Proxy | None:
    """The proxy for the origin scheme://host:port, or None to go direct."""
    env = os.environ if environ is None else environ
    bypass = _variable(env, "no_proxy")
    if flag:
        return None if flag.strip() == DIRECT else parse_proxy(flag, "--proxy", bypass)
    if configured:
        why = f"proxy in {where}" if where else "the site's proxy"
        return None if configured.strip() == DIRECT else parse_proxy(configured, why, bypass)
    names = (f"{scheme}_proxy", "all_proxy")
    for name in names:
        value = _variable(env, name)
        if value:
            if bypass and _bypassed(host, port, bypass):
                return None
            return parse_proxy(value, f"the {name.upper()} variable", bypass)
    return None


def _bypassed(host: str, port: int, no_proxy: str) -> bool:
    """Whether NO_PROXY sends host:port direct (urllib's reading of it, as curl reads it)."""
    import urllib.request  # ~40 ms: only where NO_PROXY is set

    check = getattr(urllib.request, "proxy_bypass_environment")  # noqa: B009  (not in typeshed)
    return bool(check(f"{host}:{port}", {"no": no_proxy}))


def _variable(env: os._Environ[str] | dict[str, str], name: str) -> str:
    """A proxy variable: the lower-case form wins, as in curl."""
    return (env.get(name) or env.get(name.upper()) or "").strip()
