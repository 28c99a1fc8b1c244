"""`harvest request` as a library function: one operation to the site's ajax.php with the
stored session, renewing it once (with the saved password) when the site says it expired."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any, TextIO

from ..errors import NoSession, SessionExpired, UsageError
from ..inputs import text as checked
from ..settings.targets import stored_session
from ..site.ajax import data_of, ended_message, operations_in
from ..store.sessions import SessionStore
from .client import TotaraClient, is_nosession


def read_text(spec: str, what: str, stdin: TextIO | None = None) -> tuple[str, str]:
    """(text, where it came from) of an argument that is the text itself, @FILE, or - for
    standard input (UTF-8). *what* names it in errors: "cannot read WHAT file FILE"."""
    if spec == "-":
        stream = stdin or sys.stdin
        raw: bytes | str = stream.buffer.read() if hasattr(stream, "buffer") else stream.read()
        return _decoded(raw, "standard input"), "standard input"
    if spec.startswith("@"):
        try:
            with open(spec[1:], "rb") as handle:
                return _decoded(handle.read(), spec[1:]), spec[1:]
        except OSError as exc:
            raise UsageError(f"cannot read {what} file {spec[1:]}: {exc.strerror}") from None
    return checked(spec, what, controls=True), what


def read_file(spec: str, what: str, stdin: TextIO | None = None) -> tuple[str, str]:
    """read_text for an argument that names a file (with or without @), or - for stdin."""
    return read_text(spec if spec == "-" or spec.startswith("@") else f"@{spec}", what, stdin)


def read_variables(spec: str, stdin: TextIO | None = None) -> dict[str, Any]:
    """--variables: a JSON object, @FILE, or - for standard input (empty means {})."""
    text, where = read_text(spec, "--variables", stdin)
    try:
        value = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as exc:
        raise UsageError(f"{where} is not valid JSON: {exc.msg} (line {exc.lineno})") from None
    if not isinstance(value, dict):
        raise UsageError(f'{where} must be a JSON object, e.g. \'{{"lang": "en"}}\'')
    return value


def _decoded(raw: bytes | str, where: str) -> str:
    if isinstance(raw, str):
        return checked(raw, where, controls=True)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{where} is not UTF-8 text (byte {exc.start})") from None


def request_operation(
    operation: str,
    variables: dict[str, Any],
    *,
    site: str = "",
    user: str = "",
    timeout: float = 30.0,
    store: SessionStore | None = None,
    check: bool = True,
) -> Any:
    """POST *operation* and return the site's JSON answer for it (`{"data": …}`). A GraphQL
    error raises its typed error; an expired session that cannot be renewed is NoSession.
    Checked first against the operation catalogue (operations/checks.py; *check* False skips
    the variables' checks, never the name rule)."""
    [answer] = request_operations(
        [(operation, variables)], site=site, user=user, timeout=timeout, store=store, check=check
    )
    return answer


def request_operations(
    operations: list[tuple[str, dict[str, Any]]],
    *,
    site: str = "",
    user: str = "",
    timeout: float = 30.0,
    store: SessionStore | None = None,
    check: bool = True,
    on_answers: Callable[[list[Any]], None] | None = None,
) -> list[Any]:
    """`harvest request` for one operation or a batch (one POST); the answer of each, in order.
    The first GraphQL error raises its typed error, after *on_answers* (if given) has seen
    every answer: a batch's good answers are not lost to another's error."""
    from ..operations.checks import check_request
    from ..settings.config import load_config
    from ..upkeep.refresh import refresh_hook

    if not operations:
        raise UsageError("no operation to run: name one, or give --batch FILE")
    # before the keyring is asked, or anything sent
    check_request(operations, variables=check)
    store = store or SessionStore()
    if all(is_nosession(name) for name, _ in operations) and not user:
        client = TotaraClient(load_config().resolve(site).wwwroot, timeout=timeout)
    else:
        profile, session = stored_session(site, user, store)
        user = session.user
        # On require_login: log in again once with the saved password, then retry once.
        client = TotaraClient(
            profile.wwwroot, session, timeout=timeout, on_expired=refresh_hook(store, timeout)
        )
    with client:
        answers = client.request(operations)
    if on_answers is not None:
        on_answers(answers)
    for answer, (name, _) in zip(answers, operations, strict=True):
        try:
            data_of(answer, name)  # raises the typed error
        except SessionExpired as exc:
            raise NoSession(
                f"{ended_message(name, exc.site_message)}; no saved password to log in again: "
                f"run harvest login --user {user} --site {client.wwwroot} (add "
                "--save-password for automatic re-login)"
            ) from None
    return answers


def read_batch(spec: str, stdin: TextIO | None = None) -> list[tuple[str, dict[str, Any]]]:
    """--batch: a JSON array of {"operationName": …, "variables": {…}} (Totara's own batch
    body), from @FILE, a file name, or - for standard input."""
    text, where = read_file(spec, "--batch", stdin)
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{where} is not valid JSON: {exc.msg} (line {exc.lineno})") from None
    if not isinstance(value, list) or not value:
        raise UsageError(
            f'{where} must be a JSON array: [{{"operationName": "…", "variables": {{}}}}, …]'
        )
    return operations_in(value, where)
