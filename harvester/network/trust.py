"""Which certificate authorities harvester trusts for a site, and where that choice came from.

In this order: --ca-file, the site's ca_file, SSL_CERT_FILE / SSL_CERT_DIR (what curl, OpenSSL
and httpx users already set), else the system store (OpenSSL's default paths: /etc/ssl/certs on
Debian). `insecure` trusts nothing and checks nothing, for the site's own origin only.

The HTTP client verifies with exactly these CAs. The browser has its own store of public roots;
it is given, in addition, the CAs of the source that are not public ones (browser_trust.py), and
harvester checks the site's own certificate with exactly these CAs before the browser goes there
(probe.py), so both reach the same verdict on the site (docs/networks.md, "Trust").
"""

from __future__ import annotations

import functools
import os
import re
import ssl
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError

PEM_CERTIFICATE = re.compile(
    rb"-----BEGIN CERTIFICATE-----\s+.*?-----END CERTIFICATE-----", re.DOTALL
)
MAX_CA_FILE_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class ClientCert:
    """A client certificate (mutual TLS) and its key; the key's passphrase, when it has one,
    comes from the keyring (never an argument)."""

    cert: Path
    key: Path | None = None  # None: the key is in the certificate's file
    passphrase: str = ""  # repr hides it: see __repr__
    why: str = ""

    def __repr__(self) -> str:
        return f"ClientCert(cert={self.cert!s}, key={self.key!s})"

    def describe(self) -> str:
        key = f", key {self.key}" if self.key else ""
        locked = " (passphrase from the keyring)" if self.passphrase else ""
        return f"{self.cert}{key}{locked}, from {self.why}"


@dataclass(frozen=True)
class Trust:
    """The CAs a site's certificate is checked against. Exactly one of *ca_file* / *ca_dir* is
    set, or neither (the system store); *insecure* checks nothing."""

    source: str  # "--ca-file", "ca_file", "SSL_CERT_FILE", "SSL_CERT_DIR", "system", "insecure"
    why: str  # where the choice came from, in words (harvest doctor shows it)
    ca_file: Path | None = None
    ca_dir: Path | None = None

    @property
    def insecure(self) -> bool:
        return self.source == "insecure"

    @property
    def hint(self) -> str:
        """What to do when a certificate is not trusted."""
        return "give its CA with ca_file or --ca-file (or --insecure for a development site)"

    def describe(self) -> str:
        if self.insecure:
            return f"none: certificates are not checked on this site's origin ({self.why})"
        if self.source == "system":
            return f"the system store ({self.why})"
        return f"{self.ca_file or self.ca_dir}, from {self.why}"

    def context(self, client: ClientCert | None = None) -> ssl.SSLContext:
        """An SSL client context for this trust (and client certificate); one per process."""
        return _context(self.source, self.ca_file, self.ca_dir, client)

    def certificates(self) -> list[bytes]:
        """Every CA certificate of this trust, DER. [] for insecure."""
        if self.insecure:
            return []
        if self.ca_file is not None:
            return read_certificates(self.ca_file, self.source)
        if self.ca_dir is not None:
            return folder_certificates(self.ca_dir)
        paths = ssl.get_default_verify_paths()
        if paths.cafile and os.path.isfile(paths.cafile):
            return read_certificates(Path(paths.cafile), "the system store")
        return folder_certificates(Path(paths.capath)) if paths.capath else []


def resolve_trust(
    flag: str = "",
    configured: str = "",
    where: str = "",
    *,
    insecure: str = "",
    environ: os._Environ[str] | dict[str, str] | None = None,
) -> Trust:
    """The trust for a site: *flag* (--ca-file), else *configured* (its ca_file, read from
    *where*), else SSL_CERT_FILE / SSL_CERT_DIR, else the system store. *insecure* names where
    an insecure setting came from ("" for none); it wins over every CA."""
    env = os.environ if environ is None else environ
    if insecure:
        return Trust("insecure", insecure)
    if flag:
        return _file_trust(flag, "--ca-file", "--ca-file")
    if configured:
        return _file_trust(configured, "ca_file", f"ca_file in {where}" if where else "ca_file")
    if env.get("SSL_CERT_FILE"):
        return _file_trust(env["SSL_CERT_FILE"], "SSL_CERT_FILE", "the SSL_CERT_FILE variable")
    if env.get("SSL_CERT_DIR"):
        folder = Path(env["SSL_CERT_DIR"].split(os.pathsep)[0]).expanduser()
        if not folder.is_dir():
            raise UsageError(f"SSL_CERT_DIR {folder} is not a folder")
        return Trust("SSL_CERT_DIR", "the SSL_CERT_DIR variable", ca_dir=folder)
    return Trust("system", "no ca_file, SSL_CERT_FILE or SSL_CERT_DIR is set")


