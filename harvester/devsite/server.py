"""The HTTP server that carries the bundled site: threaded, loopback only, with an access log."""

from __future__ import annotations

import contextlib
import re
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol, TextIO
from urllib.parse import parse_qs, urlsplit

from .app import CHANGE_PASSWORD_PATH, SITE_POLICY_PATH, Request, Response, TotaraApp
from .faults import Faults
from .idp import IdentityProvider
from .state import SiteState

# Access logs are read by people and scanned by tests: sesskeys in URLs never reach them.
_SECRET_PARAM = re.compile(r"((?:^|[?&])(?:sesskey|logintoken|code|state)=)[^&\s]*")
MAX_BODY = 1 << 20


def redact_target(target: str) -> str:
    return _SECRET_PARAM.sub(r"\1[redacted]", target)


# Called with ("site" or "idp", the request) before each request is answered, in the request's
# thread: a test that sets DevSite.hold can keep an answer back until the moment it wants.
Hold = Callable[[str, Request], None]


class _App(Protocol):
    def handle(self, request: Request) -> Response: ...


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive, so clients can reuse connections
    disable_nagle_algorithm = True  # without it every redirect or POST stalls ~40 ms
    server_version = "Apache"
    sys_version = ""

    def _serve(self) -> None:
        started = time.perf_counter()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.send_error(413)
            return
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        hold = self.server.hold()
        if hold is not None:  # a test holds this request (DevSite.hold)
            hold(self.server.where, request)
        response = self.server.app.handle(request)
        # Logged before the answer leaves: whoever has the answer can count on the line.
        self.server.log_access(
            self.client_address[0],
            self.requestline,
            response.status,
            len(response.body),
            time.perf_counter() - started,
        )
        self.send_response_only(response.status)
        self.send_header("Date", self.date_time_string())
        self.send_header("Server", "Apache")
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        try:
            self.end_headers()
            if self.command == "HEAD":
                return
            if not response.drip:
                self.wfile.write(response.body)
                return
            for index in range(len(response.body)):  # a dribbling answer (test switch)
                self.wfile.write(response.body[index : index + 1])
                self.wfile.flush()
                time.sleep(response.drip)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client went away mid-answer: its business

    do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = do_OPTIONS = _serve

    def log_message(self, format: str, *args: object) -> None:
        pass  # every request is logged once, by _serve, with secrets redacted


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default backlog of 5 overflows under a burst of connections (20 at once
    # once got a reset); Apache's ListenBacklog is 511
    request_queue_size = 511

    def __init__(
        self,
        port: int,
        app: _App,
        log: Callable[[str], None],
        hold: Callable[[], Hold | None] = lambda: None,
        where: str = "site",
    ) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.app = app
        self._log = log
        self.hold = hold
        self.where = where
        self._open: set[Any] = set()  # connections being served (kept alive, say)
        self._open_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def server_close(self) -> None:
        """Stop listening and end every open connection: a site that goes down answers no
        kept-alive connection either (a browser's would otherwise still reach this one)."""
        super().server_close()
        with self._open_lock:
            still_open = list(self._open)
        for connection in still_open:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away mid-connection (reset, broken pipe) is one log line, as a web
        server logs it; anything else keeps socketserver's traceback."""
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, TimeoutError)):
            self._log(f"{client_address[0]} - - connection ended by the client: {error}")
            return
        super().handle_error(request, client_address)

    def log_access(self, client: str, line: str, status: int, size: int, seconds: float) -> None:
        when = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime())
        self._log(
            f'{client} - - [{when}] "{redact_target(line)}" {status} {size} {seconds * 1000:.1f}ms'
        )


