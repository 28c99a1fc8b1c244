"""Opening a connection to a site the way its Network says: straight, or to its proxy and
through the proxy's CONNECT tunnel, within one deadline. The probe (probe.py) looks at a site
through it, and `harvest proxy` forwards over it (proxy/upstream.py). Failures come out as
SiteUnreachable in one line that names what failed: the proxy, the site, or the handshake.
"""

from __future__ import annotations

import base64
import functools
import socket
import ssl
import struct
import time
from collections.abc import Callable
from typing import Protocol, TypeVar, cast

from ..errors import SiteUnreachable
from .reach import Network

T = TypeVar("T")
MAX_PROXY_ANSWER = 16 * 1024  # a proxy's answer to CONNECT is a few lines


class Stream(Protocol):
    """What a connection to a site is to its reader: a socket, a TLS socket, or TLS inside a
    proxy's TLS (TunnelledTLS)."""

    def sendall(self, data: bytes, /) -> None: ...
    def recv(self, size: int, /) -> bytes: ...
    def recv_into(self, buffer: memoryview, /) -> int: ...
    def settimeout(self, value: float | None, /) -> None: ...
    def fileno(self) -> int: ...
    def close(self) -> None: ...


class KernelDeadline:
    """Reads and writes on a blocking socket that end after a time the kernel keeps
    (SO_RCVTIMEO, SO_SNDTIMEO), set again only when the time wanted differs from the one set by
    more than SLACK seconds. A Python timeout costs a poll(2) before every read and write and
    two ioctl(2) each time it changes: on these VMs that was a third of the proxy's own cost per
    call (docs/benchmarks.md). A read whose kernel time runs out raises BlockingIOError (or
    ssl.SSLWantReadError on TLS): the caller asks again while its deadline allows. Streams
    that are not sockets (TunnelledTLS) get a Python timeout."""

    SLACK = 0.05

    def __init__(self, stream: Stream, buffer_size: int = 64 * 1024) -> None:
        self.stream = stream
        self.buffer = memoryview(bytearray(buffer_size))  # for reads, kept with the stream
        self.kernel = isinstance(stream, socket.socket)  # an ssl.SSLSocket is one too
        self.limit = -1.0
        if self.kernel:
            stream.settimeout(None)

    def within(self, seconds: float) -> None:
        """The next read or write ends after about *seconds*."""
        if not self.kernel:
            self.stream.settimeout(seconds)
            return
        if abs(seconds - self.limit) <= self.SLACK:
            return
        seconds = max(seconds, 0.001)  # 0 would be no limit at all
        value = struct.pack("ll", int(seconds), int(seconds % 1 * 1_000_000))
        sock: socket.socket = self.stream  # type: ignore[assignment]
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, value)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, value)
        self.limit = seconds


# A read the kernel's time ended (KernelDeadline): not yet a timeout, ask the deadline.
TIME_UP = (BlockingIOError, ssl.SSLWantReadError)


