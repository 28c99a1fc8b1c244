"""The proxy's side towards the site: kept-alive connections, opened the way the site's Network
says (network/connect.py: its CAs, proxy and client certificate), and one exchange at a time
on each, parsed by llhttp (httptools), Node's HTTP parser.

Why not httpx, which every other exchange uses (site/http.py): the proxy adds a hop to every
call a tool makes, and through httpx that hop cost 4-6 times the bundled site's own answer
(docs/benchmarks.md, "harvest proxy"). Here it is a few socket calls and a C parser. The rules
are the same ones: one deadline for the whole exchange (each blocking call gets what is left of
it), at most MAX_ANSWER_BYTES decompressed (site/http.py's BodyDecoder), no redirect followed,
no cookie kept, and transport failures as SiteUnreachable (exit 5), never as a dead session.
"""

from __future__ import annotations

import select
import ssl
import threading
import time
from typing import NoReturn

import httptools

from ..errors import SiteError, SiteUnreachable
from ..network.connect import (
    TIME_UP,
    KernelDeadline,
    Stream,
    open_stream,
    proxy_authorization,
    seconds_left,
)
from ..network.reach import Network
from ..site.http import ACCEPT_ENCODING, MAX_ANSWER_BYTES, Answer, BodyDecoder
from ..version import __version__
from .inbound import header_dict

# Answers are read into one buffer per connection: a fresh 64 KiB bytes object per read is a
# malloc that a thread's arena gives back to the kernel after each answer, and takes again as
# page faults on the next (3 a call, measured: the costliest part of a call on these VMs).
READ_SIZE = 64 * 1024
MAX_HEAD_BYTES = 64 * 1024  # an answer's status line and headers: a real one is under 2 KiB


class _Reading:
    """httptools' callbacks for one answer: its status, headers and body, bounded. An error in
    a callback stops the parser; it is kept in *error*, to be raised as itself."""

    def __init__(self, url: str, limit: int) -> None:
        self.url, self.limit = url, limit
        self.headers: dict[str, str] = {}
        self.raw_headers: list[tuple[bytes, bytes]] = []
        self.head_bytes = 0  # read while the headers were incomplete
        self.parts: list[bytes] = []
        self.size = 0
        self.decode: BodyDecoder | None = None
        self.headers_done = False
        self.done = False
        self.keep_alive = False
        self.error: SiteError | None = None
        self.parser = httptools.HttpResponseParser(self)

    def on_message_begin(self) -> None:
        # a 1xx answer (103 Early Hints) comes before the real one: start again
        self.raw_headers, self.headers_done, self.done = [], False, False

    def on_header(self, name: bytes, value: bytes) -> None:
        self.raw_headers.append((name, value))  # bounded by the reader: a callback is hot

    def on_headers_complete(self) -> None:
        self.headers_done = True
        self.headers = header_dict(self.raw_headers)
        self.keep_alive = self.parser.should_keep_alive()  # known here, forgotten at the end
        encoding = self.headers.get("content-encoding")
        if encoding is not None:
            try:
                self.decode = BodyDecoder(encoding, self.url, self.limit)
            except SiteError as exc:
                self._fail(exc)

    def on_body(self, body: bytes) -> None:
        if self.decode is None:  # identity, as the bundled site's and most ajax.php answers
            self.size += len(body)
            if self.size > self.limit:
                self._fail(BodyDecoder.too_big(self.url, self.limit))
            self.parts.append(body)
            return
        try:
            data = self.decode(body, self.limit - self.size)
        except SiteError as exc:
            self._fail(exc)
        self.size += len(data)
        self.parts.append(data)

    def on_message_complete(self) -> None:
        self.done = True

    def _fail(self, error: SiteError) -> NoReturn:
        self.error = error
        raise error

    def body(self) -> bytes:
        if self.decode is not None:
            self.parts.append(self.decode(b"", self.limit - self.size, final=True))
        return b"".join(self.parts)

    @property
    def runs_to_close(self) -> bool:
        """Whether the body runs to the end of the connection (neither a length nor chunks:
        an HTTP/1.0 site, or one that closes after an answer without a length)."""
        chunked = "chunked" in self.headers.get("transfer-encoding", "").lower()
        return "content-length" not in self.headers and not chunked


