"""Who gets in, decided before a byte goes to the site: the proxy's own Host (against DNS
rebinding), no foreign Origin (any web page the user visits could otherwise POST to
loopback), the random token in `Authorization: Bearer …` compared in constant time, and only
the endpoints that are forwarded."""

from __future__ import annotations

import hmac
from collections.abc import Collection, Mapping
from dataclasses import dataclass

AJAX = "/totara/webapi/ajax.php"
DEV_EXECUTOR = "/totara/webapi/dev_graphql_executor.php"
DEV_SCHEMA = "/totara/webapi/dev_graphql_schema.php"


@dataclass(frozen=True)
class Refusal:
    status: int
    message: str
    allow: str = ""  # the Allow header of a 405


@dataclass(frozen=True)
class Gate:
    """The rules of one proxy: its token, the Host values that name it (none for a Unix
    socket, which no web page can reach), the Origins let in, and whether the developer
    endpoints are forwarded."""

    token: str
    hosts: frozenset[str]
    origins: frozenset[str] = frozenset()
    dev: bool = False

    def routes(self) -> dict[str, str]:
        """Path -> the one method it takes."""
        found = {AJAX: "POST"}
        if self.dev:
            found.update({DEV_EXECUTOR: "POST", DEV_SCHEMA: "GET"})
        return found

    def check(self, method: str, path: str, headers: Mapping[str, str]) -> Refusal | None:
        """None to let the request through, else the refusal to answer with. *headers* have
        lower-case names."""
        if self.hosts and headers.get("host", "").lower() not in self.hosts:
            return Refusal(421, "this is harvest proxy: the Host header must name it")
        origin = headers.get("origin")
        if origin is not None and origin not in self.origins:
            return Refusal(403, "a web page may not use harvest proxy (see --allow-origin)")
        if method == "OPTIONS" and origin is not None:
            return None  # a CORS preflight of an allowed origin carries no token
        if not token_matches(headers.get("authorization", ""), self.token):
            return Refusal(401, "harvest proxy needs its token: Authorization: Bearer TOKEN")
        wanted = self.routes().get(path.split("?", 1)[0])
        if wanted is None:
            return Refusal(404, "harvest proxy forwards only Totara's ajax.php")
        if method != wanted:
            return Refusal(405, f"{path.split('?', 1)[0]} takes {wanted} only", allow=wanted)
        return None


def token_matches(header: str, token: str) -> bool:
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode("utf-8", "replace"), token.encode("utf-8")
    )


def loopback_hosts(bind: str, port: int, names: Collection[str] = ()) -> frozenset[str]:
    """The Host values a client of a proxy on *bind*:*port* sends."""
    hosts = {f"{bind}:{port}", f"localhost:{port}", *names}
    if bind in ("127.0.0.1", "0.0.0.0"):
        hosts.add(f"127.0.0.1:{port}")
    if bind in ("::1", "::"):
        hosts.add(f"[::1]:{port}")
    return frozenset(h.lower() for h in hosts)
