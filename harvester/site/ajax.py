"""What ajax.php answers mean (docs/totara-protocol.md, "The AJAX GraphQL endpoint").

A Totara answer is HTTP 200 with JSON: an object with `data` or a non-empty `errors` list
(each error an object whose `extensions.category` classifies it), or an array of those for a
batch. Anything else — a proxy's 502, a PHP error page, a redirect, JSON of another shape — is
site trouble (SiteError, exit 5): never taken for a dead session, never a crash.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import (
    GraphQLError,
    InvalidSesskey,
    SessionExpired,
    SiteError,
    SiteMaintenance,
    UsageError,
)
from .http import Answer, maintenance

STATUS_NAMES = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def parse_answer(answer: Answer, url: str, batch: int | None = None) -> Any:
    """The JSON of a Totara answer, checked for shape: a dict, or (for a batch of *batch*
    operations) a list of that many dicts or one dict answering the whole request."""
    down = maintenance(answer.status, answer.headers, url)
    if down is not None:
        raise down
    if answer.is_redirect:
        raise SiteError(
            f"{url} redirected (HTTP {answer.status}); not following: the session stays with "
            "its own origin. Is the site URL right (https, the folder)?"
        )
    if answer.status != 200:
        name = STATUS_NAMES.get(answer.status, "")
        shown = f"HTTP {answer.status}" + (f" ({name})" if name else "")
        raise SiteError(
            f"{url} answered {shown}, not a Totara answer: the site, or a proxy in front of it, "
            "is in trouble; try again later"
        )
    try:
        payload = answer.json()
    except (ValueError, RecursionError):
        raise SiteError(f"{url} answered HTTP 200 without JSON: not a Totara answer") from None
    items = payload if isinstance(payload, list) else [payload]
    if isinstance(payload, list) and (batch is None or len(payload) != batch):
        raise SiteError(f"{url} answered {len(payload)} results to {batch or 1} operations")
    for item in items:
        _check_item(item, url)
    return payload


def _check_item(item: Any, url: str) -> None:
    odd = SiteError(f"{url} answered JSON of an unexpected shape: not a Totara answer")
    if not isinstance(item, dict):
        raise odd
    if "errors" in item:
        errors = item["errors"]
        if not isinstance(errors, list) or not errors:
            raise odd
        for error in errors:
            if not isinstance(error, dict) or not isinstance(error.get("message", ""), str):
                raise odd
            extensions = error.get("extensions", {})
            if not isinstance(extensions, dict) or not isinstance(
                extensions.get("category", ""), (str, type(None))
            ):
                raise odd
        return
    if not isinstance(item.get("data"), dict):
        raise odd


def category_of(item: Any) -> str | None:
    """The first error's category of a checked answer item, or None."""
    if isinstance(item, dict) and item.get("errors"):
        category = item["errors"][0].get("extensions", {}).get("category")
        return str(category) if category is not None else None
    return None


def message_of(item: dict[str, Any]) -> str:
    first = item["errors"][0]
    return str(first.get("message") or item.get("error") or "unknown error")


def maintenance_mode(item: Any) -> bool:
    """The admin maintenance mode: it answers `require_login` like an ended session, and only
    its message tells them apart."""
    return category_of(item) == "require_login" and "maintenance" in message_of(item).lower()


# Totara's own rule for a persisted operation's name (docs/totara-protocol.md): anything else is
# never sent, so a typo or a path cannot travel to the site with the user's cookie and sesskey.
OPERATION_NAME = re.compile(r"[a-z][a-z0-9_]+")


def check_operation_name(name: object) -> str:
    """*name* if Totara accepts it as an operation name; else a UsageError (exit 2) that names
    the rule. Callers check before anything is sent."""
    if isinstance(name, str) and OPERATION_NAME.fullmatch(name):
        return name
    shown = repr(name)[:60] if isinstance(name, str) else f"a {type(name).__name__}"
    raise UsageError(
        f"{shown} is not an operation name Totara accepts (lower-case letters, digits and _, "
        "starting with a letter: ^[a-z][a-z0-9_]+$); nothing was sent"
    )


def operation_names_in(body: bytes) -> list[object]:
    """The operationName of each operation in an ajax.php request body (one object or a
    batch); [] for a body that is not JSON of that shape (the site answers that itself)."""
    import json

    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        return []
    items = payload if isinstance(payload, list) else [payload]
    return [item.get("operationName") for item in items if isinstance(item, dict)]


def operations_in(items: list[Any], where: str) -> list[tuple[str, dict[str, Any]]]:
    """(operationName, variables) of each item of a request body, as Totara's batch rule
    wants them (a name, and variables that are an object); a UsageError naming *where* and the
    item that is not one. --batch files and pasted requests are read with it."""
    found = []
    for index, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("operationName"), str):
            raise UsageError(f"{where}: item {index} has no operationName")
        variables = item.get("variables", {})
        if not isinstance(variables, dict):
            raise UsageError(f"{where}: item {index}: variables must be a JSON object")
        found.append((str(item["operationName"]), variables))
    return found


def session_ended(item: Any) -> bool:
    """The site ended the session (`require_login`, not maintenance mode): worth one renewal."""
    return category_of(item) == "require_login" and not maintenance_mode(item)


def ended_message(operation: str, site_message: str) -> str:
    """How an answer that ended the session is said (require_login), wherever it is reported."""
    return f"{operation}: {site_message} (require_login): the session has expired or was logged out"


def data_of(item: Any, operation: str) -> dict[str, Any]:
    """The `data` of a checked answer item, or the typed error it holds."""
    if not item.get("errors"):
        data: dict[str, Any] = item["data"]
        return data
    message = message_of(item)
    category = category_of(item)
    if maintenance_mode(item):
        raise SiteMaintenance(f"{operation}: the site is in maintenance mode ({message})")
    if category == "require_login":
        raise SessionExpired(
            f"{ended_message(operation, message)}: run harvest login again",
            category=category,
            operation=operation,
            site_message=message,
        )
    if category == "require_refresh":
        raise InvalidSesskey(
            f"{operation}: {message} (require_refresh): the sesskey does not belong to the "
            "cookie: run harvest login again",
            category=category,
            operation=operation,
            site_message=message,
        )
    raise GraphQLError(
        f"{operation}: {message} ({category or 'no category'})",
        category=category,
        operation=operation,
        site_message=message,
    )