class Upstream:
    """Connections to one site for the proxy's requests, safe to share between threads: each
    exchange takes an idle connection (or opens one) and gives it back when the answer leaves
    it reusable. *idle* bounds how many wait unused."""

    def __init__(self, network: Network, timeout: float, *, idle: int = 8) -> None:
        self.network = network
        self.timeout = timeout
        self.idle_max = idle
        self._idle: list[KernelDeadline] = []
        self._lock = threading.Lock()
        self._closed = False
        # an http site behind a proxy gets requests in absolute form, as curl and httpx send them
        self._absolute = network.proxy is not None and not network.tls
        self._where = network.origin
        host = network.origin.split("://", 1)[1]
        fixed = {"Host": host, "User-Agent": f"harvester/{__version__}"}
        fixed["Accept-Encoding"] = ACCEPT_ENCODING
        if self._absolute:
            fixed.update(proxy_authorization(network))
        self._fixed = "".join(f"{k}: {v}\r\n" for k, v in fixed.items())

    def send(
        self, method: str, url: str, target: str, headers: dict[str, str], body: bytes
    ) -> Answer:
        """*method* *target* (path and query) with *headers* and *body*; the site's whole
        answer within the deadline. *url* names the request in errors and in the Answer."""
        deadline = time.monotonic() + self.timeout
        where = self._where
        if self._absolute:
            target = f"{self._where}{target}"
        lines = [f"{method} {target} HTTP/1.1\r\n", self._fixed]
        lines += [f"{name}: {value}\r\n" for name, value in headers.items()]
        lines.append(f"Content-Length: {len(body)}\r\n\r\n")
        request = "".join(lines).encode("latin-1") + body
        kept = self._checkout(deadline)
        stream = kept.stream
        reading = _Reading(url, MAX_ANSWER_BYTES)
        parser = reading.parser
        ended = False  # the site closed the connection after the answer
        try:
            kept.within(seconds_left(deadline, where, self.timeout))
            try:
                stream.sendall(request)
            except TIME_UP:
                raise TimeoutError from None  # part of it may have gone: never sent again
            while not ended and not (reading.done and parser.get_status_code() >= 200):
                kept.within(seconds_left(deadline, where, self.timeout))
                try:
                    size = stream.recv_into(kept.buffer)
                except TIME_UP:
                    continue  # the kernel's time is up; the deadline says whether ours is
                if size:
                    parser.feed_data(kept.buffer[:size])
                    if not reading.headers_done:
                        reading.head_bytes += size
                        if reading.head_bytes > MAX_HEAD_BYTES:
                            raise SiteError(
                                f"{where} answered more than {MAX_HEAD_BYTES} bytes of headers"
                            )
                elif reading.headers_done and reading.runs_to_close:
                    ended = True
                else:
                    raise SiteUnreachable(f"{where} closed the connection before it had answered")
            answer = Answer(parser.get_status_code(), reading.headers, reading.body(), url)
        except BaseException as exc:
            stream.close()
            raise _as_site_trouble(exc, reading, where, self.timeout) from None
        if ended or not reading.keep_alive or reading.runs_to_close:
            stream.close()
        else:
            self._checkin(kept)
        return answer

    def _checkout(self, deadline: float) -> KernelDeadline:
        with self._lock:
            while self._idle:
                kept = self._idle.pop()
                if _still_open(kept.stream):
                    return kept
                kept.stream.close()  # the site closed it while it waited (a keep-alive timeout)
        return KernelDeadline(open_stream(self.network, deadline, self.timeout))

    def _checkin(self, kept: KernelDeadline) -> None:
        with self._lock:
            if self._closed or len(self._idle) >= self.idle_max:
                kept.stream.close()
            else:
                self._idle.append(kept)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for kept in self._idle:
                kept.stream.close()
            self._idle.clear()


def _as_site_trouble(
    exc: BaseException, reading: _Reading, where: str, timeout: float
) -> BaseException:
    """What a failed exchange is to the caller: site trouble in one line (exit 5, or the
    site's own error), never a dead session; anything else as it is."""
    if isinstance(exc, httptools.HttpParserError):
        if reading.error is not None:
            return reading.error
        return SiteError(f"{where} answered something that is not HTTP")
    if isinstance(exc, TimeoutError):
        return SiteUnreachable(f"{where} did not finish answering within {timeout:g} s (--timeout)")
    if isinstance(exc, ssl.SSLError):
        return SiteUnreachable(f"the TLS connection to {where} failed: {exc.reason or exc}")
    if isinstance(exc, OSError):
        return SiteUnreachable(f"cannot reach {where}: {exc.strerror or exc}")
    return exc


def _still_open(stream: Stream) -> bool:
    """An idle connection that has something to read has been closed by the site (or holds
    bytes nobody asked for): either way it is not used again."""
    pending = getattr(stream, "pending", None)
    if pending is not None and pending():
        return False
    readable, _, _ = select.select([stream.fileno()], [], [], 0)
    return not readable
