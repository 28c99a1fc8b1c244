"""What the page a login ends on means: the captured cookie candidates and sesskey, a refused
login, a required-action page; and Playwright's errors as harvester's."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ...errors import LoginFlowError, LoginRefused, SiteUnreachable, UsageError, first_line
from ...settings.config import SiteProfile
from ...site.login_state import PageState, required_action
from ...site.wwwroot import Wwwroot, origin, without_query
from ...store.session import CookieAttributes, Session, header_safe

if TYPE_CHECKING:
    from ...network.reach import Network

INVALID_LOGIN = "Invalid login"
SESSION_ERROR = "server error that affects your login session"


@dataclass(frozen=True)
class CapturedLogin:
    """What the browser saw once the login finished. `cookies` are the candidate session
    cookies (name, value, attributes) and `sesskeys` the candidate sesskeys, each most likely
    first; the site's answer decides which pair is real (logins/flow.py, sign_in), not the
    order: a stale or decoy cookie can match the name too, and a theme or plugin can put a
    "sesskey" of its own in the page before M.cfg's."""

    cookies: tuple[tuple[str, str, CookieAttributes], ...] = field(repr=False)
    sesskeys: tuple[str, ...] = field(repr=False)
    landing_url: str

    def sessions_of(self, profile: SiteProfile, user: str, obtained_at: float) -> list[Session]:
        """The candidate sessions of *user*, their secrets registered to be masked."""
        from ... import redact

        redact.register(*self.sesskeys, *(value for _, value, _ in self.cookies))
        return [
            Session(
                wwwroot=profile.wwwroot,
                user=user,
                cookie_name=name,
                cookie_value=value,
                sesskey=sesskey,
                obtained_at=obtained_at,
                cookie_attributes=attributes,
            )
            for name, value, attributes in self.cookies
            for sesskey in self.sesskeys
        ]


def login_ended(state: PageState, url: str, profile: SiteProfile) -> bool:
    """A page of the site that ends a login: a logged-in page, or one with something to report
    (a login error, a required-action page). The login page before anyone acts is neither."""
    return (
        state.error is not None or bool(required_action(url, profile.wwwroot)) or (state.shows_user)
    )


def read_outcome(
    landing: str,
    state: PageState,
    cookies: Sequence[Any],
    profile: SiteProfile,
    user: str,
) -> CapturedLogin:
    landing_shown = without_query(landing)
    if state.error is not None:
        text = state.error
        if SESSION_ERROR in text:
            raise LoginFlowError(
                f"the site rejected the login form itself ({text}); it may need a newer harvester"
            )
        raise LoginRefused(
            f"the site refused the login for {user}: {text or INVALID_LOGIN} "
            "(wrong password, unknown user or locked account)"
        )
    what = required_action(landing, profile.wwwroot)
    if what:
        raise LoginFlowError(
            f"{what} ({landing_shown}): log in once in a browser and finish that page, then "
            "retry; nothing was stored"
        )
    if state.not_logged_in:
        raise LoginFlowError(f"after the login form the page {landing_shown} still shows no user")
    session_cookies = [
        c
        for c in cookies
        if profile.cookie_matches(str(c.get("name", ""))) and header_safe(str(c.get("value", "")))
    ]
    if not session_cookies:
        raise LoginFlowError(
            f"the login finished on {landing_shown} but the site set no {profile.cookie_label} "
            "cookie"
        )
    # Several matches (a stale cookie of another suffix, a decoy): the most specific path
    # first, then the ones that change at login; the site's answer picks (logins/flow.py, sign_in).
    ranked = sorted(session_cookies, key=lambda c: -len(str(c.get("path", ""))))
    if not state.sesskeys:
        raise LoginFlowError(f"the landing page {landing_shown} carries no M.cfg.sesskey")
    sesskeys = tuple(key for key in state.sesskeys if header_safe(key))
    if not sesskeys:
        raise LoginFlowError(
            f"the landing page {landing_shown} carries a sesskey that is not plain ASCII "
            "(Totara's are 10 letters and digits): not a Totara page harvester can use"
        )
    candidates = tuple(
        (str(c["name"]), str(c["value"]), CookieAttributes.from_browser(c)) for c in ranked
    )
    return CapturedLogin(candidates, sesskeys, landing)


