"""Test switches that make the bundled site misbehave the way real deployments do: a proxy's
502, a PHP fatal error page, odd JSON, a dribbling or enormous answer, a gateway's redirect, a
login form that posts to another origin, a decoy session cookie, a cookie with SameSite, sessions
ended right after they log in. None
of them is on unless asked for."""

from __future__ import annotations

import functools
import zlib
from dataclasses import dataclass

MIB = 1 << 20


@dataclass
class Faults:
    """What is wrong with the site. Settable while it runs (`site.state.faults`)."""

    # ajax.php answers this status and body instead (e.g. 502 and a proxy's HTML page)
    ajax_status: int = 0
    ajax_body: str = ""
    ajax_content_type: str = "text/html; charset=utf-8"
    # ajax.php answers 307 to this URL (a gateway in front of the site bouncing API calls)
    ajax_redirect: str = ""
    # the session cookie's SameSite attribute (Strict, Lax or None; None needs https)
    cookie_samesite: str = ""
    # ajax.php's answer body leaves one byte every this many seconds
    drip: float = 0.0
    # ajax.php answers this many MiB: of JSON padding, or of zeros behind Content-Encoding: gzip
    oversize_mib: int = 0
    bomb_mib: int = 0
    # the login form's action (another origin: an injected or misconfigured theme)
    form_action: str = ""
    # a cookie of this name (a TotaraSession* decoy) is set on the login page before the real one
    decoy_cookie: str = ""
    # the login form is written into the page by a script (a theme that needs JavaScript)
    form_by_script: bool = False
    # "before": a logged-in page carries decoy "sesskey":"…" values (a theme's comment, a
    # plugin's script) before M.cfg's own; "only": M.cfg's is wrong and no right one is there
    decoy_sesskey: str = ""
    # the first this many sessions that log in are ended at their first ajax.php call, before
    # it is answered (as another login of the same user ends them where concurrent logins are
    # limited, or an administrator does): the call gets Totara's require_login
    end_new_sessions: int = 0

    def ajax_override(self) -> tuple[int, bytes, list[tuple[str, str]]] | None:
        """The answer ajax.php gives instead of its own, if any."""
        if self.bomb_mib:
            headers = [
                ("Content-Type", "application/json; charset=utf-8"),
                ("Content-Encoding", "gzip"),
            ]
            return 200, gzip_bomb(self.bomb_mib), headers
        if self.oversize_mib:
            padding = "x" * (self.oversize_mib * MIB)
            body = f'{{"data":{{"totara_webapi_status":{{"status":"ok","pad":"{padding}"}}}}}}'
            return 200, body.encode(), [("Content-Type", "application/json; charset=utf-8")]
        if self.ajax_redirect:
            return 307, b"", [("Location", self.ajax_redirect), ("Content-Length", "0")]
        if self.ajax_status:
            return (
                self.ajax_status,
                self.ajax_body.encode(),
                [("Content-Type", self.ajax_content_type)],
            )
        return None


@functools.lru_cache(maxsize=4)
def gzip_bomb(mib: int) -> bytes:
    """*mib* MiB of zeros, gzip-compressed (about a thousandth of that on the wire), made
    a MiB at a time so the site itself never holds the whole."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: the gzip container
    block = bytes(MIB)
    parts = [packer.compress(block) for _ in range(mib)]
    parts.append(packer.flush())
    return b"".join(parts)
