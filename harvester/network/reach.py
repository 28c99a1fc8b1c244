"""Network: how one site is reached, as one value that the HTTP client, the browser and the
probe all read, so that they go the same way (docs/networks.md)."""

from __future__ import annotations

import base64
import functools
import hashlib
from dataclasses import dataclass, field
from typing import Any

from .proxies import Proxy
from .trust import ClientCert, Trust, trusting_nothing


@dataclass(frozen=True)
class Network:
    """The trust, proxy and client certificate of one site (its origin: scheme, host, port)."""

    scheme: str
    host: str
    port: int
    trust: Trust = field(default_factory=lambda: Trust("system", "the system store"))
    proxy: Proxy | None = None
    client_cert: ClientCert | None = None

    @property
    def origin(self) -> str:
        default = {"http": 80, "https": 443}.get(self.scheme)
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = "" if self.port == default else f":{self.port}"
        return f"{self.scheme}://{host}{port}"

    @property
    def tls(self) -> bool:
        return self.scheme == "https"

    @property
    def warning(self) -> str:
        """The line announced on every command that uses an insecure setting; else ""."""
        if not self.trust.insecure or not self.tls:
            return ""
        return (
            f"warning: the TLS certificate of {self.origin} is not checked "
            f"({self.trust.why}); do not use this outside development"
        )

    def client_options(self) -> dict[str, Any]:
        """httpx.Client keyword arguments: the verification context (the client certificate in
        it), the proxy, and nothing read from the environment behind our back."""
        options: dict[str, Any] = {"trust_env": False}
        if self.tls:
            options["verify"] = self.trust.context(self.client_cert)
        elif self.proxy is None or not self.proxy.tls:
            options["verify"] = trusting_nothing()  # no TLS anywhere on this path
        if self.proxy is not None:
            options["proxy"] = self.proxy.url
        return options

    def context_options(self) -> dict[str, Any]:
        """Playwright browser-context keyword arguments: the proxy and the client certificate
        (shown to this site's origin only)."""
        options: dict[str, Any] = {}
        if self.proxy is not None:
            options["proxy"] = self.proxy.for_browser()
        if self.client_cert is not None and self.tls:
            cert: dict[str, str] = {"origin": self.origin, "certPath": str(self.client_cert.cert)}
            cert["keyPath"] = str(self.client_cert.key or self.client_cert.cert)
            if self.client_cert.passphrase:
                cert["passphrase"] = self.client_cert.passphrase
            options["client_certificates"] = [cert]
        return options

    def describe(self) -> list[tuple[str, str]]:
        """(what, how and why) rows for harvest doctor; never a secret."""
        rows = [("trust", self.trust.describe() if self.tls else "plain http: no certificate")]
        rows.append(
            (
                "proxy",
                f"{self.proxy.shown}, from {self.proxy.why}" if self.proxy else "none: direct",
            )
        )
        if self.client_cert is not None:
            rows.append(("client certificate", self.client_cert.describe()))
        return rows


@functools.lru_cache(maxsize=16)
def spki_pin(der: bytes) -> str:
    """The base64 SHA-256 of a certificate's public key, as Chromium's
    --ignore-certificate-errors-spki-list takes it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    key = x509.load_der_x509_certificate(der).public_key()
    spki = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()
