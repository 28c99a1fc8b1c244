"""harvester: log in to Totara through a real browser and hand the session to scripts.

Public API (imports are lazy so that `harvest env` stays fast):
    Session, SessionStore, TotaraClient, TotaraAuth (httpx), TotaraRequestsAuth (requests),
    login (PasswordSource), errors (HarvestError and its subclasses),
    SiteProfile, BrowserOptions, LoginStep, load_config (site configuration).

A map of the package, in the order a session flows through it. `config.py` knows the sites
(aliases, cookie names, login steps, browser; `config_file.py` edits the file) and `targets.py`
turns --site/--user into a site and a user. `login_flow.py` logs a user in: `browser/` starts a
browser (`launch.py`) in a private folder (`processes.py`) on its own event loop (`runner.py`) and
drives Totara's pages (`login_pages.py`); `verify.py` proves the captured pair outside the browser;
both decide "is this a logged-in page" through `login_state.py`. The result is a `Session`
(`session.py`, with the cookie's attributes), kept by `store.py` in the OS keyring
(`keyring_access.py`, every call with a deadline) plus a non-secret index. It is handed out by
`export.py` (env, exec; `cookie_files.py` writes cookies.txt and Playwright storage states),
`open_window.py` (a logged-in window), `request.py` and `client.py` (ajax.php, over
`site_http.py`, the one home of HTTP rules; `wwwroot.py` names sites and their URLs).
`auth.py` attaches and renews a session, for the client and for people's own httpx clients
(`requests_auth.py` for requests). `status.py` and `logout.py` look at and end sessions;
`refresh.py` renews dead ones (many users, one browser) and `schedule.py` runs it periodically.
`errors.py` is the one error tree with the exit codes; `redact.py` masks secrets in anything
printed. `cli/` only parses and prints; `devsite/` is the bundled Totara-compatible site.
Contract and protocol facts: docs/.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

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