def seconds_left(deadline: float, what: str, timeout: float) -> float:
    """The time to *deadline* (time.monotonic()); SiteUnreachable naming *what* once none is
    left."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise SiteUnreachable(f"{what} did not answer within {timeout:g} s (--timeout)")
    return left


def open_connection(host: str, port: int, timeout: float, what: str) -> socket.socket:
    """A TCP connection to *host*:*port*; SiteUnreachable naming *what* in words when there is
    none (the one way harvester says so: the probe, doctor's look at a browser endpoint, the
    proxy's forwarding)."""
    try:
        return socket.create_connection((host, port), timeout=timeout)
    except socket.gaierror:
        raise SiteUnreachable(f"cannot resolve the host of {what}: check the URL") from None
    except ConnectionRefusedError:
        raise SiteUnreachable(f"nothing is listening at {what}: is it up?") from None
    except TimeoutError:
        raise SiteUnreachable(f"{what} did not answer within {timeout:g} s") from None
    except OSError as exc:
        raise SiteUnreachable(f"cannot reach {what}: {exc.strerror or exc}") from None


def proxy_name(network: Network) -> str:
    """The site's proxy as messages name it: credentials masked, and where it was set."""
    assert network.proxy is not None
    return f"the proxy {network.proxy.shown} ({network.proxy.why})"


def proxy_authorization(network: Network) -> dict[str, str]:
    """The Proxy-Authorization header for the site's proxy, when its URL has credentials."""
    proxy = network.proxy
    if proxy is None or not proxy.username:
        return {}
    token = base64.b64encode(f"{proxy.username}:{proxy.password}".encode()).decode()
    return {"Proxy-Authorization": f"Basic {token}"}


def tunnel(stream: Stream, network: Network, deadline: float, timeout: float) -> None:
    """Ask the proxy at the other end of *stream* for a CONNECT tunnel to the site; on return
    the stream reaches the site. SiteUnreachable names the proxy when it refuses, asks for
    credentials, or says nothing in time."""
    proxy = network.proxy
    assert proxy is not None
    where = proxy_name(network)
    target = f"{network.host}:{network.port}"
    lines = [f"CONNECT {target} HTTP/1.1", f"Host: {target}"]
    lines += [f"{name}: {value}" for name, value in proxy_authorization(network).items()]
    try:
        stream.settimeout(seconds_left(deadline, where, timeout))
        stream.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        answer = b""
        # one byte at a time past the first read: nothing of the site's own bytes is taken
        while b"\r\n\r\n" not in answer and len(answer) < MAX_PROXY_ANSWER:
            stream.settimeout(seconds_left(deadline, where, timeout))
            chunk = stream.recv(1)
            if not chunk:
                break
            answer += chunk
    except TimeoutError:
        raise SiteUnreachable(f"{where} did not answer within {timeout:g} s") from None
    except OSError as exc:
        raise SiteUnreachable(f"{where} failed: {exc.strerror or exc}") from None
    status_line = answer.split(b"\r\n", 1)[0].decode("latin-1", "replace")[:100]
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        raise SiteUnreachable(f"{where} gave no HTTP answer to CONNECT {target}")
    status = int(parts[1])
    if status == 407 or (status == 401 and proxy.username):
        said = "refused the credentials given" if proxy.username else "asks for credentials"
        raise SiteUnreachable(f"{where} {said} ({status_line}): check the proxy's user:password")
    if status != 200:
        raise SiteUnreachable(f"{where} refused the tunnel to {target} ({status_line})")


class TunnelledTLS:
    """TLS with the site inside the TLS of an https:// proxy's tunnel. Python's TLS socket
    cannot wrap another TLS socket, so the inner session runs on memory buffers (ssl.SSLObject)
    whose records travel over the outer one."""

    def __init__(
        self, outer: ssl.SSLSocket, context: ssl.SSLContext, host: str, deadline: float
    ) -> None:
        self.outer = outer
        self.incoming = ssl.MemoryBIO()
        self.outgoing = ssl.MemoryBIO()
        self.tls = context.wrap_bio(self.incoming, self.outgoing, server_hostname=host)
        self.outer.settimeout(max(deadline - time.monotonic(), 0.001))
        self._run(self.tls.do_handshake)

    def _run(self, step: Callable[[], T]) -> T:
        while True:
            try:
                result = step()
            except ssl.SSLWantReadError:
                self._flush()
                data = self.outer.recv(65536)
                if not data:
                    self.incoming.write_eof()
                else:
                    self.incoming.write(data)
                continue
            self._flush()
            return result

    def _flush(self) -> None:
        pending = self.outgoing.read()
        if pending:
            self.outer.sendall(pending)

    def sendall(self, data: bytes, /) -> None:
        view = memoryview(data)
        while view:
            sent = self._run(functools.partial(self.tls.write, view))
            view = view[sent:]

    def recv(self, size: int, /) -> bytes:
        try:
            return self._run(functools.partial(self.tls.read, size))
        except ssl.SSLZeroReturnError:
            return b""

    def recv_into(self, buffer: memoryview, /) -> int:
        try:
            # with a buffer, read() returns the size read (typeshed knows only the bytes form)
            return cast(int, self._run(functools.partial(self.tls.read, len(buffer), buffer)))
        except ssl.SSLZeroReturnError:
            return 0

    def settimeout(self, value: float | None, /) -> None:
        self.outer.settimeout(value)

    def fileno(self) -> int:
        return self.outer.fileno()

    def pending(self) -> int:
        return self.tls.pending()

    def close(self) -> None:
        self.outer.close()


def open_stream(network: Network, deadline: float, timeout: float) -> Stream:
    """A connection that reaches the site for HTTP, within *deadline*: straight, through its
    proxy's tunnel (https), or to its proxy for requests in absolute form (an http site behind
    a proxy: Upstream sends those in absolute form, as curl and httpx do).
    On https the site's certificate is checked with exactly the CAs chosen for it; the client
    certificate, if any, is shown to the site only."""
    proxy = network.proxy
    if proxy is None:
        what = network.origin
        stream: Stream = open_connection(network.host, network.port, timeout, what)
    else:
        what = proxy_name(network)
        host, port = proxy.host_port
        stream = open_connection(host, port, seconds_left(deadline, what, timeout), what)
    stream.settimeout(seconds_left(deadline, what, timeout))
    try:
        if proxy is not None and proxy.tls:
            # the proxy's own certificate, checked with the CAs chosen for the site
            outer = network.trust.context(None).wrap_socket(
                stream,  # type: ignore[arg-type]
                server_hostname=proxy.host_port[0],
            )
            stream = outer
            if not network.tls:
                return stream
            tunnel(stream, network, deadline, timeout)
            inner = TunnelledTLS(
                outer, network.trust.context(network.client_cert), network.host, deadline
            )
            return inner
        if proxy is not None and not network.tls:
            return stream
        if proxy is not None:
            tunnel(stream, network, deadline, timeout)
        if network.tls:
            context = network.trust.context(network.client_cert)
            stream = context.wrap_socket(stream, server_hostname=network.host)  # type: ignore[arg-type]
        return stream
    except ssl.SSLCertVerificationError:
        stream.close()
        raise SiteUnreachable(
            f"the TLS certificate of {network.origin} does not verify (harvest doctor says why)"
        ) from None
    except ssl.SSLError as exc:
        stream.close()
        raise SiteUnreachable(
            f"the TLS handshake with {network.origin} failed: {exc.reason or exc}"
        ) from None
    except TimeoutError:
        stream.close()
        raise SiteUnreachable(f"{what} did not answer within {timeout:g} s (--timeout)") from None
    except OSError as exc:
        stream.close()
        raise SiteUnreachable(f"cannot reach {what}: {exc.strerror or exc}") from None
    except SiteUnreachable:
        stream.close()
        raise
