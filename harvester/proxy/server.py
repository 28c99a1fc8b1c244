"""The proxy itself: a threading HTTP server on loopback (and, with --socket, on a 0600 Unix
socket that serves only its own uid, checked with SO_PEERCRED) that lets requests through the
gate (gate.py), checks them as harvest request does (Totara's name rule, no mutation in a
batch), and forwards them to the site with TotaraAuth's session: the one renewal rule, shared by
every request in flight. A bounded number of requests reach the site at once; the rest queue
with a deadline. One access line per request; no secret in any of them."""

from __future__ import annotations

import json
import os
import socket
import socketserver
import struct
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TextIO

from ..errors import HarvestError, SiteMaintenance, SiteUnreachable, UsageError, one_line
from ..handoff.auth import TotaraAuth, says_require_login
from ..handoff.client import is_nosession
from ..operations.checks import refuse_mutations_in_batch
from ..redact import redact
from ..settings.reach import network_for_site
from ..site.ajax import check_operation_name, operation_names_in
from ..site.http import Answer, credential_client, exchange
from .gate import AJAX, DEV_SCHEMA, Gate

MAX_BODY = 1 << 20  # a GraphQL request is kilobytes
QUEUE_SECONDS = 30.0  # how long a request waits for a free slot to the site


def totara_error(message: str, category: str = "harvest_proxy") -> bytes:
    """An error in Totara's own shape, so that GraphQL clients show it."""
    body = {
        "errors": [{"message": message, "extensions": {"category": category}}],
        "error": message,
    }
    return json.dumps(body).encode("utf-8")


class Forwarder:
    """Sends what the gate let in to the site, the session attached and renewed by *auth*."""

    def __init__(
        self,
        auth: TotaraAuth,
        *,
        timeout: float,
        max_in_flight: int,
        notice: Callable[[str], None],
    ) -> None:
        self.auth = auth
        self.timeout = timeout
        # pooled; follows no redirect, keeps no cookie; reached the way the site is configured
        self.http = credential_client(timeout, network=network_for_site(auth.wwwroot))
        self.slots = threading.BoundedSemaphore(max_in_flight)
        self.notice = notice
        self._told = False

    def forward(self, method: str, path: str, body: bytes, names: list[object]) -> Answer:
        """*body* to the site's *path*; *names* are its operations (the handler read them)."""
        wwwroot = self.auth.wwwroot
        url = wwwroot.url(path)
        if not self.slots.acquire(timeout=QUEUE_SECONDS):
            raise SiteUnreachable(f"harvest proxy is busy: no free slot to {wwwroot} in time")
        try:
            nosession = bool(names) and all(is_nosession(str(n)) for n in names)
            if path == DEV_SCHEMA or nosession:
                return self._send(method, url, body, None)
            answer = self.auth.with_renewal(
                lambda _used: self._send(method, url, body, self.auth),
                lambda got: says_require_login(got.status, got.body),
            )
            ended = says_require_login(answer.status, answer.body)
            if ended and not self._told:
                session = self.auth.session
                self.notice(
                    f"the session of {session.user} at {wwwroot} has ended and could not be "
                    "renewed (no saved password, or it no longer works): every request gets "
                    f"require_login until you run harvest login --user {session.user} --site "
                    f"{wwwroot} --save-password"
                )
            self._told = ended
            return answer
        finally:
            self.slots.release()

    def _send(self, method: str, url: str, body: bytes, auth: TotaraAuth | None) -> Answer:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if auth is not None:
            headers.update(auth.credentials_for(url))
        return exchange(
            self.http, method, url, timeout=self.timeout, where=self.auth.wwwroot,
            headers=headers, content=body if method == "POST" else None,
        )  # fmt: skip

    def close(self) -> None:
        self.http.close()


