"""harvester: log in to Totara through a real browser and hand the session to scripts.

Public API (imports are lazy so that `harvest env` stays fast):
    Session, SessionStore, TotaraClient, login, errors (HarvestError and its subclasses),
    SiteProfile, BrowserOptions, LoginStep, load_config (site configuration).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .client import TotaraClient
    from .config import BrowserOptions, LoginStep, SiteProfile, load_config
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
        SiteUnreachable,
        UsageError,
    )
    from .login_flow import login
    from .session import Session
    from .store import SessionStore

_LAZY = {
    "TotaraClient": "client",
    "SiteProfile": "config",
    "BrowserOptions": "config",
    "LoginStep": "config",
    "load_config": "config",
    "GraphQLError": "errors",
    "SessionExpired": "errors",
    "InvalidSesskey": "errors",
    "SiteMaintenance": "errors",
    "Session": "session",
    "SessionStore": "store",
    "login": "login_flow",
    "HarvestError": "errors",
    "UsageError": "errors",
    "LoginRefused": "errors",
    "NoSession": "errors",
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
    "Session",
    "SessionExpired",
    "SessionStore",
    "SiteMaintenance",
    "SiteProfile",
    "SiteUnreachable",
    "TotaraClient",
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
