"""`POST /totara/webapi/ajax.php`: persisted operations and Totara's error shapes, byte for byte."""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Callable
from typing import Any

from .state import SessionRecord, SiteState, User

OPERATION_NAME = re.compile(r"^[a-z][a-z0-9_]+$")

INTERNAL = "Internal server error"
INVALID_SESSKEY = "Invalid sesskey, page reload required"
NOT_LOGGED_IN = "Course or activity not accessible. (You are not logged in)"
ONLY_POST = "Invalid webapi request, only POST method is allowed"

LANG_STRINGS = {
    ("edit", "core"): "Edit",
    ("delete", "core"): "Delete",
    ("cancel", "core"): "Cancel",
    ("save", "core"): "Save",
    ("savechanges", "core"): "Save changes",
    ("login", "core"): "Log in",
    ("logout", "core"): "Log out",
    ("yes", "core"): "Yes",
    ("no", "core"): "No",
    ("ok", "core"): "OK",
    ("next", "core"): "Next",
    ("previous", "core"): "Previous",
    ("search", "core"): "Search",
    ("loading", "core"): "Loading",
    ("dashboard", "totara_dashboard"): "Dashboard",
}


def encode(payload: Any) -> bytes:
    """GraphQL responses: compact JSON, slashes not escaped (`"date":"26/11/2026"`)."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def error_body(message: str, category: str | None = "internal") -> dict[str, Any]:
    error: dict[str, Any] = {"message": message}
    if category is not None:
        error["extensions"] = {"category": category}
    return {"errors": [error], "error": message}


class OperationError(Exception):
    def __init__(self, message: str, category: str) -> None:
        super().__init__(message)
        self.category = category


# -- resolvers -----------------------------------------------------------------------------
Resolver = Callable[[dict[str, Any], "User | None"], dict[str, Any]]


def _status(_variables: dict[str, Any], _user: User | None) -> dict[str, Any]:
    now = time.time()
    return {
        "totara_webapi_status": {
            "status": "ok",
            "timestamp": str(int(now)),
            "date": time.strftime("%d/%m/%Y", time.gmtime(now)),
        }
    }


def _lang_strings(variables: dict[str, Any], _user: User | None) -> dict[str, Any]:
    lang = variables.get("lang")
    ids = variables.get("ids")
    if not isinstance(lang, str) or not isinstance(ids, list):
        raise OperationError(INTERNAL, "internal")
    strings = []
    for item in ids:
        if not isinstance(item, str):
            raise OperationError(INTERNAL, "internal")
        identifier, _, component = (part.strip() for part in item.partition(","))
        component = component or "core"
        text = LANG_STRINGS.get((identifier, component), f"[[{identifier}]]")
        strings.append(
            {"lang": lang, "identifier": identifier, "component": component, "string": text}
        )
    return {"lang_strings": strings}


def _needs_user(user: User | None) -> User:
    if user is None:
        raise OperationError(NOT_LOGGED_IN, "require_login")
    return user


def _my_assignments(_variables: dict[str, Any], user: User | None) -> dict[str, Any]:
    """Every bundled user has one job assignment, its idnumber the username (a site's own)."""
    user = _needs_user(user)
    return {
        "totara_job_my_assignments": [
            {
                "id": str(user.id),
                "fullname": f"{user.firstname} {user.lastname}, learner",
                "idnumber": user.username,
                "managerja": None,
                "appraiser": None,
            }
        ]
    }


def _my_current_learning(_variables: dict[str, Any], user: User | None) -> dict[str, Any]:
    """The bundled users are enrolled in nothing yet."""
    _needs_user(user)
    return {"totara_core_my_current_learning": []}


TEMPLATES = {
    ("loading", "core"): '<span class="loading-icon">{{#pix}}y/loading, core{{/pix}}</span>',
}


def _template(variables: dict[str, Any], _user: User | None) -> dict[str, Any]:
    name, component, theme = (variables.get(k) for k in ("name", "component", "theme"))
    if not all(isinstance(v, str) and v for v in (name, component, theme)):
        raise OperationError(INTERNAL, "internal")
    found = TEMPLATES.get((str(name), str(component)))
    if found is None:
        raise OperationError(INTERNAL, "internal")
    return {"template": found}


def _unused_draft_item_id(_variables: dict[str, Any], user: User | None) -> dict[str, Any]:
    """A mutation: reserves a draft file area for the user."""
    _needs_user(user)
    return {"item_id": secrets.randbelow(900_000_000) + 100_000_000}


# Real persisted operations of Totara (each a webapi/ajax/*.graphql file there), with the data
# shapes their definitions select. An unknown name is answered as Totara answers it.
OPERATIONS: dict[str, Resolver] = {
    "totara_webapi_status": _status,
    "totara_webapi_status_nosession": _status,
    "core_lang_strings_nosession": _lang_strings,
    "core_template_nosession": _template,
    "totara_job_my_assignments": _my_assignments,
    "totara_core_my_current_learning": _my_current_learning,
    "core_file_unused_draft_item_id": _unused_draft_item_id,
}
# Resolvers that need a user; a user held on a required-action page gets internal errors there.
NEEDS_USER = {
    "totara_job_my_assignments",
    "totara_core_my_current_learning",
    "core_file_unused_draft_item_id",
}


def run_operation(item: Any, user: User | None, held: bool = False) -> dict[str, Any]:
    """One operation of a request; errors become Totara's error body. *held*: the user must
    first act on a required-action page (forced password change, site policy)."""
    if not isinstance(item, dict) or "query" in item:
        return error_body(INTERNAL)  # only persisted operations are accepted
    name = item.get("operationName")
    variables = item.get("variables") or {}
    if not isinstance(name, str) or not OPERATION_NAME.match(name) or name not in OPERATIONS:
        return error_body(INTERNAL)
    if not isinstance(variables, dict):
        return error_body(INTERNAL)
    if held and name in NEEDS_USER:
        return error_body(INTERNAL)
    try:
        return {"data": OPERATIONS[name](variables, user)}
    except OperationError as exc:
        return error_body(str(exc), exc.category)


def is_nosession(payload: Any) -> bool:
    items = payload if isinstance(payload, list) else [payload]
    return bool(items) and all(
        isinstance(i, dict)
        and isinstance(i.get("operationName"), str)
        and i["operationName"].endswith("_nosession")
        for i in items
    )


def parse(body: bytes) -> Any:
    """The request's JSON, or None when it is not a JSON object or array."""
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return payload if isinstance(payload, (dict, list)) else None


def answer(
    payload: Any, state: SiteState, session: SessionRecord | None, sesskey: str | None
) -> Any:
    """The JSON answer for a parsed request. *session* is None for `_nosession` requests."""
    if payload is None or payload == []:
        return error_body(INTERNAL)
    user: User | None = None
    if session is not None:
        if not sesskey:
            return error_body(INTERNAL)
        if sesskey != session.sesskey:
            # An expired or unknown cookie got a fresh anonymous session whose sesskey cannot
            # match: Totara says "log in again" rather than "reload the page".
            return error_body(
                INVALID_SESSKEY, "require_refresh" if session.userid else "require_login"
            )
        user = state.user_of(session)
    held = state.required_action(user) is not None
    if isinstance(payload, list):
        return [run_operation(item, user, held) for item in payload]
    return run_operation(payload, user, held)