class _Handler(BaseHTTPRequestHandler):
    server: _Serving
    protocol_version = "HTTP/1.1"
    timeout = 30  # an idle client is dropped: no slowloris holds a thread for ever
    disable_nagle_algorithm = True  # else each answer waits ~40 ms for a delayed ACK
    server_version = "harvest-proxy"
    sys_version = ""

    def _handle(self) -> None:
        started = time.perf_counter()
        proxy = self.server.proxy
        headers = {k.lower(): v for k, v in self.headers.items()}
        path = self.path.split("?", 1)[0]
        names: list[object] = []
        refusal = self.server.gate.check(self.command, self.path, headers)
        origin = headers.get("origin")
        if refusal is not None:
            self._answer(refusal.status, totara_error(refusal.message), origin, refusal.allow)
            proxy.access(self.command, path, names, refusal.status, started)
            return
        if self.command == "OPTIONS":  # the CORS preflight of an allowed origin
            self._answer(204, b"", origin)
            proxy.access(self.command, path, names, 204, started)
            return
        status, body, content_type = self._forwarded(path, headers, names)
        self._answer(status, body, origin, content_type=content_type)
        proxy.access(self.command, path, names, status, started)

    def _forwarded(
        self, path: str, headers: dict[str, str], names: list[object]
    ) -> tuple[int, bytes, str]:
        proxy = self.server.proxy
        try:
            length = int(headers.get("content-length") or 0)
        except ValueError:
            return 400, totara_error("Content-Length is not a number"), "application/json"
        if length > MAX_BODY:
            self.close_connection = True
            return (
                413,
                totara_error(f"a request body is at most {MAX_BODY} bytes"),
                "application/json",
            )
        body = self.rfile.read(length) if length else b""
        if path == AJAX:
            names.extend(operation_names_in(body))
            try:
                for name in names:
                    check_operation_name(name)
                refuse_mutations_in_batch([str(n) for n in names])
            except UsageError as exc:
                return 400, totara_error(exc.message), "application/json"
        try:
            answer = proxy.forwarder.forward(self.command, path, body, names)
        except SiteMaintenance as exc:
            return 503, totara_error(exc.message, "maintenance"), "application/json"
        except HarvestError as exc:
            return 502, totara_error(redact(exc.message)), "application/json"
        kind = answer.headers.get("content-type", "application/json")
        return answer.status, answer.body, kind

    def _answer(
        self,
        status: int,
        body: bytes,
        origin: str | None,
        allow: str = "",
        content_type: str = "application/json",
    ) -> None:
        self.send_response_only(status)
        self.send_header("Date", self.date_time_string())
        if body or status != 204:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        if allow:
            self.send_header("Allow", allow)
        if origin is not None and origin in self.server.gate.origins:
            self.send_header("Access-Control-Allow-Origin", origin)
            self.send_header("Access-Control-Allow-Headers", "Authorization, Content-Type")
            self.send_header("Access-Control-Allow-Methods", "GET, POST")
            self.send_header("Vary", "Origin")
        try:
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = _handle

    def log_message(self, format: str, *args: object) -> None:
        pass  # one access line per request, by the proxy, without secrets


class _Serving(socketserver.BaseServer):
    proxy: ProxyServer
    gate: Gate


class _TCPServer(ThreadingHTTPServer):
    daemon_threads = False  # stopping waits for requests in flight (a renewal's browser)
    block_on_close = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], proxy: ProxyServer) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, _Handler)
        self.proxy = proxy
        self.gate = proxy.gate


class _UnixHandler(_Handler):
    disable_nagle_algorithm = False  # TCP_NODELAY is no option of a Unix socket


class _UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = False
    block_on_close = True

    def __init__(self, path: str, proxy: ProxyServer) -> None:
        old = os.umask(0o177)  # the socket is born 0600: no window in which others may connect
        try:
            super().__init__(path, _UnixHandler)
        finally:
            os.umask(old)
        os.chmod(path, 0o600)
        self.proxy = proxy
        # no Host to check: no web page can reach a Unix socket (the token still holds)
        self.gate = Gate(proxy.gate.token, frozenset(), proxy.gate.origins, proxy.gate.dev)

    def verify_request(self, request: Any, client_address: Any) -> bool:  # noqa: ARG002
        """Only the user who started the proxy (SO_PEERCRED), whatever the socket's mode."""
        raw = request.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        _pid, uid, _gid = struct.unpack("3i", raw)
        return bool(uid == os.getuid())


