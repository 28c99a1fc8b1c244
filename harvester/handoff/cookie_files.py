"""The session as the cookie files other tools read: a Netscape cookies.txt (curl, wget,
http.cookiejar.MozillaCookieJar) and a Playwright storage state (browser contexts,
@playwright/test's storageState). Each carries the cookie exactly as the site set it
(session.CookieAttributes) and the sesskey beside it, where the format has room for it.

Layouts and where the sesskey goes: docs/contract.md ("Cookie files").
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import UsageError
from ..store.session import Session

NETSCAPE_MAGIC = "# Netscape HTTP Cookie File"
# A comment line cookie readers skip; `sed -n 's/^# X-Totara-Sesskey: //p' FILE` reads it.
SESSKEY_COMMENT = "# X-Totara-Sesskey: "
HARVESTER_COMMENT = "# harvester: "
# The top-level key of a storage state that holds what Playwright has no place for.
STATE_KEY = "harvester"


def _field(value: str, what: str) -> str:
    """A cookies.txt field: tab-separated on one line, so neither may appear in it."""
    if any(ch in value for ch in "\t\r\n\0"):
        raise UsageError(
            f"the stored {what} holds a tab or line break: no cookies.txt can carry it"
        )
    return value


def netscape_text(session: Session) -> str:
    """cookies.txt: the magic first line, a harvester comment, the sesskey comment and the
    cookie line, with expiry 0 for a browser-session cookie (as curl writes it).

    An HttpOnly cookie's line is written twice: plain, then with `#HttpOnly_` before the domain
    (as curl writes it). wget reads `#HttpOnly_` lines as comments, so it takes the plain one;
    curl and http.cookiejar read both, and the second (the same name, domain and path)
    replaces the first: each tool ends with the one cookie the site set."""
    cookie = session.cookie
    line = "\t".join(
        [
            _field(cookie.written_domain, "cookie domain"),
            "FALSE" if cookie.host_only else "TRUE",
            _field(cookie.path, "cookie path"),
            "TRUE" if cookie.secure else "FALSE",
            str(int(cookie.expires or 0)),  # 0: a browser-session cookie
            _field(session.cookie_name, "cookie name"),
            _field(session.cookie_value, "cookie value"),
        ]
    )
    return (
        f"{NETSCAPE_MAGIC}\n"
        f"{HARVESTER_COMMENT}the session of {_field(session.user, 'user')} at "
        f"{_field(session.wwwroot, 'wwwroot')}; send the sesskey below as the "
        "X-Totara-Sesskey header\n"
        f"{SESSKEY_COMMENT}{_field(session.sesskey, 'sesskey')}\n"
        f"{line}\n" + (f"#HttpOnly_{line}\n" if cookie.http_only else "")
    )


def storage_state(session: Session) -> dict[str, Any]:
    """A Playwright storage state holding the session cookie exactly as the site set it."""
    cookie = session.cookie
    return {
        "cookies": [
            {
                "name": session.cookie_name,
                "value": session.cookie_value,
                "domain": cookie.written_domain,
                "path": cookie.path,
                "expires": -1 if cookie.expires is None else cookie.expires,
                "httpOnly": cookie.http_only,
                "secure": cookie.secure,
                "sameSite": cookie.same_site,
            }
        ],
        "origins": [],
    }


def playwright_state(session: Session) -> dict[str, Any]:
    """storage_state with the sesskey and the site under the extra top-level key `harvester`
    (Playwright reads `cookies` and `origins` only): the file `env --format playwright` writes."""
    return {
        **storage_state(session),
        STATE_KEY: {
            "wwwroot": session.wwwroot,
            "user": session.user,
            "cookie_name": session.cookie_name,
            "sesskey": session.sesskey,
        },
    }


def playwright_text(session: Session) -> str:
    return json.dumps(playwright_state(session), indent=2, ensure_ascii=False) + "\n"