def _file_trust(path: str, source: str, why: str) -> Trust:
    file = Path(path).expanduser()
    read_certificates(file, source)  # a missing or non-PEM file fails now, in one line
    return Trust(source, why, ca_file=file.absolute())


def read_certificates(file: Path, what: str) -> list[bytes]:
    """The certificates of a PEM file, DER; UsageError (exit 2) naming the file when it is
    missing, unreadable, or holds no PEM certificate."""
    try:
        with open(file, "rb") as stream:
            data = stream.read(MAX_CA_FILE_BYTES + 1)
    except FileNotFoundError:
        raise UsageError(f"the CA file {file} ({what}) does not exist") from None
    except IsADirectoryError:
        raise UsageError(f"the CA file {file} ({what}) is a folder: give a PEM file") from None
    except OSError as exc:
        raise UsageError(f"cannot read the CA file {file} ({what}): {exc.strerror}") from None
    if len(data) > MAX_CA_FILE_BYTES:
        raise UsageError(f"the CA file {file} ({what}) is larger than 16 MiB")
    found = []
    for block in PEM_CERTIFICATE.findall(data):
        try:
            found.append(ssl.PEM_cert_to_DER_cert(block.decode("ascii")))
        except (ValueError, UnicodeDecodeError):
            raise UsageError(f"the CA file {file} ({what}) holds a damaged certificate") from None
    if not found:
        raise UsageError(
            f"the CA file {file} ({what}) holds no PEM certificate "
            "(expected -----BEGIN CERTIFICATE-----)"
        )
    return found


def folder_certificates(folder: Path, *, recursive: bool = False) -> list[bytes]:
    """The certificates of every PEM file in *folder* (and its subfolders, *recursive*), each
    once; files that hold none are passed over."""
    found: list[bytes] = []
    try:
        paths = sorted(folder.rglob("*") if recursive else folder.iterdir())
    except OSError:
        return found
    for path in paths:
        if path.is_file():
            try:
                found.extend(read_certificates(path, str(folder)))
            except UsageError:
                continue  # a hashed folder also holds CRLs and other files
    return list(dict.fromkeys(found))


@functools.lru_cache(maxsize=32)
def _context(
    source: str, ca_file: Path | None, ca_dir: Path | None, client: ClientCert | None
) -> ssl.SSLContext:
    if source == "insecure":
        context = unverified_context()
    elif ca_file is not None or ca_dir is not None:
        try:
            context = ssl.create_default_context(
                cafile=str(ca_file) if ca_file else None, capath=str(ca_dir) if ca_dir else None
            )
        except ssl.SSLError as exc:
            raise UsageError(f"the CAs of {ca_file or ca_dir} do not load: {exc.reason}") from None
    else:
        context = ssl.create_default_context()  # the system store, as OpenSSL's tools see it
    if client is not None:
        load_client_cert(context, client)
    return context


def trusting_nothing() -> ssl.SSLContext:
    """A verifying client context without a single CA: for a plain-http site's client, which
    never speaks TLS (it follows no redirect). It costs ~1 ms where httpx's default context
    reads ~150 CAs (~80 ms a process, measured), and should TLS ever come up it refuses."""
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def unverified_context() -> ssl.SSLContext:
    """A client context that checks nothing: for an insecure site, and for reading the
    certificate a site serves to say why it was refused."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def load_client_cert(context: ssl.SSLContext, client: ClientCert) -> None:
    """Give *context* the client certificate; UsageError naming the file when it does not load
    (a wrong or missing passphrase included), never the passphrase."""
    try:
        context.load_cert_chain(
            str(client.cert),
            str(client.key) if client.key else None,
            password=client.passphrase.encode() if client.passphrase else b"",
        )
    except FileNotFoundError as exc:
        raise UsageError(f"the client certificate file {exc.filename} does not exist") from None
    except ssl.SSLError as exc:
        needs = "; is its passphrase in the keyring? (harvest site passphrase)"
        hint = needs if "bad decrypt" in str(exc).lower() or "PEM" in str(exc) else ""
        raise UsageError(
            f"the client certificate {client.cert} does not load ({exc.reason}){hint}"
        ) from None
