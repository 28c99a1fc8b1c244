"""Talking HTTP to a site: the one client that carries credentials, and the rules every
exchange shares: a deadline, a size bound, transport failures, maintenance, and a TCP probe
while a browser starts.

Every answer from a site is untrusted input. `exchange` ends within its deadline whatever the
site does (a dribbling answer, a silent one) and reads at most MAX_ANSWER_BYTES after
decompression (a compression bomb ends as a SiteError, not as gigabytes of memory).

httpx is imported lazily (~70 ms): commands that only read the keyring never pay for it.
"""

from __future__ import annotations

import contextlib
import threading
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import TYPE_CHECKING, Any, TypeVar

from ..deadlines import run_within
from ..errors import SiteError, SiteMaintenance, SiteUnreachable, first_line

if TYPE_CHECKING:
    import httpx

    from ..network.reach import Network

T = TypeVar("T")
# The most an answer may hold once decompressed: real ajax.php answers and pages are far below.
MAX_ANSWER_BYTES = 16 * 1024 * 1024
# We decode these ourselves, bounded; a site that answers in anything else is in trouble.
ACCEPT_ENCODING = "gzip, deflate"


@dataclass(frozen=True)
class Answer:
    """A site's whole answer to one exchange, read within the deadline and the size bound."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    url: str  # where the answer came from (after redirects, for a client that follows them)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body as JSON; ValueError when it is not."""
        import json

        return json.loads(self.body)

    @property
    def is_redirect(self) -> bool:
        return self.status in (301, 302, 303, 307, 308) and "location" in self.headers


def credential_client(
    timeout: float,
    transport: httpx.BaseTransport | None = None,
    *,
    network: Network | None = None,
) -> httpx.Client:
    """The HTTP client for every request that carries a session: it follows no redirect (the
    cookie never travels to another origin) and keeps no cookie the site sets (a fresh
    anonymous cookie after expiry must never mix with ours). It reaches the site through
    *network* (its CAs, proxy and client certificate; without one, the system store and the
    proxy variables). Safe to share between threads, for sites that share a Network."""
    import httpx

    jar = CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))
    options = network.client_options() if network is not None else {}
    return httpx.Client(
        timeout=timeout, follow_redirects=False, cookies=jar, transport=transport, **options
    )


class CredentialClients:
    """One credential_client per Network, for a job over many sites (status, refresh): sites
    that are reached the same way share connections; each is reached its own way."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._clients: dict[Network, httpx.Client] = {}
        self._lock = threading.Lock()

    def __call__(self, network: Network) -> httpx.Client:
        with self._lock:
            client = self._clients.get(network)
            if client is None:
                client = credential_client(self.timeout, network=network)
                self._clients[network] = client
            return client

    def __enter__(self) -> CredentialClients:
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()


def exchange(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    timeout: float,
    where: str,
    limit: int = MAX_ANSWER_BYTES,
    **request: Any,
) -> Answer:
    """One request and its whole answer, over within *timeout* seconds (a deadline, not an idle
    limit) and at most *limit* bytes decompressed. *where* names the site in errors. Raises
    SiteUnreachable (no answer in time, transport failure) or SiteError (answer too big, or in
    an encoding that was not asked for)."""
    headers = {"Accept-Encoding": ACCEPT_ENCODING, **request.pop("headers", {})}
    stop = threading.Event()

    def read() -> Answer:
        with transport_errors(where, timeout):
            return _read(client, method, url, headers, timeout, limit, stop, request)

    # On a worker thread, so that the deadline holds even while a read blocks: a site that goes
    # silent mid-answer must not hold the caller for another read timeout.
    try:
        return run_within(read, timeout)
    except TimeoutError:
        stop.set()  # the worker stops at its next chunk; its connection is dropped
        raise SiteUnreachable(
            f"{where} did not finish answering within {timeout:g} s (--timeout)"
        ) from None


def _read(
    client: httpx.Client,
    method: str,
    url: str,
    headers: dict[str, str],
    timeout: float,
    limit: int,
    stop: threading.Event,
    request: dict[str, Any],
) -> Answer:
    with client.stream(method, url, headers=headers, timeout=timeout, **request) as response:
        decode = BodyDecoder(response.headers.get("content-encoding", ""), url, limit)
        parts: list[bytes] = []
        size = 0
        # A response built in memory (a test's mock transport) has no stream left to read.
        chunks = [response.content] if response.is_stream_consumed else response.iter_raw()
        for raw in chunks:
            if stop.is_set():
                raise SiteUnreachable(f"{url}: gave up at the deadline")
            data = decode(raw, limit - size)
            size += len(data)
            parts.append(data)
        parts.append(decode(b"", limit - size, final=True))
        headers = {k.lower(): v for k, v in response.headers.items()}
        return Answer(response.status_code, headers, b"".join(parts), str(response.url))


class BodyDecoder:
    """Content-Encoding, decoded a chunk at a time and never past the room left. We asked for
    gzip or deflate only; a site that answers in anything else is in trouble."""

    def __init__(self, encoding: str, url: str, limit: int) -> None:
        encoding = encoding.strip().lower()
        if encoding not in ("", "identity", "gzip", "x-gzip", "deflate"):
            raise SiteError(f"{url} answered in an encoding it was not asked for ({encoding[:40]})")
        self.url = url
        self.limit = limit
        # 47 = 32 + 15: zlib reads the gzip and the zlib container alike
        self.inflate = zlib.decompressobj(47) if encoding not in ("", "identity") else None

    def __call__(self, raw: bytes, room: int, *, final: bool = False) -> bytes:
        if self.inflate is None:
            data = raw
        else:
            try:
                data = self.inflate.decompress(raw, room + 1) if raw else b""
                if self.inflate.unconsumed_tail:  # more was coming than there is room for
                    raise self._too_big()
                if final and len(data) <= room:
                    data += self.inflate.flush()
            except zlib.error:
                raise SiteError(f"{self.url} answered a body that does not decompress") from None
        if len(data) > room:
            raise self._too_big()
        return data

    def _too_big(self) -> SiteError:
        return self.too_big(self.url, self.limit)

    @staticmethod
    def too_big(url: str, limit: int) -> SiteError:
        """The error of an answer over *limit* bytes (decompressed)."""
        return SiteError(
            f"{url} answered more than {limit / (1 << 20):g} MiB "
            "(decompressed); harvester reads no more than that"
        )


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
    except httpx.ProxyError as exc:
        said = first_line(exc)[:120]
        raise SiteUnreachable(f"the proxy on the way to {wwwroot} failed: {said}") from None
    except httpx.ConnectError as exc:
        if "CERTIFICATE_VERIFY_FAILED" in str(exc):
            raise SiteUnreachable(
                f"the TLS certificate of {wwwroot} does not verify (harvest doctor says why)"
            ) from None
        raise SiteUnreachable(f"cannot reach {wwwroot}: {type(exc).__name__}") from None
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
    that fails (network/connect.py says how)."""
    from ..network.connect import open_connection

    open_connection(host, port, timeout, what).close()