PROXY_FAILURES = (
    "ERR_PROXY_CONNECTION_FAILED",
    "ERR_TUNNEL_CONNECTION_FAILED",
    "ERR_PROXY_AUTH_REQUESTED",
    "ERR_PROXY_AUTH_UNSUPPORTED",
    "ERR_PROXY_CERTIFICATE_INVALID",
    "ERR_NO_SUPPORTED_PROXIES",
    "ERR_MANDATORY_PROXY_CONFIGURATION_FAILED",
)
CLIENT_CERT_FAILURES = (
    "ERR_BAD_SSL_CLIENT_AUTH_CERT",
    "ERR_SSL_CLIENT_AUTH_CERT_NEEDED",
    "ERR_SSL_CLIENT_AUTH_SIGNATURE_FAILED",
)


# How a TLS 1.3 site's refusal of a missing client certificate shows in the browser.
CLOSED_AFTER_HANDSHAKE = (
    "ERR_SOCKET_NOT_CONNECTED",
    "ERR_CONNECTION_CLOSED",
    "ERR_CONNECTION_RESET",
    "ERR_SSL_PROTOCOL_ERROR",
)


def _wants_certificate(network: Network | None) -> bool:
    from ...network.probe import asks_for_client_certificate

    if network is None or not network.tls or network.client_cert is not None:
        return False
    return asks_for_client_certificate(network, 5.0)


def translate(
    exc: Exception,
    wwwroot: str,
    timeout: float,
    during: str = "the login",
    *,
    network: Network | None = None,
) -> Exception:
    """A Playwright error during a login (or *during* something else), as the error of ours
    that says what happened. *network* names the proxy when one failed."""
    text = str(exc)
    for marker in PROXY_FAILURES:
        if marker in text:
            proxy = network.proxy if network is not None else None
            named = f"the proxy {proxy.shown} ({proxy.why})" if proxy else "the proxy"
            return SiteUnreachable(f"{named} failed on the way to {wwwroot} ({marker})")
    for marker in CLIENT_CERT_FAILURES + CLOSED_AFTER_HANDSHAKE:
        if marker in text and (marker in CLIENT_CERT_FAILURES or _wants_certificate(network)):
            given = network is not None and network.client_cert is not None
            what = (
                "does not accept the client certificate given"
                if given
                else ("asks for a client certificate")
            )
            return SiteUnreachable(
                f"{wwwroot} {what} ({marker}): set client_cert (and client_key) for the site, "
                "from a CA it accepts"
            )
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    if isinstance(exc, PlaywrightTimeout):
        return SiteUnreachable(f"{wwwroot} did not answer within {timeout:g} s (--timeout)")
    for marker in (
        "ERR_CONNECTION_REFUSED",
        "ERR_NAME_NOT_RESOLVED",
        "ERR_ADDRESS_UNREACHABLE",
        "ERR_CONNECTION_RESET",
        "ERR_CONNECTION_CLOSED",
        "ERR_INTERNET_DISCONNECTED",
        "ERR_EMPTY_RESPONSE",
        "ERR_TIMED_OUT",
        "ERR_CONNECTION_TIMED_OUT",
    ):
        if marker in text:
            return SiteUnreachable(f"cannot reach {wwwroot}: {marker}")
    if "ERR_UNSAFE_PORT" in text:
        return UsageError(f"Chromium refuses to connect to the port of {wwwroot} (ERR_UNSAFE_PORT)")
    if "ERR_CERT_" in text:
        found = re.search(r"ERR_CERT_[A-Z_]+", text)
        code = found.group(0) if found else "ERR_CERT"
        page = re.search(r" at (https://\S+)", text)  # the page whose certificate was refused
        where = page and origin(page.group(1))
        host = str(where) if where else wwwroot
        other = "" if host == str(Wwwroot(wwwroot).origin) else f" (on the way to {wwwroot})"
        return SiteUnreachable(
            f"the TLS certificate of {host}{other} does not verify ({code}); harvest doctor "
            "says why"
        )
    return LoginFlowError(f"the browser failed during {during}: {first_line(exc)}")
