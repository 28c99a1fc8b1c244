"""The proxy's side towards its clients: HTTP/1.1 requests read off a connection by llhttp
(httptools), bounded in size and time, and answers written back, kept alive.

Why not http.server, as the bundled site uses: its header parsing (the email package) and its
answer writing cost the proxy more than a whole answer of the bundled site (docs/benchmarks.md,
"harvest proxy"). llhttp is Node's HTTP parser, strict about what it accepts (no request
smuggling through two lengths, no bare newlines), and a request costs it a few microseconds.
"""

from __future__ import annotations

import collections
import email.utils
import http.client
import socket
import time

import httptools

from ..network.connect import TIME_UP, KernelDeadline

MAX_BODY = 1 << 20  # a GraphQL request is kilobytes
MAX_HEAD_BYTES = 64 * 1024  # a request line and its headers
IDLE_SECONDS = 30.0  # a kept-alive connection with nothing to say is closed
REQUEST_SECONDS = 30.0  # a request, once begun, arrives whole within this (no slowloris)
READ_SIZE = 64 * 1024  # read into one buffer per connection (proxy/upstream.py says why)


class BadRequest(Exception):
    """A request that is answered with *status* and its connection closed."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Request:
    """One request as the client sent it; header names are lower-case, repeats joined."""

    __slots__ = ("body", "headers", "keep_alive", "method", "target")

    def __init__(
        self,
        method: str = "",
        target: str = "",
        headers: dict[str, str] | None = None,
        body: bytes = b"",
    ) -> None:
        self.method = method
        self.target = target
        self.headers: dict[str, str] = headers if headers is not None else {}
        self.body = body
        self.keep_alive = True

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]


class RequestReader:
    """The requests of one connection, in order (pipelined ones included). The parser's
    callbacks collect each request; a bound broken in a callback stops the parser with a
    BadRequest, raised as itself by next()."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.deadline = KernelDeadline(sock)
        self.buffer = memoryview(bytearray(READ_SIZE))
        self.parser = httptools.HttpRequestParser(self)
        self.ready: collections.deque[Request] = collections.deque()
        self.current: Request | None = None
        self.parts: list[bytes] = []
        self.raw_headers: list[tuple[bytes, bytes]] = []
        self.size = 0
        self.head_bytes = 0  # read of the current request while its headers are incomplete
        self.started = 0.0
        self.error: BadRequest | None = None
        self.waiting = False  # between requests, with nothing begun: safe to close on stop

    def next(self) -> Request | None:
        """The next request; None when the client has closed, or stayed silent between
        requests for IDLE_SECONDS. BadRequest for one that breaks a rule."""
        while not self.ready:
            begun = self.current is not None
            left = IDLE_SECONDS
            if begun:
                left = self.started + REQUEST_SECONDS - time.monotonic()
                if left <= 0:
                    raise BadRequest(408, "the request did not arrive whole in time")
            self.waiting = not begun
            self.deadline.within(left)
            try:
                size = self.sock.recv_into(self.buffer)
            except TIME_UP:
                if begun:
                    continue  # the deadline above says whether the request's time is up
                return None  # silent between requests for IDLE_SECONDS
            except OSError:
                return None
            finally:
                self.waiting = False
            if not size:
                return None
            try:
                self.parser.feed_data(self.buffer[:size])
            except httptools.HttpParserUpgrade:
                raise BadRequest(400, "harvest proxy does not upgrade connections") from None
            except httptools.HttpParserError:
                if self.error is not None:
                    raise self.error from None
                raise BadRequest(400, "that is not an HTTP/1.1 request") from None
            if self.current is not None and not self.current.method:  # headers still to come
                self.head_bytes += size
                if self.head_bytes > MAX_HEAD_BYTES:
                    raise BadRequest(431, "the request's headers are too large")
        return self.ready.popleft()

    # -- the parser's callbacks ---------------------------------------------------------------
    def on_message_begin(self) -> None:
        self.current = Request()
        self.parts, self.raw_headers, self.size, self.head_bytes = [], [], 0, 0
        self.started = time.monotonic()

    def on_url(self, url: bytes) -> None:
        assert self.current is not None
        self.current.target += url.decode("latin-1")

    def on_header(self, name: bytes, value: bytes) -> None:
        self.raw_headers.append((name, value))  # bounded in next(): a callback is the hot path

    def on_headers_complete(self) -> None:
        request = self.current
        assert request is not None
        request.headers = header_dict(self.raw_headers)
        request.method = self.parser.get_method().decode("latin-1")
        request.keep_alive = self.parser.should_keep_alive()
        length = request.headers.get("content-length", "0")
        if not length.isdigit() or int(length) > MAX_BODY:
            self._fail(BadRequest(413, f"a request body is at most {MAX_BODY} bytes"))
        if request.headers.get("expect", "").lower() == "100-continue" and not self.ready:
            self.sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")  # curl waits for it

    def on_body(self, body: bytes) -> None:
        self.size += len(body)
        if self.size > MAX_BODY:  # a chunked body has no length to check beforehand
            self._fail(BadRequest(413, f"a request body is at most {MAX_BODY} bytes"))
        self.parts.append(body)

    def on_message_complete(self) -> None:
        request = self.current
        assert request is not None
        request.body = b"".join(self.parts)
        self.ready.append(request)
        self.current = None

    def _fail(self, error: BadRequest) -> None:
        self.error = error
        raise error


def header_dict(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """Headers by lower-case name; the values of a name given twice joined with ", " (so that
    two Host headers name no host at all)."""
    headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in raw}
    if len(headers) == len(raw):
        return headers
    headers = {}
    for name, value in raw:
        key, text = name.decode("latin-1").lower(), value.decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    return headers


_DATE: list[object] = [0, ""]


def http_date() -> str:
    """The Date header's value, formatted once a second."""
    now = int(time.time())
    if _DATE[0] != now:
        _DATE[:] = [now, email.utils.formatdate(now, usegmt=True)]
    return str(_DATE[1])


def answer_bytes(
    status: int, body: bytes, headers: list[tuple[str, str]], *, keep_alive: bool, head: bool
) -> bytes:
    """An HTTP/1.1 answer: the status line, Date, Server, Content-Length, *headers* (a 204
    has no length), Connection: close when the connection ends after it, then *body* unless
    it answers a HEAD."""
    reason = http.client.responses.get(status, "Unknown")
    lines = [f"HTTP/1.1 {status} {reason}", f"Date: {http_date()}", "Server: harvest-proxy"]
    if status != 204:
        lines.append(f"Content-Length: {len(body)}")
    lines += [f"{name}: {value}" for name, value in headers]
    if not keep_alive:
        lines.append("Connection: close")
    head_part = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head_part if head or status == 204 else head_part + body
