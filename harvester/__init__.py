"""harvester: log in to Totara through a real browser and hand the session to scripts.

Public API (imports are lazy so that `harvest env` stays fast):
    Session, SessionStore, TotaraClient, TotaraAuth (httpx), TotaraRequestsAuth (requests),
    login (PasswordSource), errors (HarvestError and its subclasses),
    SiteProfile, BrowserOptions, LoginStep, load_config (site configuration).

The package by stage, each using only the stages before it (the order is STAGES, below, and
tests/test_layout.py holds every import to it): the foundation (`errors`, `redact`, `inputs`,
`version`, `deadlines`); `network/` (trust, proxy and client certificate: how a site is
reached); `site/` (a site's address, HTTP rules, ajax answers); `operations/` (Totara's
operations as data, and the checks a request passes); `store/` (the Session and the keyring);
`settings/` (the config file, --site/--user); `logins/` (the browser login and its proof);
`agent/` (a warm browser for every login); `upkeep/` (status, refresh, schedule, logout);
`handoff/` (env, exec, cookie files, auth objects, the client, request, open, curl, the
developer API); `proxy/` (the session on a loopback endpoint); `devsite/` and `testing/`;
`doctor`, `demo`; `cli/`. Contract and protocol facts: docs/.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .version import __version__

# The stages, lowest first: a module may import its own stage and those before it, never one
# after it (tests/test_layout.py). Names are the top-level modules and subpackages of harvester.
STAGES: tuple[tuple[str, ...], ...] = (
    ("errors", "redact", "inputs", "version", "deadlines"),
    ("network",),
    ("site",),
    ("operations",),
    ("store",),
    ("settings",),
    ("logins",),
    ("agent",),
    ("upkeep",),
    ("handoff",),
    ("proxy",),
    ("devsite", "testing"),
    ("doctor", "demo"),
    ("cli", "__main__", "__init__"),
)

if TYPE_CHECKING:
    from .errors import (
        BrowserUnavailable,
        GraphQLError,
        HarvestError,
        InvalidSesskey,
        KeyringUnavailable,
        LoginFlowError,
        LoginRefused,
        NoSession,
        SessionExpired,
        SiteMaintenance,
        SiteTrouble,
        SiteUnreachable,
        UsageError,
    )
    from .handoff.auth import TotaraAuth
    from .handoff.client import TotaraClient
    from .handoff.requests_auth import TotaraRequestsAuth
    from .logins.flow import PasswordSource, login
    from .settings.config import BrowserOptions, LoginStep, SiteProfile, load_config
    from .store.session import Session
    from .store.sessions import SessionStore

_LAZY = {
    "TotaraAuth": "handoff.auth",
    "TotaraRequestsAuth": "handoff.requests_auth",
    "TotaraClient": "handoff.client",
    "SiteProfile": "settings.config",
    "BrowserOptions": "settings.config",
    "LoginStep": "settings.config",
    "load_config": "settings.config",
    "GraphQLError": "errors",
    "SessionExpired": "errors",
    "InvalidSesskey": "errors",
    "SiteMaintenance": "errors",
    "Session": "store.session",
    "SessionStore": "store.sessions",
    "login": "logins.flow",
    "PasswordSource": "logins.flow",
    "HarvestError": "errors",
    "UsageError": "errors",
    "LoginRefused": "errors",
    "NoSession": "errors",
    "SiteTrouble": "errors",
    "SiteUnreachable": "errors",
    "KeyringUnavailable": "errors",
    "LoginFlowError": "errors",
    "BrowserUnavailable": "errors",
}

__all__ = [
    "BrowserOptions",
    "BrowserUnavailable",
    "GraphQLError",
    "HarvestError",
    "InvalidSesskey",
    "KeyringUnavailable",
    "LoginFlowError",
    "LoginRefused",
    "LoginStep",
    "NoSession",
    "PasswordSource",
    "Session",
    "SessionExpired",
    "SessionStore",
    "SiteMaintenance",
    "SiteProfile",
    "SiteTrouble",
    "SiteUnreachable",
    "TotaraAuth",
    "TotaraClient",
    "TotaraRequestsAuth",
    "UsageError",
    "__version__",
    "load_config",
    "login",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module 'harvester' has no attribute {name!r}")
