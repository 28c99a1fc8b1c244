"""Does this page show a logged-in user? The one home of that rule, for the browser's pages
and for pages fetched over plain HTTP alike (docs/totara-protocol.md, "The sesskey").

A logged-in page carries the sesskey (`M.cfg.sesskey`) and no `notloggedin` body class, and is
not a required-action page (forced password change, incomplete profile, site policy), where a
session exists but is not usable.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import one_line
from .wwwroot import Wwwroot

SESSKEY_PATTERN = r'"sesskey":"([^"]+)"'
_SESSKEY_RE = re.compile(SESSKEY_PATTERN)
_CFG_RE = re.compile(r"M\.cfg\s*=\s*\{")
# A page may carry decoys (a theme's comment, a cached fragment, a plugin's script); each
# candidate costs the site one verification, so an untrusted page offers at most this many.
MAX_SESSKEYS = 4
_BODY_RE = re.compile(r"<body[^>]*\bclass=\"([^\"]*)\"", re.IGNORECASE)
REQUIRED_ACTIONS = {
    "/login/change_password.php": "the site demands a password change",
    "/user/edit.php": "the site demands that the user complete their profile",
    "/admin/tool/sitepolicy/": "the site demands that the user accept the site policy",
}

# The same reading inside a browser page, in one round trip: every call into the browser
# costs milliseconds on a busy machine. Its result feeds PageState.from_probe. `live` is
# M.cfg.sesskey where the page's scripts ran; `found` every "sesskey":"…" of the document with
# its offset, and `cfgAt` where `M.cfg = {` stands (lean pages run no script).
PAGE_PROBE = (
    """(errorSelector) => {
    const error = errorSelector ? document.querySelector(errorSelector) : null;
    const live = (window.M && M.cfg && typeof M.cfg.sesskey === 'string') ? M.cfg.sesskey : null;
    const html = document.documentElement.innerHTML;
    const found = [];
    for (const match of html.matchAll(/"""
    + SESSKEY_PATTERN.replace("/", "\\/")
    + """/g)) {
        found.push([match.index, match[1]]);
        if (found.length >= 64) break;
    }
    return {
        error: error ? error.innerText : null,
        bodyClass: document.body ? document.body.className : '',
        live: live,
        found: found,
        cfgAt: html.search(/M\\.cfg\\s*=\\s*\\{/),
        ready: document.readyState !== 'loading',
    };
}"""
)


def ranked_sesskeys(
    found: list[tuple[int, str]], cfg_at: int, live: str | None = None
) -> tuple[str, ...]:
    """The sesskey candidates of a page, most likely first: M.cfg's own as the running page
    sees it (*live*), then the first one inside the `M.cfg = {` literal at *cfg_at*, then the
    others in document order; at most MAX_SESSKEYS. The site's answer decides (logins/flow.py)."""
    ordered = [live] if live else []
    if cfg_at >= 0:
        ordered.extend([value for at, value in found if at > cfg_at][:1])
    ordered.extend(value for _, value in found)
    return tuple(dict.fromkeys(ordered))[:MAX_SESSKEYS]


@dataclass(frozen=True)
class PageState:
    """What a page says about who is logged in. `error` is the text of the login error
    element, when one shows; `ready` is False while the document is still loading."""

    sesskeys: tuple[str, ...] = field(repr=False)  # candidates, M.cfg's own first
    body_classes: tuple[str, ...]
    error: str | None = None
    ready: bool = True

    @classmethod
    def from_html(cls, html: str) -> PageState:
        matches = itertools.islice(_SESSKEY_RE.finditer(html), 64)
        found = [(m.start(), m.group(1)) for m in matches]
        cfg = _CFG_RE.search(html)
        body = _BODY_RE.search(html)
        return cls(
            sesskeys=ranked_sesskeys(found, cfg.start() if cfg else -1),
            body_classes=tuple(body.group(1).split()) if body else (),
        )

    @classmethod
    def from_probe(cls, probe: dict[str, Any]) -> PageState:
        """From PAGE_PROBE's answer."""
        error = probe.get("error")
        found = [
            (int(item[0]), str(item[1]))
            for item in probe.get("found") or []
            if isinstance(item, list) and len(item) == 2
        ]
        live = probe.get("live")
        return cls(
            sesskeys=ranked_sesskeys(
                found, int(probe.get("cfgAt", -1)), str(live) if live else None
            ),
            body_classes=tuple(str(probe.get("bodyClass") or "").split()),
            error=None if error is None else one_line(error),
            ready=bool(probe.get("ready", True)),
        )

    @property
    def sesskey(self) -> str | None:
        """The most likely sesskey: M.cfg's own."""
        return self.sesskeys[0] if self.sesskeys else None

    @property
    def not_logged_in(self) -> bool:
        return "notloggedin" in self.body_classes

    @property
    def shows_user(self) -> bool:
        """A sesskey and no `notloggedin`: a user is logged in on this page."""
        return bool(self.sesskey) and not self.not_logged_in


def required_action(url: str, wwwroot: Wwwroot) -> str | None:
    """What the site demands when *url* is one of its required-action pages, else None."""
    path = wwwroot.page_path(url)
    for prefix, what in REQUIRED_ACTIONS.items():
        if path is not None and path.startswith(prefix):
            return what
    return None


def logged_in_reason(
    state: PageState, url: str, wwwroot: Wwwroot, sesskey: str | None
) -> str | None:
    """None when *url* (showing *state*) is a logged-in page of the site — with *sesskey* on it,
    when one is given — else why not, in words."""
    what = required_action(url, wwwroot)
    if what:
        return what
    if state.not_logged_in:
        return "not logged in (the page says notloggedin)"
    if not state.sesskey:
        return "the page carries no M.cfg.sesskey"
    if sesskey is not None and sesskey not in state.sesskeys:
        return "the sesskey does not match the one the page carries"
    return None
