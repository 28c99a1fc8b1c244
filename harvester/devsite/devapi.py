"""Developer mode (`GRAPHQL_DEVELOPMENT_MODE` in a real site's config.php): query *text* runs at
`POST /totara/webapi/dev_graphql_executor.php` with the session cookie and no sesskey, and
`GET /totara/webapi/dev_graphql_schema.php` sends the schema as SDL without a session. Without
developer mode both answer 200 with an empty body, as Totara's controller `die`s
(docs/totara-protocol.md). A real GraphQL executor (graphql-core) over a small schema of real
Totara type and field names: no string matching."""

from __future__ import annotations

import functools
import time
from typing import Any

from .state import User

SDL = """
type totara_webapi_status {
  status: String!
  timestamp: core_timestamp
  date: String
}

scalar core_timestamp

type totara_job_assignment {
  id: core_id!
  fullname: String
  idnumber: String
}

scalar core_id

type core_user {
  id: core_id!
  username: String
  firstname: String
  lastname: String
  fullname: String
}

type Query {
  totara_webapi_status: totara_webapi_status!
  totara_job_my_assignments: [totara_job_assignment!]!
  core_user_self: core_user
  core_lang_string(identifier: String!, component: String = "core"): String
}
"""

NOT_LOGGED_IN = "Course or activity not accessible. (You are not logged in)"


@functools.lru_cache(maxsize=1)
def schema() -> Any:
    from graphql import build_schema

    built = build_schema(SDL)
    query = built.query_type
    assert query is not None
    fields = query.fields
    fields["totara_webapi_status"].resolve = _status
    fields["totara_job_my_assignments"].resolve = _my_assignments
    fields["core_user_self"].resolve = _self
    fields["core_lang_string"].resolve = _lang_string
    return built


def schema_sdl() -> str:
    from graphql import print_schema

    return print_schema(schema()) + "\n"


def _user(info: Any) -> User:
    from graphql import GraphQLError

    user = info.context
    if user is None:
        raise GraphQLError(NOT_LOGGED_IN, extensions={"category": "require_login"})
    assert isinstance(user, User)
    return user


def _status(_root: object, _info: Any) -> dict[str, Any]:
    now = time.time()
    return {
        "status": "ok",
        "timestamp": str(int(now)),
        "date": time.strftime("%d/%m/%Y", time.gmtime(now)),
    }


def _my_assignments(_root: object, info: Any) -> list[dict[str, Any]]:
    user = _user(info)
    return [
        {
            "id": str(user.id),
            "fullname": f"{user.firstname} {user.lastname}, learner",
            "idnumber": user.username,
        }
    ]


def _self(_root: object, info: Any) -> dict[str, Any]:
    user = _user(info)
    return {
        "id": str(user.id),
        "username": user.username,
        "firstname": user.firstname,
        "lastname": user.lastname,
        "fullname": f"{user.firstname} {user.lastname}",
    }


def _lang_string(_root: object, _info: Any, identifier: str, component: str = "core") -> str:
    from .webapi import LANG_STRINGS

    return LANG_STRINGS.get((identifier, component), f"[[{identifier}]]")


def execute(payload: Any, user: User | None) -> dict[str, Any]:
    """Run a developer request ({"query": …, "variables": …, "operationName": …}) as the user
    of the session; the answer in graphql-php's shape (`data`, `errors` with locations and,
    where Totara sets one, `extensions.category`)."""
    from graphql import graphql_sync

    if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
        return {"errors": [{"message": "GraphQL Request must include at least one of those two "
                            "parameters: \"query\" or \"queryId\""}]}  # fmt: skip
    variables = payload.get("variables")
    result = graphql_sync(
        schema(),
        payload["query"],
        variable_values=variables if isinstance(variables, dict) else None,
        operation_name=payload.get("operationName") or None,
        context_value=user,
    )
    answer: dict[str, Any] = {}
    if result.errors:
        answer["errors"] = [error.formatted for error in result.errors]
    if result.data is not None or not result.errors:
        answer["data"] = result.data
    return answer