class DevSite:
    """A running bundled site. Use as a context manager, or start()/stop().

    `access_log` holds every log line (also written to *log_stream* when one is given), so
    tests can count requests such as logins.
    """

    def __init__(
        self,
        users: dict[str, str] | None = None,
        *,
        port: int = 0,
        cookie_suffix: str = "",
        session_timeout: float = 7200.0,
        lockout_threshold: int = 20,
        log_stream: TextIO | None = None,
        idp: str | None = None,
        force_password_change: list[str] | tuple[str, ...] = (),
        site_policy: list[str] | tuple[str, ...] = (),
        maintenance: bool = False,
        delay: float = 0.0,
        tls: ssl.SSLContext | None = None,
        path: str = "",
        faults: Faults | None = None,
        light: bool = False,
        dev_mode: bool = False,
        idp_tls: ssl.SSLContext | None = None,
    ) -> None:
        """*idp* ("button" or "redirect") adds an identity provider on a second free port
        (serving https with *idp_tls*);
        users in *force_password_change* / *site_policy* land on that required-action page
        after login; *maintenance* answers 503 everywhere, *delay* slows every answer (both
        settable later on .state); *tls* serves https with that server context; *path* serves
        the whole site in that folder (wwwroot http://127.0.0.1:PORT/PREFIX); *faults* makes it
        misbehave (faults.py; settable later as .state.faults); *light* leaves out the
        sub-resources a real Totara page loads (weight.py); *dev_mode* is a site in GraphQL
        developer mode (devapi.py)."""
        if cookie_suffix and not cookie_suffix.isalnum():
            raise ValueError("the cookie suffix must be letters and digits")
        path = site_folder(path)
        if idp not in (None, "button", "redirect"):
            raise ValueError("idp is 'button' or 'redirect'")
        actions = {name: CHANGE_PASSWORD_PATH for name in force_password_change}
        actions.update({name: SITE_POLICY_PATH for name in site_policy})
        self.state = SiteState(
            users if users is not None else {"alice": "alice-password"},
            session_timeout=session_timeout,
            lockout_threshold=lockout_threshold,
            required_actions=actions,
            maintenance=maintenance,
            delay=delay,
            faults=faults,
        )
        self.path = path
        self.app = TotaraApp(
            self.state, cookie_suffix, idp=idp, path=path, light=light, dev_mode=dev_mode
        )
        self.access_log: list[str] = []
        self.hold: Hold | None = None  # in-process tests only (see Hold)
        self._log_stream = log_stream
        self._log_lock = threading.Lock()
        self._server = _Server(port, self.app, self._log, lambda: self.hold)
        if tls is not None:
            _serve_tls(self._server, tls)
        host, bound_port = self._server.server_address[:2]
        scheme = "https" if tls is not None else "http"
        self.url = f"{scheme}://{host!s}:{bound_port}{path}"
        self.app.wwwroot = self.url
        self._threads: list[threading.Thread] = []
        self._serving = False
        self._idp_server: _Server | None = None
        self.idp_url: str | None = None
        if idp:
            provider = IdentityProvider(self.state, self.url)
            try:
                self._idp_server = _Server(0, provider, self._log, lambda: self.hold, "idp")
            except OSError:
                self._server.server_close()
                raise
            if idp_tls is not None:
                _serve_tls(self._idp_server, idp_tls)
            host, idp_port = self._idp_server.server_address[:2]
            idp_scheme = "https" if idp_tls is not None else "http"
            self.idp_url = self.app.idp_url = f"{idp_scheme}://{host!s}:{idp_port}"

    @property
    def cookie_name(self) -> str:
        return self.app.cookie_name

    @property
    def cookie_path(self) -> str:
        """The session cookie's path: "/", or the site's folder plus "/"."""
        return self.app.cookie_path

    def _log(self, line: str) -> None:
        with self._log_lock:
            self.access_log.append(line)
            if self._log_stream is not None:
                print(line, file=self._log_stream, flush=True)

    def count(self, method: str, path: str) -> int:
        """How many requests of this method reached this path of the site (query string
        ignored; for a site in a folder, *path* is relative to it)."""
        needle = f'"{method} {self.path}{path}'
        return sum(1 for line in self.access_log if needle in line)

    def _servers(self) -> list[_Server]:
        return [self._server] + ([self._idp_server] if self._idp_server else [])

    def _serve_in_thread(self, server: _Server, name: str) -> None:
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=name, daemon=True
        )
        thread.start()
        self._threads.append(thread)

    def serve_forever(self) -> None:
        """Serve in this thread (the identity provider, if any, in another) until stopped."""
        self._serving = True
        if self._idp_server is not None:
            self._serve_in_thread(self._idp_server, "devsite-idp")
        self._server.serve_forever(poll_interval=0.05)

    def start(self) -> DevSite:
        self._serving = True
        for server, name in zip(self._servers(), ("devsite", "devsite-idp"), strict=False):
            self._serve_in_thread(server, name)
        return self

    def stop(self) -> None:
        for server in self._servers():
            if self._serving:
                server.shutdown()  # only a running serve_forever can be shut down
            server.server_close()
        for thread in self._threads:
            thread.join(5)

    def __enter__(self) -> DevSite:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _serve_tls(server: _Server, tls: ssl.SSLContext) -> None:
    # The handshake happens in the request's thread, on first read.
    server.socket = tls.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)


def site_folder(text: str) -> str:
    """The folder a site is served in: "" (the root) or /PREFIX, without a trailing slash;
    ValueError naming the form otherwise. The one check of --path (server, command line,
    demo)."""
    folder = text.rstrip("/")
    if folder and (
        not folder.startswith("/") or any(bad in folder for bad in ("//", "?", "#", " "))
    ):
        raise ValueError(f"a folder such as /totara, not {text[:60]!r}")
    return folder
