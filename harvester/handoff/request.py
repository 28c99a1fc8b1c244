"""`harvest request` as a library function: one operation to the site's ajax.php with the
stored session, renewing it once (with the saved password) when the site says it expired."""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

from ..errors import NoSession, SessionExpired, UsageError
from ..inputs import text as checked
from ..settings.targets import stored_session
from ..site.ajax import check_operation_name, data_of
from ..store.sessions import SessionStore
from .client import TotaraClient, is_nosession


def read_variables(spec: str, stdin: TextIO | None = None) -> dict[str, Any]:
    """--variables: a JSON object, @FILE, or - for standard input (empty means {})."""
    if spec == "-":
        stream = stdin or sys.stdin
        raw: bytes | str = stream.buffer.read() if hasattr(stream, "buffer") else stream.read()
        text, where = _decoded(raw, "standard input"), "standard input"
    elif spec.startswith("@"):
        try:
            with open(spec[1:], "rb") as handle:
                text, where = _decoded(handle.read(), spec[1:]), spec[1:]
        except OSError as exc:
            raise UsageError(f"cannot read --variables file {spec[1:]}: {exc.strerror}") from None
    else:
        text, where = checked(spec, "--variables", controls=True), "--variables"
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
) -> Any:
    """POST *operation* and return the site's JSON answer for it (`{"data": …}`). A GraphQL
    error raises its typed error; an expired session that cannot be renewed is NoSession."""
    from ..settings.config import load_config
    from ..upkeep.refresh import refresh_hook

    check_operation_name(operation)  # before the keyring is asked, or anything sent
    store = store or SessionStore()
    if is_nosession(operation) and not user:
        client = TotaraClient(load_config().resolve(site).wwwroot, timeout=timeout)
    else:
        profile, session = stored_session(site, user, store)
        user = session.user
        # On require_login: log in again once with the saved password, then retry once.
        client = TotaraClient(
            profile.wwwroot, session, timeout=timeout, on_expired=refresh_hook(store, timeout)
        )
    with client:
        [answer] = client.request([(operation, variables)])
    try:
        data_of(answer, operation)  # raises the typed error
    except SessionExpired as exc:
        raise NoSession(
            f"{operation}: {exc.site_message} (require_login): the session has expired or was "
            "logged out; no saved password to log in "
            f"again: run harvest login --user {user} --site {client.wwwroot} (add "
            "--save-password for automatic re-login)"
        ) from None
    return answer
