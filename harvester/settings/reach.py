"""A site's Network (network/): its configured settings, the command line's, and the
environment's, resolved once per site and process.

The command line's --ca-file, --insecure and --proxy apply to every site a command reaches; the
CLI sets them once (`use_command_line`), as the environment's variables are set once. Library
callers configure a site in the config file, or pass a SiteProfile with its own NetworkOptions.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..errors import UsageError
from ..network.proxies import resolve_proxy
from ..network.reach import Network
from ..network.trust import ClientCert, Trust, resolve_trust
from ..site.wwwroot import Wwwroot
from .config import NetworkOptions, SiteProfile, load_config

log = logging.getLogger(__name__)
PASSPHRASE_SERVICE = "harvester:client-key"
_command_line = NetworkOptions()
_resolved: dict[tuple[SiteProfile, NetworkOptions], Network] = {}
_warned: set[str] = set()


def use_command_line(options: NetworkOptions) -> None:
    """The command line's network options, over every site's configured ones."""
    global _command_line
    _command_line = options
    _resolved.clear()


def command_line_given() -> bool:
    """Whether the command line set any network option (use_command_line)."""
    return _command_line != NetworkOptions()


def forget_resolved() -> None:
    """Resolve every site again, and announce an insecure one again, as a new process would
    (the agent, for each whole login it does for a caller)."""
    _resolved.clear()
    _warned.clear()


def network_for(profile: SiteProfile) -> Network:
    """How *profile*'s site is reached (cached for the process). Announces an insecure site
    with one warning line."""
    key = (profile, _command_line)
    network = _resolved.get(key)
    if network is None:
        network = _resolve(profile, _command_line)
        _resolved[key] = network
    if network.warning and network.origin not in _warned:
        _warned.add(network.origin)
        log.warning(network.warning.removeprefix("warning: "))
    return network


def network_for_site(wwwroot: Wwwroot | str) -> Network:
    """The Network of a site by its address: its configured profile, else the defaults."""
    return network_for(load_config().for_wwwroot(Wwwroot(wwwroot)))


def _resolve(profile: SiteProfile, flags: NetworkOptions) -> Network:
    origin = profile.wwwroot.origin
    where = f"[sites.{profile.alias}]" if profile.alias else ""
    configured = profile.network
    insecure = ""
    if flags.insecure:
        insecure = "--insecure"
    elif configured.insecure:
        insecure = f"insecure = true in {where}" if where else "insecure = true"
    if origin.scheme == "https":
        trust = resolve_trust(flags.ca_file, configured.ca_file, where, insecure=insecure)
    else:  # no certificate to check: a CA file (or a broken SSL_CERT_FILE) does not matter
        trust = Trust("system", "plain http: no certificate")
    proxy = resolve_proxy(
        origin.scheme,
        origin.host,
        origin.port,
        flag=flags.proxy,
        configured=configured.proxy,
        where=where,
    )
    client = _client_cert(flags if flags.client_cert else configured, where or "--client-cert")
    if client is not None and trust.insecure:
        raise UsageError(
            f"{profile.name}: a client certificate cannot be shown to a site whose certificate "
            "is not checked (insecure): give the site's CA instead (ca_file or --ca-file)"
        )
    if proxy is not None:
        from .. import redact

        redact.register(proxy.password)
    return Network(origin.scheme, origin.host, origin.port, trust, proxy, client)


def _client_cert(options: NetworkOptions, where: str) -> ClientCert | None:
    if not options.client_cert:
        if options.client_key:
            raise UsageError(f"client_key without client_cert in {where}")
        return None
    cert = Path(options.client_cert).expanduser().absolute()
    key = Path(options.client_key).expanduser().absolute() if options.client_key else None
    for path in (cert, key):
        if path is not None and not path.is_file():
            raise UsageError(f"the client certificate file {path} ({where}) does not exist")
    passphrase = load_passphrase(key or cert)
    return ClientCert(cert, key, passphrase, where)


def _client_key(profile: SiteProfile) -> Path:
    options = profile.network
    if not options.client_cert:
        raise UsageError(f"{profile.name} has no client_cert: add one with harvest site add")
    return Path(options.client_key or options.client_cert).expanduser().absolute()


def save_passphrase(profile: SiteProfile, secret: str) -> Path:
    """Keep the passphrase of *profile*'s client key in the keyring; the key's path."""
    from ..store.keyring_access import set_secret

    if not secret:
        raise UsageError("the passphrase is empty")
    key = _client_key(profile)
    set_secret(PASSPHRASE_SERVICE, str(key), secret)
    return key


def forget_passphrase(profile: SiteProfile) -> None:
    from ..store.keyring_access import delete_secret

    delete_secret(PASSPHRASE_SERVICE, str(_client_key(profile)))


def load_passphrase(key: Path) -> str:
    """The passphrase saved for a client key (harvest site passphrase), or ""."""
    from ..store.keyring_access import get_secret

    secret = get_secret(PASSPHRASE_SERVICE, str(key))
    if secret:
        from .. import redact

        redact.register(secret)
    return secret or ""
