"""The proxy itself: a threading HTTP server on loopback (and, with --socket, on a 0600 Unix
socket that serves only its own uid, checked with SO_PEERCRED) that lets requests through the
gate (gate.py), checks them as harvest request does (Totara's name rule, no mutation in a
batch), and forwards them to the site with TotaraAuth's session: the one renewal rule, shared by
every request in flight. A bounded number of requests reach the site at once; the rest queue
with a deadline. One access line per request; no secret in any of them."""

from __future__ import annotations

import contextlib
import gc
import json
import os
import socket
import socketserver
import struct
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

from ..errors import HarvestError, SiteMaintenance, SiteUnreachable, UsageError, one_line
from ..handoff.auth import TotaraAuth, credentials_of, says_require_login
from ..handoff.client import is_nosession
from ..operations.checks import refuse_mutations_in_batch
from ..redact import redact
from ..settings.reach import network_for_site
from ..site.ajax import check_operation_name, operation_names_in
from ..site.http import Answer
from ..store.session import Session
from .gate import AJAX, DEV_SCHEMA, Gate
from .inbound import BadRequest, Request, RequestReader, answer_bytes
from .upstream import Upstream

JSON = "application/json"
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
        # kept alive; follows no redirect, keeps no cookie; reached the way the site is configured
        self.upstream = Upstream(network_for_site(auth.wwwroot), timeout, idle=max_in_flight)
        self._targets: dict[str, tuple[str, str]] = {}  # path: (the site's URL, its target)
        self.slots = threading.BoundedSemaphore(max_in_flight)
        self.notice = notice
        self._told = False
        self._credentials: tuple[object, dict[str, str]] = (None, {})  # (session, its headers)

    def forward(self, method: str, path: str, body: bytes, names: list[object]) -> Answer:
        """*body* to the site's *path*; *names* are its operations (the handler read them)."""
        wwwroot = self.auth.wwwroot
        url, target = self._target(path)
        if not self.slots.acquire(timeout=QUEUE_SECONDS):
            raise SiteUnreachable(f"harvest proxy is busy: no free slot to {wwwroot} in time")
        try:
            nosession = bool(names) and all(is_nosession(str(n)) for n in names)
            if path == DEV_SCHEMA or nosession:
                return self._send(method, url, target, body, None)
            used = self.auth.session
            answer = self._send(method, url, target, body, used)
            ended = says_require_login(answer.status, answer.body)
            if ended:  # the renewal rule, from the answer just got (most answers need none)
                answer = self.auth.with_renewal(
                    lambda session: self._send(method, url, target, body, session),
                    lambda got: says_require_login(got.status, got.body),
                    sent=(used, answer),
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

    def _target(self, path: str) -> tuple[str, str]:
        known = self._targets.get(path)
        if known is None:
            url = self.auth.wwwroot.url(path)
            known = self._targets[path] = (url, urlsplit(url).path)
        return known

    def _send(
        self, method: str, url: str, target: str, body: bytes, session: Session | None
    ) -> Answer:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if session is not None:
            made_for, credentials = self._credentials
            if made_for is not session:  # the headers of a session are made once
                credentials = credentials_of(session)
                self._credentials = (session, credentials)
            headers.update(credentials)
        return self.upstream.send(method, url, target, headers, body if method == "POST" else b"")

    def close(self) -> None:
        self.upstream.close()


@dataclass(frozen=True)
class Reply:
    """What the proxy answers one request with."""

    status: int
    body: bytes
    content_type: str = "application/json"
    allow: str = ""  # the Allow header of a 405


class _Connection(socketserver.BaseRequestHandler):
    """One client connection: its requests, read and answered in order, kept alive."""

    server: _Serving
    request: socket.socket

    def handle(self) -> None:
        sock = self.request
        if sock.family != socket.AF_UNIX:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no ~40 ms ACK wait
        reader = RequestReader(sock)
        proxy = self.server.proxy
        proxy.opened(reader)
        try:
            while True:
                try:
                    request = reader.next()
                except BadRequest as exc:
                    self._send(exc.status, totara_error(exc.message), [], keep_alive=False)
                    proxy.access("-", "-", [], exc.status, time.perf_counter())
                    return
                if request is None:
                    return
                started = time.perf_counter()
                names: list[object] = []
                reply = proxy.respond(request, self.server.gate, names)
                keep_alive = request.keep_alive and reply.status != 413 and not proxy.stopping
                self._send(reply.status, reply.body, self._headers(request, reply),
                           keep_alive=keep_alive, head=request.method == "HEAD")  # fmt: skip
                proxy.access(request.method, request.path, names, reply.status, started)
                if not keep_alive:
                    return
        except OSError:
            return  # the client went away mid-answer
        finally:
            proxy.closed(reader)

    def _headers(self, request: Request, reply: Reply) -> list[tuple[str, str]]:
        headers = [("Cache-Control", "no-store")]
        if reply.body or reply.status != 204:
            headers.append(("Content-Type", reply.content_type))
        if reply.allow:
            headers.append(("Allow", reply.allow))
        origin = request.headers.get("origin")
        if origin is not None and origin in self.server.gate.origins:
            headers += [
                ("Access-Control-Allow-Origin", origin),
                ("Access-Control-Allow-Headers", "Authorization, Content-Type"),
                ("Access-Control-Allow-Methods", "GET, POST"),
                ("Vary", "Origin"),
            ]
        return headers

    def _send(
        self,
        status: int,
        body: bytes,
        headers: list[tuple[str, str]],
        *,
        keep_alive: bool,
        head: bool = False,
    ) -> None:
        # a client that reads nothing is dropped after the reader's time (BlockingIOError)
        self.request.sendall(answer_bytes(status, body, headers, keep_alive=keep_alive, head=head))


class _Serving(socketserver.BaseServer):
    proxy: ProxyServer
    gate: Gate


class _TCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = False  # stopping waits for requests in flight (a renewal's browser)
    block_on_close = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], proxy: ProxyServer) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, _Connection)
        self.proxy = proxy
        self.gate = proxy.gate


