"""Totara's developer API (a site in GraphQL developer mode): `harvest query` runs query text at
`dev_graphql_executor.php` with the session cookie (the endpoint takes no sesskey, so none is
sent), and `harvest schema` fetches the SDL from `dev_graphql_schema.php` (no session). On any
other site both answer 200 with nothing: that is NotDeveloperSite, never a dead session
(docs/totara-protocol.md)."""

from __future__ import annotations

from typing import Any

from ..errors import GraphQLError, NoSession, NotDeveloperSite, UsageError
from ..settings.reach import network_for_site
from ..site.ajax import category_of, message_of
from ..site.http import Answer, credential_client, exchange, maintenance
from ..site.wwwroot import Wwwroot
from ..store.sessions import SessionStore

EXECUTOR = "/totara/webapi/dev_graphql_executor.php"
SCHEMA = "/totara/webapi/dev_graphql_schema.php"
MAX_SCHEMA_BYTES = 64 * 1024 * 1024  # 17.3's is about 418 KB


def check_query_text(text: str) -> None:
    """UsageError naming the line and column where query text stops being GraphQL; checked
    here, before anything is sent."""
    from graphql import GraphQLSyntaxError, parse

    if not text.strip():
        raise UsageError("the query is empty")
    try:
        parse(text, no_location=True)
    except GraphQLSyntaxError as exc:
        where = exc.locations[0] if exc.locations else None
        at = f" at line {where.line}, column {where.column}" if where else ""
        raise UsageError(f"the query is not GraphQL: {exc.message}{at}; nothing was sent") from None


def run_query(
    text: str,
    variables: dict[str, Any],
    *,
    site: str = "",
    user: str = "",
    timeout: float = 30.0,
    store: SessionStore | None = None,
) -> Any:
    """Send query text to the developer executor as *user*; the site's JSON answer. A GraphQL
    error in it raises its typed error; require_login is NoSession."""
    from ..settings.targets import stored_session

    check_query_text(text)
    _profile, session = stored_session(site, user, store or SessionStore())
    url = session.site.url(EXECUTOR)
    session.check_sendable()
    with credential_client(timeout, network=network_for_site(session.site)) as http:
        answer = exchange(
            http, "POST", url, timeout=timeout, where=session.site,
            json={"query": text, "variables": variables},
            headers={"Cookie": session.cookie_header, "Accept": "application/json"},
        )  # fmt: skip
    payload = _developer_json(answer, session.site, url)
    errors = payload.get("errors")
    if errors:
        message, category = message_of(payload), category_of(payload)
        if category == "require_login":
            raise NoSession(
                f"the developer API says {message} (require_login): run harvest login --user "
                f"{session.user} --site {session.site}"
            )
        raise GraphQLError(
            f"the developer API answered: {message} ({category or 'no category'})",
            category=category,
            operation=None,
            site_message=message,
        )
    return payload


def fetch_schema(wwwroot: Wwwroot, *, timeout: float = 30.0) -> str:
    """The site's whole schema as SDL (no session is sent)."""
    url = wwwroot.url(SCHEMA)
    with credential_client(timeout, network=network_for_site(wwwroot)) as http:
        answer = exchange(http, "GET", url, timeout=timeout, where=wwwroot, limit=MAX_SCHEMA_BYTES)
    _check_status(answer, wwwroot, url)
    text = answer.body.decode("utf-8", "replace")
    if not text.strip():
        raise _not_developer(wwwroot)
    if "type " not in text and "schema " not in text:
        raise NotDeveloperSite(f"{url} answered something that is not a GraphQL schema")
    return text


def _developer_json(answer: Answer, wwwroot: Wwwroot, url: str) -> dict[str, Any]:
    _check_status(answer, wwwroot, url)
    if not answer.body.strip():
        raise _not_developer(wwwroot)
    try:
        payload = answer.json()
    except (ValueError, RecursionError):
        raise NotDeveloperSite(f"{url} answered HTTP 200 without JSON") from None
    if not isinstance(payload, dict):
        raise NotDeveloperSite(f"{url} answered JSON that is not a GraphQL answer")
    return payload


def _check_status(answer: Answer, wwwroot: Wwwroot, url: str) -> None:
    down = maintenance(answer.status, answer.headers, url)
    if down is not None:
        raise down
    if answer.status != 200:
        raise NotDeveloperSite(
            f"{url} answered HTTP {answer.status}: is {wwwroot} a Totara site in developer mode?"
        )


def _not_developer(wwwroot: Wwwroot) -> NotDeveloperSite:
    return NotDeveloperSite(
        f"{wwwroot} is not in GraphQL developer mode (its developer API answered nothing): "
        "define('GRAPHQL_DEVELOPMENT_MODE', true) in its config.php, on a development site only"
    )
