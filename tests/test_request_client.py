"""The request helper: TotaraClient from Python and `harvest request` from the shell."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from harvester import TotaraClient
from harvester.devsite import DevSite
from harvester.errors import (
    GraphQLError,
    HarvestError,
    InvalidSesskey,
    NoSession,
    SessionExpired,
    SiteMaintenance,
    SiteUnreachable,
)
from harvester.store.session import Session
from harvester.store.sessions import SessionStore

from .conftest import HarvestRunner, LoggedIn

LANG = '{"lang":"en","ids":["edit, core"]}'
LANG_ANSWER = {
    "data": {
        "lang_strings": [
            {"lang": "en", "identifier": "edit", "component": "core", "string": "Edit"}
        ]
    }
}


def alice(logged_in: LoggedIn) -> Session:
    session = SessionStore(Path(logged_in.harvest.env["XDG_STATE_HOME"]) / "harvester").load(
        logged_in.url, "alice"
    )
    assert session is not None
    return session


# -- harvest request -----------------------------------------------------------------------------
def test_request_nosession_works_without_any_stored_session(
    totara_site: DevSite, harvest: HarvestRunner
) -> None:
    result = harvest(
        "request", "core_lang_strings_nosession", "--site", totara_site.url, "--variables", LANG
    )
    assert result.code == 0, result.err
    assert json.loads(result.out) == LANG_ANSWER


def test_request_variables_from_a_file_and_from_stdin(
    totara_site: DevSite, harvest: HarvestRunner, tmp_path: Path
) -> None:
    path = tmp_path / "vars.json"
    path.write_text(LANG)
    from_file = harvest(
        "request",
        "core_lang_strings_nosession",
        "--site",
        totara_site.url,
        "--variables",
        f"@{path}",
    )
    from_stdin = harvest(
        "request",
        "core_lang_strings_nosession",
        "--site",
        totara_site.url,
        "--variables",
        "-",
        input=LANG,
    )
    assert json.loads(from_file.out) == json.loads(from_stdin.out) == LANG_ANSWER


@pytest.mark.parametrize("variables", ["{bad", "[1, 2]", "@/no/such/file.json"])
def test_request_bad_variables_exit_2_in_one_line(
    totara_site: DevSite, harvest: HarvestRunner, variables: str
) -> None:
    result = harvest(
        "request",
        "core_lang_strings_nosession",
        "--site",
        totara_site.url,
        "--variables",
        variables,
    )
    assert result.code == 2
    assert result.out == "" and result.err.count("\n") == 1


def test_request_with_the_stored_session(logged_in: LoggedIn) -> None:
    result = logged_in.harvest("request", "totara_job_my_assignments", "--user", "alice")
    assert result.code == 0, result.err
    assert json.loads(result.out)["data"]["totara_job_my_assignments"][0]["idnumber"] == "alice"


def test_request_graphql_errors_go_to_stderr_with_an_exit_code_by_category(
    logged_in: LoggedIn,
) -> None:
    result = logged_in.harvest("request", "no_such_operation", "--user", "alice")
    assert (result.code, result.out) == (8, "")
    assert "Internal server error (internal)" in result.err


def test_request_needs_a_user_for_session_operations(
    totara_site: DevSite, harvest: HarvestRunner
) -> None:
    result = harvest("request", "totara_webapi_status", "--site", totara_site.url)
    assert result.code == 2 and "--user" in result.err


def test_request_on_a_session_killed_on_the_site_exits_4(
    site: DevSite, harvest: HarvestRunner
) -> None:
    assert harvest.login(site.url).code == 0
    site.state.kill_sessions("alice")
    result = harvest("request", "totara_webapi_status", "--user", "alice")
    assert result.code == 4
    assert "require_login" in result.err and "harvest login" in result.err


# -- TotaraClient against the bundled site -------------------------------------------------------
def test_client_from_keyring_env_and_values_all_work(logged_in: LoggedIn) -> None:
    session = alice(logged_in)
    store = SessionStore(Path(logged_in.harvest.env["XDG_STATE_HOME"]) / "harvester")
    env = {
        "TOTARA_WWWROOT": session.wwwroot,
        "TOTARA_COOKIE_NAME": session.cookie_name,
        "TOTARA_SESSION": session.cookie_value,
        "TOTARA_SESSKEY": session.sesskey,
    }
    clients = [
        TotaraClient.from_keyring(logged_in.url, "alice", store=store),
        TotaraClient.from_env(env),
        TotaraClient.from_values(
            logged_in.url, session.cookie_name, session.cookie_value, session.sesskey
        ),
    ]
    for client in clients:
        with client:
            assert client.call("totara_webapi_status")["totara_webapi_status"]["status"] == "ok"


def test_client_batch_runs_operations_in_one_request_in_order(logged_in: LoggedIn) -> None:
    before = logged_in.site.count("POST", "/totara/webapi/ajax.php")
    with TotaraClient(logged_in.url, alice(logged_in)) as client:
        jobs, status = client.batch(
            [("totara_job_my_assignments", None), ("totara_webapi_status", {})]
        )
    assert jobs["totara_job_my_assignments"][0]["idnumber"] == "alice"
    assert status["totara_webapi_status"]["status"] == "ok"
    assert logged_in.site.count("POST", "/totara/webapi/ajax.php") == before + 1


def test_client_typed_errors_from_the_real_site(logged_in: LoggedIn) -> None:
    session = alice(logged_in)
    wrong = Session(
        session.wwwroot, "alice", session.cookie_name, session.cookie_value, "wrongwrong"
    )
    dead = Session(session.wwwroot, "alice", session.cookie_name, "deadcookie", "wrongwrong")
    with TotaraClient(logged_in.url, wrong) as client, pytest.raises(InvalidSesskey):
        client.call("totara_webapi_status")
    with TotaraClient(logged_in.url, dead) as client, pytest.raises(SessionExpired) as caught:
        client.call("totara_webapi_status")
    assert caught.value.category == "require_login" and caught.value.exit_code == 4
    with TotaraClient(logged_in.url, session) as client, pytest.raises(GraphQLError) as failed:
        client.call("no_such_operation")
    assert failed.value.category == "internal" and failed.value.operation == "no_such_operation"


def test_client_without_session_refuses_session_operations(totara_site: DevSite) -> None:
    with TotaraClient(totara_site.url) as client:
        assert client.call("totara_webapi_status_nosession")
        with pytest.raises(NoSession):
            client.call("totara_webapi_status")


def test_client_from_keyring_without_a_session_is_no_session(
    totara_site: DevSite, tmp_path: Path
) -> None:
    with pytest.raises(NoSession, match="harvest login"):
        TotaraClient.from_keyring(totara_site.url, "nobody", store=SessionStore(tmp_path))


def test_refresh_hook_gets_one_chance_then_the_call_is_retried_once(
    logged_in: LoggedIn,
) -> None:
    good = alice(logged_in)
    dead = Session(good.wwwroot, "alice", good.cookie_name, "deadcookie", good.sesskey)
    calls: list[Session] = []

    def refresh(old: Session) -> Session:
        calls.append(old)
        return good

    with TotaraClient(logged_in.url, dead, on_expired=refresh) as client:
        assert client.call("totara_webapi_status")["totara_webapi_status"]["status"] == "ok"
        assert client.session == good
    assert calls == [dead]


# -- what goes over the wire (an in-memory transport records it) -------------------------------
Handler = Callable[[httpx.Request], httpx.Response]


def recording(handler: Handler) -> tuple[httpx.Client, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    from harvester.site.http import credential_client

    return credential_client(5, transport=httpx.MockTransport(record)), seen


SESSION = Session("https://lms.example.com", "alice", "TotaraSessionx", "c00kie", "sesskey123")
OK = {"data": {"totara_webapi_status": {"status": "ok"}}}


def test_nosession_operations_carry_neither_cookie_nor_sesskey() -> None:
    http, seen = recording(lambda _r: httpx.Response(200, json=OK))
    with TotaraClient(SESSION.wwwroot, SESSION, http=http) as client:
        client.call("totara_webapi_status_nosession")
        client.call("totara_webapi_status")
    assert "cookie" not in seen[0].headers and "x-totara-sesskey" not in seen[0].headers
    assert seen[1].headers["cookie"] == "TotaraSessionx=c00kie"
    assert seen[1].headers["x-totara-sesskey"] == "sesskey123"


def test_a_redirect_is_never_followed_so_credentials_stay_home() -> None:
    http, seen = recording(
        lambda _r: httpx.Response(307, headers={"Location": "https://evil.example.net/collect"})
    )
    with (
        TotaraClient(SESSION.wwwroot, SESSION, http=http) as client,
        pytest.raises(HarvestError, match="not following"),
    ):
        client.call("totara_webapi_status")
    assert [str(r.url) for r in seen] == ["https://lms.example.com/totara/webapi/ajax.php"]


def test_cookies_the_site_sets_are_not_kept() -> None:
    expired = {
        "errors": [{"message": "m", "extensions": {"category": "require_login"}}],
        "error": "m",
    }
    answers = iter(
        [
            httpx.Response(
                200, json=expired, headers={"Set-Cookie": "TotaraSessionx=anon; path=/"}
            ),
            httpx.Response(200, json=OK),
        ]
    )
    http, seen = recording(lambda _r: next(answers))
    with TotaraClient(SESSION.wwwroot, SESSION, http=http) as client:
        with pytest.raises(SessionExpired):
            client.call("totara_webapi_status")
        client.call("totara_webapi_status")
    assert seen[1].headers["cookie"] == "TotaraSessionx=c00kie"
    assert len(http.cookies) == 0


def test_maintenance_503_is_typed_with_retry_after() -> None:
    http, _ = recording(
        lambda _r: httpx.Response(
            503, headers={"Retry-After": "300"}, text="<html>maintenance</html>"
        )
    )
    with (
        TotaraClient(SESSION.wwwroot, SESSION, http=http) as client,
        pytest.raises(SiteMaintenance) as caught,
    ):
        client.call("totara_webapi_status")
    assert caught.value.retry_after == 300 and caught.value.exit_code == 5


def test_timeouts_are_site_unreachable() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    http, _ = recording(slow)
    with (
        TotaraClient(SESSION.wwwroot, SESSION, http=http, timeout=5) as client,
        pytest.raises(SiteUnreachable, match="within 5 s"),
    ):
        client.call("totara_webapi_status")


# -- names Totara's rule refuses are never sent ----------------------------------------------------
REFUSED_NAMES = ["../../x", "Totara Status", "UPPER", "a;b", "", "two\nlines", "a", "x/y"]


def ajax_lines(site: DevSite) -> int:
    return sum("/totara/webapi/ajax.php" in line for line in site.access_log)


@pytest.mark.parametrize("name", REFUSED_NAMES)
def test_a_name_that_breaks_totaras_rule_is_never_sent(logged_in: LoggedIn, name: str) -> None:
    """Through the CLI, TotaraClient, TotaraAuth (httpx) and TotaraRequestsAuth: exit 2 (a
    UsageError) naming the rule, and the site's log shows no ajax.php request at all."""
    import requests

    from harvester import TotaraAuth
    from harvester.errors import UsageError

    before = ajax_lines(logged_in.site)
    result = logged_in.harvest("request", name, "--user", "alice", "--site", logged_in.url)
    assert result.code == 2, result.err
    assert "^[a-z][a-z0-9_]+$" in result.err and result.err.count("\n") == 1
    session = alice(logged_in)
    with TotaraClient(logged_in.url, session) as client, pytest.raises(UsageError):
        client.call(name)
    ajax = f"{logged_in.url}/totara/webapi/ajax.php"
    body = {"operationName": name, "variables": {}}
    with httpx.Client(auth=TotaraAuth(session)) as http, pytest.raises(UsageError):
        http.post(ajax, json=[{"operationName": "totara_webapi_status", "variables": {}}, body])
    with requests.Session() as plain, pytest.raises(UsageError):
        plain.post(ajax, json=body, auth=TotaraAuth(session).for_requests())
    assert ajax_lines(logged_in.site) == before


def test_a_name_within_the_rule_is_sent_by_the_auth_objects(logged_in: LoggedIn) -> None:
    from harvester import TotaraAuth

    session = alice(logged_in)
    with httpx.Client(auth=TotaraAuth(session)) as http:
        answer = http.post(
            f"{logged_in.url}/totara/webapi/ajax.php",
            json={"operationName": "totara_webapi_status", "variables": {}},
        )
    assert answer.json()["data"]["totara_webapi_status"]["status"] == "ok"