class _UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = False
    block_on_close = True

    def __init__(self, path: str, proxy: ProxyServer) -> None:
        old = os.umask(0o177)  # the socket is born 0600: no window in which others may connect
        try:
            super().__init__(path, _Connection)
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
        self._readers: set[RequestReader] = set()  # the open connections
        self._readers_lock = threading.Lock()
        self.stopping = False
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
        # What is in memory now (the imports, the site's Network) lives as long as the proxy:
        # freezing it leaves the garbage collector only the requests' own objects to look at.
        # Without it each full collection walked every module's objects, in a forked child
        # writing to pages it shared with its parent: 3 page faults a call (docs/benchmarks.md).
        gc.freeze()
        for server in self.servers:
            thread = threading.Thread(
                target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True
            )
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self.stopping = True
        for server in self.servers:
            server.shutdown()
        with self._readers_lock:  # connections waiting for a next request end now, not when idle
            for reader in self._readers:
                if reader.waiting:
                    with contextlib.suppress(OSError):
                        reader.sock.shutdown(socket.SHUT_RDWR)
        for server in self.servers:
            server.server_close()  # waits for the requests in flight
        for thread in self._threads:
            thread.join(5)
        self.forwarder.close()
        if self.socket_path:
            Path(self.socket_path).unlink(missing_ok=True)

    def respond(self, request: Request, gate: Gate, names: list[object]) -> Reply:
        """The answer to one request: refused by *gate*, a CORS preflight, refused by the
        checks harvest request makes, or forwarded; *names* gets its operations' names."""
        refusal = gate.check(request.method, request.target, request.headers)
        if refusal is not None:
            return Reply(refusal.status, totara_error(refusal.message), allow=refusal.allow)
        if request.method == "OPTIONS":  # the CORS preflight of an allowed origin
            return Reply(204, b"")
        path = request.path
        if path == AJAX:
            names.extend(operation_names_in(request.body))
            try:
                for name in names:
                    check_operation_name(name)
                refuse_mutations_in_batch([str(n) for n in names])
            except UsageError as exc:
                return Reply(400, totara_error(exc.message))
        try:
            answer = self.forwarder.forward(request.method, path, request.body, names)
        except SiteMaintenance as exc:
            return Reply(503, totara_error(exc.message, "maintenance"))
        except HarvestError as exc:
            return Reply(502, totara_error(redact(exc.message)))
        return Reply(answer.status, answer.body, answer.headers.get("content-type", JSON))

    def opened(self, reader: RequestReader) -> None:
        with self._readers_lock:
            self._readers.add(reader)

    def closed(self, reader: RequestReader) -> None:
        with self._readers_lock:
            self._readers.discard(reader)

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
