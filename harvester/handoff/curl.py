"""Copy as cURL, both ways. `harvest curl` writes a ready command in the form of Totara's own
documentation; `harvest import-curl` reads a command pasted from a browser's dev tools
(Chromium's bash and cmd forms, Firefox's POSIX form) and stores the session in it, checked
against the site like a login; `harvest request --from-curl` replays a pasted request's
operations with the stored session. A paste is untrusted input full of secrets: nothing of it
is ever echoed, its values are masked in anything printed, and it is parsed, never run."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import redact
from ..errors import NoSession, UsageError
from ..site.ajax import operations_in
from ..site.wwwroot import AJAX_PATH, Wwwroot
from ..store.session import Session
from ..store.sessions import SessionStore

MAX_PASTE = 1 << 20  # a copied request is kilobytes; a megabyte is not a paste
# curl's options that take a value, as browsers write them (the rest are flags)
_VALUED = {
    "-H", "--header", "-b", "--cookie", "-d", "--data", "--data-raw", "--data-binary",
    "--data-ascii", "--data-urlencode", "-X", "--request", "--url", "-A", "--user-agent",
    "-e", "--referer", "-u", "--user", "-x", "--proxy", "-o", "--output", "-m", "--max-time",
    "--connect-timeout", "-F", "--form",
}  # fmt: skip
_DATA = {"-d", "--data", "--data-raw", "--data-binary", "--data-ascii"}
_ANSI_C = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "e": "\x1b", "f": "\f",
           "v": "\v", "\\": "\\", "'": "'", '"': '"', "?": "?"}  # fmt: skip


def curl_command(
    wwwroot: Wwwroot,
    operations: list[tuple[str, dict[str, Any]]],
    session: Session | None,
    *,
    inline: bool = False,
) -> str:
    """The command Totara's documentation shows, for one operation or a batch. The cookie and
    the sesskey are `$TOTARA_COOKIE` and `$TOTARA_SESSKEY` (set by harvest env or exec), so no
    secret lands in shell history; *inline* writes the values themselves. A _nosession request
    carries neither."""
    body = [{"operationName": name, "variables": variables} for name, variables in operations]
    data = json.dumps(body[0] if len(body) == 1 else body, separators=(",", ":"))
    parts = ["curl", _quoted(wwwroot.ajax_url), "-X", "POST"]
    if session is not None:
        if inline:
            parts += ["-H", _quoted(f"Cookie: {session.cookie_header}")]
            parts += ["-H", _quoted(f"X-Totara-Sesskey: {session.sesskey}")]
        else:
            parts += ["-H", '"Cookie: $TOTARA_COOKIE"', "-H", '"X-Totara-Sesskey: $TOTARA_SESSKEY"']
    parts += ["-H", "'Content-Type: application/json'", "--data-raw", _quoted(data)]
    return " ".join(parts)


def _quoted(text: str) -> str:
    """Single-quoted for sh, always (as Totara's documentation writes each word)."""
    return "'" + text.replace("'", "'\\''") + "'"


@dataclass(frozen=True)
class CopiedRequest:
    """What a pasted command says: where it goes, its headers (lower-case names), its cookies
    and its body. Values stay out of repr."""

    url: str
    headers: Mapping[str, str] = field(repr=False)
    cookies: tuple[tuple[str, str], ...] = field(repr=False)
    body: str = field(repr=False)

    @property
    def sesskey(self) -> str:
        return self.headers.get("x-totara-sesskey", "").strip()

    def wwwroot(self) -> Wwwroot:
        """The site the request went to: an ajax.php URL less its path."""
        try:
            target = Wwwroot(self.url)
        except UsageError:
            raise UsageError("the pasted command's URL is not an http(s) URL") from None
        if not target.path.endswith(AJAX_PATH):
            raise UsageError(
                "the pasted command is not a request to ajax.php: copy one of the page's "
                "/totara/webapi/ajax.php requests (dev tools, Network)"
            )
        return Wwwroot(str(target)[: -len(AJAX_PATH)])

    def operations(self) -> list[tuple[str, dict[str, Any]]]:
        """The operations and variables of its body (one object or a batch)."""
        try:
            payload = json.loads(self.body)
        except (ValueError, RecursionError):
            raise UsageError("the pasted command's data is not JSON") from None
        items = payload if isinstance(payload, list) else [payload]
        found = operations_in(items, "the pasted command's data")
        if not found:
            raise UsageError("the pasted command's data holds no operation")
        return found


def parse_copied_curl(text: str) -> CopiedRequest:
    """Read a command from Copy as cURL (Chromium: bash or cmd; Firefox: POSIX). UsageError,
    never quoting the paste, for anything that is not one."""
    if len(text) > MAX_PASTE:
        raise UsageError("the paste is over a megabyte: not one copied request")
    words = list(_cmd_words(text) if '^"' in text else _posix_words(text))
    if not words or words[0] not in ("curl", "curl.exe"):
        raise UsageError("the paste is not a curl command (Copy as cURL starts with curl)")
    url, headers, cookies, body = "", {}, [], ""
    index = 1
    while index < len(words):
        word = words[index]
        value = words[index + 1] if index + 1 < len(words) else None
        if word in _VALUED:
            if value is None:
                raise UsageError(f"the pasted command ends after {word}")
            index += 2
            if word in ("-H", "--header"):
                name, _, content = value.partition(":")
                if name.strip().lower() == "cookie":
                    cookies += _cookie_pairs(content)
                else:
                    headers[name.strip().lower()] = content.strip()
            elif word in ("-b", "--cookie"):
                cookies += _cookie_pairs(value)
            elif word in _DATA:
                body = value
            elif word == "--url":
                url = value
            continue
        if not word.startswith("-") and not url:
            url = word
        index += 1
    if not url:
        raise UsageError("the pasted command has no URL")
    redact.register(*(v for _, v in cookies), headers.get("x-totara-sesskey"))
    return CopiedRequest(url, headers, tuple(cookies), body)


def import_session(
    text: str,
    user: str,
    *,
    site: str = "",
    store: SessionStore | None = None,
    timeout: float = 30.0,
) -> Session:
    """`harvest import-curl`: the session in a pasted request, checked against its site (the
    cookie, whatever its suffix, with the sesskey: the pair the site accepts) and stored for
    *user* like a login. The way in for sites whose login harvester cannot drive. A paste with
    no session in it, or one for another site than *site*, is refused; nothing is stored
    unless the site accepts the pair."""
    import time

    from ..logins.verify import check_session
    from ..settings.config import load_config
    from ..store.session import header_safe, normalize_username

    user = normalize_username(user)
    if not user:
        raise UsageError("say whose session it is: --user NAME (the paste names no user)")
    copied = parse_copied_curl(text)
    wwwroot = copied.wwwroot()
    config = load_config()
    profile = config.resolve(site) if site else config.for_wwwroot(wwwroot)
    if profile.wwwroot != wwwroot:
        raise UsageError(
            f"the pasted request went to {wwwroot}, not to {profile.wwwroot} (--site): "
            "nothing was stored"
        )
    if not copied.sesskey or not header_safe(copied.sesskey):
        raise UsageError("the pasted request carries no X-Totara-Sesskey: no session in it")
    cookies = [(n, v) for n, v in copied.cookies if profile.cookie_matches(n) and header_safe(v)]
    if not cookies:
        raise UsageError(
            f"the pasted request carries no {profile.cookie_label} cookie: no session in it"
        )
    store = store or SessionStore()
    store.check_available()  # before the site is asked: nothing to store into otherwise
    reasons = []
    for name, value in cookies:
        candidate = Session(
            wwwroot=wwwroot,
            user=user,
            cookie_name=name,
            cookie_value=value,
            sesskey=copied.sesskey,
            obtained_at=time.time(),
        )
        checked = check_session(candidate, page_url=None, timeout=timeout)
        if checked.valid:
            session = candidate.verified()
            store.save(session)
            return session
        reasons.append(checked.reason)
    raise NoSession(
        f"{wwwroot} does not accept the session in the paste ({reasons[0]}): copy a request "
        "from a page where you are logged in; nothing was stored"
    )


def _cookie_pairs(text: str) -> list[tuple[str, str]]:
    pairs = []
    for part in text.split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name:
            pairs.append((name.strip(), value.strip()))
    return pairs


def _posix_words(text: str) -> Iterator[str]:
    """Words of a POSIX shell command as browsers quote it: '…', $'…' (ANSI-C escapes), "…",
    backslash escapes, and backslash-newline continuations."""
    i, n = 0, len(text)
    word: list[str] | None = None
    while i < n:
        char = text[i]
        if char == "\\" and i + 1 < n:
            if text[i + 1] == "\n":
                i += 2
                continue
            word = (word or []) + [text[i + 1]]
            i += 2
        elif char in " \t\r\n":
            if word is not None:
                yield "".join(word)
                word = None
            i += 1
        elif char == "'":
            end = text.find("'", i + 1)
            if end < 0:
                raise UsageError("the pasted command has an unclosed quote")
            word = (word or []) + [text[i + 1 : end]]
            i = end + 1
        elif char == "$" and text.startswith("$'", i):
            value, i = _ansi_c(text, i + 2)
            word = (word or []) + [value]
        elif char == '"':
            value, i = _double_quoted(text, i + 1)
            word = (word or []) + [value]
        else:
            word = (word or []) + [char]
            i += 1
    if word is not None:
        yield "".join(word)


def _ansi_c(text: str, i: int) -> tuple[str, int]:
    out: list[str] = []
    while i < len(text):
        char = text[i]
        if char == "'":
            return "".join(out), i + 1
        if char != "\\" or i + 1 >= len(text):
            out.append(char)
            i += 1
            continue
        code = text[i + 1]
        if code in _ANSI_C:
            out.append(_ANSI_C[code])
            i += 2
        elif code in "xuU":
            size = {"x": 2, "u": 4, "U": 8}[code]
            digits = re.match(f"[0-9a-fA-F]{{1,{size}}}", text[i + 2 :])
            if digits is None:
                out.append("\\" + code)
                i += 2
                continue
            out.append(chr(int(digits.group(0), 16)))
            i += 2 + len(digits.group(0))
        elif code in "01234567":
            digits = re.match(r"[0-7]{1,3}", text[i + 1 :])
            assert digits is not None
            out.append(chr(int(digits.group(0), 8)))
            i += 1 + len(digits.group(0))
        else:
            out.append("\\" + code)
            i += 2
    raise UsageError("the pasted command has an unclosed quote")


def _double_quoted(text: str, i: int) -> tuple[str, int]:
    out: list[str] = []
    while i < len(text):
        char = text[i]
        if char == '"':
            return "".join(out), i + 1
        if char == "\\" and i + 1 < len(text) and text[i + 1] in '"\\$`\n':
            if text[i + 1] != "\n":
                out.append(text[i + 1])
            i += 2
            continue
        out.append(char)
        i += 1
    raise UsageError("the pasted command has an unclosed quote")


def _cmd_words(text: str) -> Iterator[str]:
    """Words of Chromium's "Copy as cURL (cmd)": ^ escapes the next character (a ^ at the end
    of a line continues it), "…" quotes, and \\" inside quotes is a quote."""
    text = re.sub(r"\^\r?\n", "", text)
    text = re.sub(r"\^(.)", r"\1", text, flags=re.DOTALL)
    word: list[str] | None = None
    quoted = False
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\" and text.startswith('\\"', i):
            word = (word or []) + ['"']
            i += 2
            continue
        if char == '"':
            quoted = not quoted
            word = word or []
        elif char in " \t\r\n" and not quoted:
            if word is not None:
                yield "".join(word)
                word = None
        else:
            word = (word or []) + [char]
        i += 1
    if quoted:
        raise UsageError("the pasted command has an unclosed quote")
    if word is not None:
        yield "".join(word)
