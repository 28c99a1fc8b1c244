"""Making Chromium trust what the user trusts, and reach a site the way the HTTP client does.

Chromium on Linux reads neither the system store, SSL_CERT_FILE nor SSL_CERT_DIR: it has its own
store of public roots and, in addition, trusts the CAs of an NSS database in $HOME/.pki/nssdb.
So the browser harvester starts gets a HOME of its own, inside the run's private temporary
folder, whose NSS database holds the user's CAs that are not public roots (certifi's Mozilla
list, which the browser's own store already covers); `certutil` (Debian: libnss3-tools) writes
it. The folder goes with the run. An identity provider's host under the same private CA is then
trusted as well; nothing is ever trusted wholesale. For an insecure site, the browser ignores
errors for the one public key that site served (its SPKI pin), not for any other origin.

Client certificates are presented by Playwright's driver, which then checks the site's
certificate itself, with Node's roots and NODE_EXTRA_CA_CERTS: the same CAs go there.
docs/networks.md has the reasons at length.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import BrowserUnavailable
from .reach import Network, spki_pin
from .trust import Trust, folder_certificates, read_certificates

PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


@dataclass(frozen=True)
class BrowserNetwork:
    """What a browser harvester starts must be given: CAs to trust beyond its own public roots
    (DER), public keys whose certificate errors it may ignore (insecure sites' pins), and
    whether Playwright's driver checks certificates for client-certificate sites."""

    anchors: tuple[bytes, ...] = ()
    pins: tuple[str, ...] = ()
    client_certs: bool = False

    def launch_args(self) -> list[str]:
        if not self.pins:
            return []
        return [f"--ignore-certificate-errors-spki-list={','.join(self.pins)}"]

    def browser_env(self, folder: Path) -> dict[str, str | float | bool]:
        """The browser's environment: ours without the proxy variables (the contexts carry the
        proxy harvester chose), and a HOME holding the NSS database when there are CAs to
        add. Written under *folder* (the run's private temporary folder)."""
        env: dict[str, str | float | bool] = {
            k: v for k, v in os.environ.items() if k.lower() not in PROXY_VARIABLES
        }
        env["TMPDIR"] = str(folder)  # the browser's own temporary files, in the run's folder
        if self.anchors:
            # A home per set of CAs: the agent runs a browser per set in one folder, and NSS
            # reads its database while it runs (one replaced under it trusts the wrong CAs).
            home = folder / f"home-{anchors_digest(self.anchors)[:16]}"
            write_nss_database(home / ".pki" / "nssdb", self.anchors)
            env["HOME"] = str(home)
        return env

    @contextlib.contextmanager
    def driver_env(self, folder: Path) -> Iterator[None]:
        """While Playwright's driver starts (it reads its environment then, once): TMPDIR is
        the run's private folder (the browser's profile goes there), and NODE_EXTRA_CA_CERTS
        names our CAs when a client certificate is shown (the driver then checks the site's
        certificate). The process's own environment is as it was afterwards."""
        wanted = {"TMPDIR": str(folder)}
        if self.client_certs and self.anchors:
            bundle = folder / "driver-cas.pem"
            bundle.write_text("".join(_pem(der) for der in self.anchors), encoding="ascii")
            wanted["NODE_EXTRA_CA_CERTS"] = str(bundle)
        before = {name: os.environ.get(name) for name in wanted}
        os.environ.update(wanted)
        try:
            yield
        finally:
            for name, value in before.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


def browser_network(
    networks: Iterable[Network], timeout: float, leaves: dict[str, bytes] | None = None
) -> BrowserNetwork:
    """The browser's part of these sites' networks. An insecure https site's certificate is
    pinned: the one in *leaves* (what the probe saw), else fetched now (probe.fetch_leaf)."""
    from .probe import fetch_leaf

    leaves = dict(leaves or {})
    anchors: dict[bytes, None] = {}
    pins: list[str] = []
    client_certs = False
    for network in networks:
        if not network.tls:
            continue
        client_certs = client_certs or network.client_cert is not None
        if network.trust.insecure:
            if network.origin not in leaves:
                leaves[network.origin] = fetch_leaf(network, timeout)
            pins.append(spki_pin(leaves[network.origin]))
            continue
        anchors.update(dict.fromkeys(browser_anchors(network.trust)))
    return BrowserNetwork(tuple(anchors), tuple(dict.fromkeys(pins)), client_certs)


# Where the system store's local additions are kept, by distribution (update-ca-certificates,
# update-ca-trust, trust anchor): what is there is what the browser lacks.
LOCAL_ANCHORS = (
    Path("/usr/local/share/ca-certificates"),
    Path("/etc/pki/ca-trust/source/anchors"),
    Path("/etc/ca-certificates/trust-source/anchors"),
)
# A CA file this small is added whole (a public root in it is harmless); a larger one is a
# bundle, and only what is not a public root is added.
SMALL_CA_FILE = 16


def browser_anchors(trust: Trust) -> list[bytes]:
    """The CAs of *trust* that the browser's own store does not hold: the system store's local
    additions, a small CA file whole, a bundle less Mozilla's public roots."""
    if trust.insecure:
        return []
    if trust.source == "system" or _is_system_bundle(trust.ca_file):
        local = [folder for folder in LOCAL_ANCHORS if folder.is_dir()]
        if local:
            return [der for folder in local for der in folder_certificates(folder, recursive=True)]
    certificates = trust.certificates()
    if len(certificates) <= SMALL_CA_FILE:
        return certificates
    public = public_roots()
    return [der for der in certificates if der not in public]


def _is_system_bundle(path: Path | None) -> bool:
    import ssl

    system = ssl.get_default_verify_paths().openssl_cafile
    return path is not None and os.path.realpath(path) == os.path.realpath(system)


# The distribution's copy of Mozilla's roots (Debian, Ubuntu); what the system store holds
# beyond it was added locally (update-ca-certificates), and that is what the browser lacks.
DISTRIBUTION_ROOTS = Path("/usr/share/ca-certificates/mozilla")


@functools.lru_cache(maxsize=1)
def public_roots() -> frozenset[bytes]:
    """Mozilla's public roots, as certifi and the distribution ship them: the browser's own
    store already covers them, so they are never added (nor re-added once Mozilla dropped
    one)."""
    found: set[bytes] = set()
    try:
        import certifi

        found.update(read_certificates(Path(certifi.where()), "certifi"))
    except Exception:  # no certifi: the distribution's list, if any, stands alone
        pass
    if DISTRIBUTION_ROOTS.is_dir():
        found.update(folder_certificates(DISTRIBUTION_ROOTS))
    return frozenset(found)


def anchors_digest(anchors: Sequence[bytes]) -> str:
    """A name for a set of CAs (hex): its NSS database's, in the cache and in a browser's home."""
    return hashlib.sha256(b"".join(hashlib.sha256(der).digest() for der in anchors)).hexdigest()


def write_nss_database(folder: Path, anchors: Sequence[bytes]) -> None:
    """An NSS database at *folder* that trusts each of *anchors* to issue server certificates.
    Made once per set of CAs in the user's cache folder (certutil costs ~20 ms a CA), and
    copied from there: it holds only public certificates, never a secret."""
    from platformdirs import user_cache_path

    cached = user_cache_path("harvester") / "nssdb" / anchors_digest(anchors)[:32]
    try:
        if not (cached / "cert9.db").is_file():
            cached.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=cached.parent) as building:
                _certutil_database(Path(building), anchors)
                with contextlib.suppress(OSError):  # another process made it meanwhile
                    os.rename(building, cached)
                    os.mkdir(building)  # for TemporaryDirectory's cleanup
        shutil.copytree(cached, folder, dirs_exist_ok=True)
    except OSError:  # no cache folder to write: made in place, this once
        folder.mkdir(parents=True, exist_ok=True)
        _certutil_database(folder, anchors)