class ProxyServer:
    """A running proxy: `url` and `token` say how to reach it; stop() ends it after the
    requests in flight."""

    def __init__(
        self,
        auth: TotaraAuth,
        *,
        bind: str = "127.0.0.1",
        port: int = 0,
        socket_path: str = "",
        origins: frozenset[str] = frozenset(),
        dev: bool = False,
        timeout: float = 30.0,
        max_in_flight: int = 8,
        quiet: bool = False,
        log_stream: TextIO | None = None,
        token: str = "",
    ) -> None:
        import secrets

        from .gate import loopback_hosts

        self.log_stream = log_stream or sys.stderr
        self.quiet = quiet
        self._log_lock = threading.Lock()
        self.token = token or secrets.token_urlsafe(32)
        self.forwarder = Forwarder(
            auth, timeout=timeout, max_in_flight=max_in_flight, notice=self.notice
        )
        self.servers: list[socketserver.BaseServer] = []
        self.gate = Gate(self.token, frozenset(), origins, dev)  # its hosts, once bound
        try:
            self._tcp = _TCPServer((bind, port), self)
        except OSError as exc:
            raise UsageError(f"cannot listen on {bind}:{port}: {exc.strerror}") from None
        self.port = int(self._tcp.server_address[1])
        host = f"[{bind}]" if ":" in bind else bind
        self.url = f"http://{host}:{self.port}{AJAX}"
        self.gate = self._tcp.gate = Gate(self.token, loopback_hosts(bind, self.port), origins, dev)
        self.servers.append(self._tcp)
        self.socket_path = socket_path
        if socket_path:
            if Path(socket_path).is_socket():
                Path(socket_path).unlink()  # a stale one of ours: a live one would hold a lock
            try:
                unix = _UnixServer(socket_path, self)
            except OSError as exc:
                self._tcp.server_close()
                raise UsageError(f"cannot listen on {socket_path}: {exc.strerror}") from None
            self.servers.append(unix)
        self._threads: list[threading.Thread] = []

    def start(self) -> ProxyServer:
        for server in self.servers:
            thread = threading.Thread(
                target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True
            )
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        for server in self.servers:
            server.shutdown()
        for server in self.servers:
            server.server_close()  # waits for the requests in flight
        for thread in self._threads:
            thread.join(5)
        self.forwarder.close()
        if self.socket_path:
            Path(self.socket_path).unlink(missing_ok=True)

    def access(
        self, method: str, path: str, names: list[object], status: int, started: float
    ) -> None:
        if self.quiet:
            return
        shown = ",".join(str(n)[:64] for n in names) or "-"
        took = (time.perf_counter() - started) * 1000
        self._line(f"harvest proxy: {method} {path} {one_line(shown)} {status} {took:.1f}ms")

    def notice(self, message: str) -> None:
        self._line(f"harvest proxy: {message}")

    def _line(self, text: str) -> None:
        with self._log_lock:
            print(redact(text), file=self.log_stream, flush=True)


def open_proxy(site: str, user: str, *, timeout: float = 30.0, **options: Any) -> ProxyServer:
    """A started proxy for the session `harvest login` stored for *user* at *site* (the
    *options* are ProxyServer's), renewed with the saved password when the site ends it (at
    most one login per 30 s: a proxy runs for days). NoSession when nothing is stored."""
    from ..settings.targets import stored_session
    from ..store.sessions import SessionStore
    from ..upkeep.refresh import refresh_hook

    store = SessionStore()
    _profile, session = stored_session(site, user, store)
    auth = TotaraAuth(session, on_expired=refresh_hook(store, timeout, login_every=30.0))
    return ProxyServer(auth, timeout=timeout, **options).start()
