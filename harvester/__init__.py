"""harvester: log in to Totara through a real browser and hand the session to scripts.

Public API (imports are lazy so that `harvest env` stays fast):
    Session, SessionStore, TotaraClient, login, errors (HarvestError and its subclasses).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .client import TotaraClient
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
    "BrowserUnavailable",
    "GraphQLError",
    "HarvestError",
    "InvalidSesskey",
    "KeyringUnavailable",
    "LoginFlowError",
    "LoginRefused",
    "NoSession",
    "Session",
    "SessionExpired",
    "SessionStore",
    "SiteMaintenance",
    "SiteUnreachable",
    "TotaraClient",
    "UsageError",
    "__version__",
    "login",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module 'harvester' has no attribute {name!r}")
