"""A quick look at a site through its Network before anything else talks to it: the TCP
connection (through the proxy's CONNECT tunnel when there is one) and, on https, the TLS
handshake with exactly the CAs harvester trusts. Problems come out in words: the proxy that
refused, the CA that is not trusted, the date a certificate expired, the names it is valid for.
All of it is bounded by one deadline and reads at most a few KiB.
"""

from __future__ import annotations

import socket
import ssl
import time
from datetime import datetime, timezone

from ..errors import SiteUnreachable
from .connect import open_connection, proxy_name, tunnel
from .reach import Network
from .trust import unverified_context


def probe(network: Network, timeout: float) -> bytes | None:
    """Reach the site; on https, complete a verified handshake (an unverified one when the
    site is insecure). Returns the certificate the site served (DER), None on http. Raises
    SiteUnreachable in one line naming what failed: the proxy, the site, or its certificate."""
    deadline = time.monotonic() + timeout
    with _connect(network, deadline, timeout) as raw:
        if not network.tls:
            return None
        context = network.trust.context(network.client_cert)
        try:
            with context.wrap_socket(raw, server_hostname=network.host) as tls:
                return tls.getpeercert(binary_form=True)
        except ssl.SSLCertVerificationError as exc:
            raise certificate_problem(network, exc, timeout) from None
        except ssl.SSLError as exc:
            raise SiteUnreachable(
                f"the TLS handshake with {network.origin} failed: {exc.reason or exc}"
            ) from None
        except TimeoutError:
            raise SiteUnreachable(
                f"{network.origin} did not finish the TLS handshake within {timeout:g} s"
            ) from None
        except OSError as exc:
            raise SiteUnreachable(
                f"the TLS handshake with {network.origin} failed: {exc.strerror or exc}"
            ) from None


def asks_for_client_certificate(network: Network, timeout: float) -> bool:
    """Whether the site ends a connection that shows no client certificate (TLS 1.3 says so
    only after the handshake, with an alert on the first read). Asked after a failure only:
    it waits for the site to speak."""
    if not network.tls:
        return False
    try:
        with _connect(network, time.monotonic() + timeout, timeout) as raw:
            context = network.trust.context(None)
            with context.wrap_socket(raw, server_hostname=network.host) as tls:
                tls.settimeout(min(timeout, 2.0))
                tls.recv(1)
    except ssl.SSLError as exc:
        said = f"{exc.reason} {exc}".upper()
        return "CERTIFICATE_REQUIRED" in said or "HANDSHAKE_FAILURE" in said
    except (OSError, SiteUnreachable):
        return False
    return False


def fetch_leaf(network: Network, timeout: float) -> bytes:
    """The certificate an https site serves, unverified (for an insecure site's pin, and to
    say why a certificate is refused)."""
    deadline = time.monotonic() + timeout
    context = unverified_context()
    with _connect(network, deadline, timeout) as raw:
        try:
            with context.wrap_socket(raw, server_hostname=network.host) as tls:
                der = tls.getpeercert(binary_form=True)
        except (OSError, ssl.SSLError) as exc:
            raise SiteUnreachable(
                f"the TLS handshake with {network.origin} failed: {exc}"
            ) from None
    if not der:
        raise SiteUnreachable(f"{network.origin} served no certificate")
    return der


def certificate_problem(
    network: Network, exc: ssl.SSLCertVerificationError, timeout: float
) -> SiteUnreachable:
    """The refused certificate, in words: who issued it, when it expired, which names it is for."""
    message = str(exc.verify_message or exc.reason or exc)
    origin = network.origin
    try:
        leaf = _describe(fetch_leaf(network, timeout))
    except SiteUnreachable:
        leaf = {}
    trusted = network.trust.describe()
    code = exc.verify_code
    if code in (18, 19, 20, 21) or "issuer" in message or "self-signed" in message:
        issuer = leaf.get("issuer", "an unknown issuer")
        what = "is self-signed" if leaf.get("self_signed") else f"is issued by {issuer}"
        return SiteUnreachable(
            f"the TLS certificate of {origin} {what}, which is not trusted "
            f"(trusted: {trusted}): {network.trust.hint}"
        )
    if code == 10 or "expired" in message:
        until = leaf.get("until", "")
        return SiteUnreachable(f"the TLS certificate of {origin} expired{until}")
    if code == 9 or "not yet valid" in message:
        return SiteUnreachable(f"the TLS certificate of {origin} is not valid yet")
    if code == 62 or "mismatch" in message.lower():
        names = leaf.get("names", "other names")
        return SiteUnreachable(
            f"the TLS certificate of {origin} is for {names}, not for {network.host}: use the "
            "site's own name in the URL"
        )
    return SiteUnreachable(f"the TLS certificate of {origin} does not verify: {message}")


def _describe(der: bytes) -> dict[str, str]:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    cert = x509.load_der_x509_certificate(der)

    def name(value: x509.Name) -> str:
        for oid in (NameOID.COMMON_NAME, NameOID.ORGANIZATION_NAME):
            found = value.get_attributes_for_oid(oid)
            if found:
                return repr(str(found[0].value)[:80])
        return repr(value.rfc4514_string()[:80])

    described = {
        "issuer": name(cert.issuer),
        "self_signed": "yes" if cert.issuer == cert.subject else "",
        "until": f" on {cert.not_valid_after_utc:%Y-%m-%d}"
        if cert.not_valid_after_utc < datetime.now(timezone.utc)
        else "",
    }
    try:
        alt = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [str(n) for n in alt.get_values_for_type(x509.DNSName)]
        names += [str(n) for n in alt.get_values_for_type(x509.IPAddress)]
        if names:
            described["names"] = ", ".join(names[:5])
    except x509.ExtensionNotFound:
        pass
    if not described["self_signed"]:
        del described["self_signed"]
    return described


class _connect:
    """A TCP connection to the site, or to its proxy and tunnelled through (CONNECT)."""

    def __init__(self, network: Network, deadline: float, timeout: float) -> None:
        self.network, self.deadline, self.timeout = network, deadline, timeout
        self.sock: socket.socket | None = None

    def __enter__(self) -> socket.socket:
        network = self.network
        proxy = network.proxy
        if proxy is None:
            self.sock = open_connection(network.host, network.port, self._left(), network.origin)
            return self.sock
        host, port = proxy.host_port
        self.sock = open_connection(host, port, self._left(), proxy_name(network))
        if proxy.tls:
            return self.sock  # a TLS proxy: its tunnel is left to the client and the browser
        tunnel(self.sock, network, self.deadline, self.timeout)
        return self.sock

    def __exit__(self, *exc: object) -> None:
        if self.sock is not None:
            self.sock.close()

    def _left(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise SiteUnreachable(f"{self.network.origin} did not answer within {self.timeout:g} s")
        return left