def _certutil_database(folder: Path, anchors: Sequence[bytes]) -> None:
    certutil = shutil.which("certutil")
    if certutil is None:
        raise BrowserUnavailable(
            "the browser must be told about your CAs, and that needs NSS's certutil: install it "
            "(Debian/Ubuntu: apt-get install libnss3-tools)"
        )
    database = f"sql:{folder}"
    _certutil([certutil, "-N", "-d", database, "--empty-password"])
    for number, der in enumerate(anchors):
        path = folder / f"ca-{number}.der"
        path.write_bytes(der)
        _certutil(
            [
                certutil,
                "-A",
                "-d",
                database,
                "-n",
                f"harvester-{number}",
                "-t",
                "C,,",
                "-i",
                str(path),
            ]
        )
        path.unlink()


def _certutil(command: list[str]) -> None:
    try:
        subprocess.run(command, check=True, capture_output=True, timeout=30)
    except subprocess.CalledProcessError as exc:
        said = exc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise BrowserUnavailable(
            f"certutil failed to write the browser's CAs: {said[-1] if said else exc.returncode}"
        ) from None
    except subprocess.TimeoutExpired:
        raise BrowserUnavailable("certutil did not finish writing the browser's CAs") from None


def _pem(der: bytes) -> str:
    import ssl

    return ssl.DER_cert_to_PEM_cert(der)
