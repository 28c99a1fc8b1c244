"""Does this page show a logged-in user? The one home of that rule, for the browser's pages
and for pages fetched over plain HTTP alike (docs/totara-protocol.md, "The sesskey").

A logged-in page carries the sesskey (`M.cfg.sesskey`) and no `notloggedin` body class, and is
not a required-action page (forced password change, incomplete profile, site policy), where a
session exists but is not usable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ..errors import one_line

SESSKEY_PATTERN = r'"sesskey":"([^"]+)"'
_SESSKEY_RE = re.compile(SESSKEY_PATTERN)
_BODY_RE = re.compile(r"<body[^>]*\bclass=\"([^\"]*)\"", re.IGNORECASE)
REQUIRED_ACTIONS = {
    "/login/change_password.php": "the site demands a password change",
    "/user/edit.php": "the site demands that the user complete their profile",
    "/admin/tool/sitepolicy/": "the site demands that the user accept the site policy",
}

# The same reading inside a browser page, in one round trip: every call into the browser
# costs milliseconds on a busy machine. Its result feeds PageState.from_probe.
PAGE_PROBE = (
    """(errorSelector) => {
    const error = errorSelector ? document.querySelector(errorSelector) : null;
    let sesskey = (window.M && M.cfg && M.cfg.sesskey) || null;
    if (!sesskey) {
        const found = document.documentElement.innerHTML.match(/"""
    + SESSKEY_PATTERN.replace("/", "\\/")
    + """/);
        sesskey = found ? found[1] : null;
    }
    return {
        error: error ? error.innerText : null,
        bodyClass: document.body ? document.body.className : '',
        sesskey: sesskey,
        ready: document.readyState !== 'loading',
    };
}"""
)


@dataclass(frozen=True)
class PageState:
    """What a page says about who is logged in. `error` is the text of the login error
    element, when one shows; `ready` is False while the document is still loading."""

    sesskey: str | None = field(repr=False)
    body_classes: tuple[str, ...]
    error: str | None = None
    ready: bool = True

    @classmethod
    def from_html(cls, html: str) -> PageState:
        found = _SESSKEY_RE.search(html)
        body = _BODY_RE.search(html)
        return cls(
            sesskey=found.group(1) if found else None,
            body_classes=tuple(body.group(1).split()) if body else (),
        )

    @classmethod
    def from_probe(cls, probe: dict[str, Any]) -> PageState:
        """From PAGE_PROBE's answer."""
        error = probe.get("error")
        return cls(
            sesskey=str(probe["sesskey"]) if probe.get("sesskey") else None,
            body_classes=tuple(str(probe.get("bodyClass") or "").split()),
            error=None if error is None else one_line(error),
            ready=bool(probe.get("ready", True)),
        )

    @property
    def not_logged_in(self) -> bool:
        return "notloggedin" in self.body_classes

    @property
    def shows_user(self) -> bool:
        """A sesskey and no `notloggedin`: a user is logged in on this page."""
        return bool(self.sesskey) and not self.not_logged_in


def required_action(url: str, wwwroot: str) -> str | None:
    """What the site demands when *url* is one of its required-action pages, else None."""
    path = urlsplit(url).path
    base = urlsplit(wwwroot).path
    for prefix, what in REQUIRED_ACTIONS.items():
        if path.startswith(base + prefix):
            return what
    return None


def logged_in_reason(state: PageState, url: str, wwwroot: str, sesskey: str | None) -> str | None:
    """None when *url* (showing *state*) is a logged-in page of the site — with *sesskey* on it,
    when one is given — else why not, in words."""
    what = required_action(url, wwwroot)
    if what:
        return what
    if state.not_logged_in:
        return "not logged in (the page says notloggedin)"
    if not state.sesskey:
        return "the page carries no M.cfg.sesskey"
    if sesskey is not None and state.sesskey != sesskey:
        return "the sesskey does not match the one the page carries"
    return None
