"""The bundled site answers the HTTP conversation of docs/totara-protocol.md like a real Totara."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from harvester.devsite import DevSite

SESSKEY_RE = re.compile(r'M\.cfg = \{.*?"sesskey":"([^"]+)"')
STATUS_BODY = re.compile(
    rb'^\{"data":\{"totara_webapi_status":\{"status":"ok","timestamp":"\d+",'
    rb'"date":"\d\d/\d\d/\d{4}"\}\}\}$'
)
INTERNAL = b'{"errors":[{"message":"Internal server error","extensions":{"category":"internal"}}],"error":"Internal server error"}'  # noqa: E501
REQUIRE_REFRESH = b'{"errors":[{"message":"Invalid sesskey, page reload required","extensions":{"category":"require_refresh"}}],"error":"Invalid sesskey, page reload required"}'  # noqa: E501
REQUIRE_LOGIN = b'{"errors":[{"message":"Invalid sesskey, page reload required","extensions":{"category":"require_login"}}],"error":"Invalid sesskey, page reload required"}'  # noqa: E501
ONLY_POST = b'{"errors":[{"message":"Invalid webapi request, only POST method is allowed"}],"error":"Invalid webapi request, only POST method is allowed"}'  # noqa: E501
LANG_EDIT = b'{"data":{"lang_strings":[{"lang":"en","identifier":"edit","component":"core","string":"Edit"}]}}'  # noqa: E501
STATUS = {"operationName": "totara_webapi_status", "variables": {}}


@pytest.fixture(params=["", "/totara"], ids=["root", "sub-path"])
def make_totara_site(
    request: pytest.FixtureRequest, make_totara_site: Callable[..., DevSite]
) -> Callable[..., DevSite]:
    """Every protocol test runs twice: a site at the root, and one installed in a folder."""

    def make(*args: object, **options: object) -> DevSite:
        return make_totara_site(*args, **{"path": request.param, **options})

    return make


@pytest.fixture
def site(make_totara_site: Callable[..., DevSite]) -> DevSite:
    return make_totara_site(
        {"alice": "pw1", "bob": "bob's pw with spaces & $(symbols)"}, cookie_suffix="abc"
    )


def cookie_re(site: DevSite) -> str:
    """The exact Set-Cookie of a session cookie on this site."""
    return rf"TotaraSessionabc=[0-9a-v]{{26}}; path={re.escape(site.cookie_path)}; HttpOnly"


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(follow_redirects=False, timeout=10) as client:
        yield client


def sesskey_of(page: httpx.Response) -> str:
    found = SESSKEY_RE.search(page.text)
    assert found, "no M.cfg sesskey in the page"
    return found.group(1)


def body_classes(page: httpx.Response) -> list[str]:
    found = re.search(r'<body [^>]*class="([^"]*)"', page.text)
    assert found
    return found.group(1).split()


def log_in(http: httpx.Client, site: DevSite, user: str, password: str) -> tuple[str, str]:
    """The browser's conversation, step by step; returns (cookie value, sesskey)."""
    form = http.get(f"{site.url}/login/index.php")
    token = re.search(r'name="logintoken" value="([^"]+)"', form.text)
    assert token
    posted = http.post(
        f"{site.url}/login/index.php",
        data={"username": user, "password": password, "logintoken": token.group(1), "anchor": ""},
    )
    assert posted.status_code == 303
    test = http.get(posted.headers["location"])
    assert test.status_code == 303
    landing = http.get(test.headers["location"])
    assert landing.status_code == 200
    return http.cookies[site.cookie_name], sesskey_of(landing)


def ajax(http: httpx.Client, site: DevSite, payload: object, **headers: str) -> httpx.Response:
    return http.post(f"{site.url}/totara/webapi/ajax.php", json=payload, headers=headers)


# -- login page and login conversation ---------------------------------------------------------
def test_login_page_sets_anonymous_cookie_and_logintoken_equal_to_sesskey(
    site: DevSite, http: httpx.Client
) -> None:
    page = http.get(f"{site.url}/login/index.php")
    assert page.status_code == 200
    set_cookie = page.headers["set-cookie"]
    assert re.fullmatch(cookie_re(site), set_cookie)
    for marker in (
        '<form class="loginform"',
        'id="login"',
        'id="username"',
        'id="password"',
        'id="loginbtn"',
        'name="anchor"',
    ):
        assert marker in page.text
    token = re.search(r'name="logintoken" value="([^"]+)"', page.text)
    assert token and token.group(1) == sesskey_of(page)
    assert re.fullmatch(r"[A-Za-z0-9]{10}", sesskey_of(page))
    assert "notloggedin" in body_classes(page)
    assert '"wwwroot":"http:\\/\\/127.0.0.1:' in page.text  # PHP's json_encode escapes slashes


def test_good_login_is_303_testsession_303_landing_with_new_cookie_and_sesskey(
    site: DevSite, http: httpx.Client
) -> None:
    form = http.get(f"{site.url}/login/index.php")
    anonymous, token = http.cookies["TotaraSessionabc"], sesskey_of(form)
    posted = http.post(
        f"{site.url}/login/index.php",
        data={"username": "alice", "password": "pw1", "logintoken": token, "anchor": ""},
    )
    assert posted.status_code == 303
    assert posted.headers["location"] == f"{site.url}/login/index.php?testsession=2"
    assert "TotaraSessionabc=" in posted.headers["set-cookie"]
    assert http.cookies["TotaraSessionabc"] != anonymous
    test = http.get(posted.headers["location"])
    assert test.status_code == 303
    assert test.headers["location"] == f"{site.url}/totara/dashboard/"
    landing = http.get(test.headers["location"])
    assert landing.status_code == 200
    assert "notloggedin" not in body_classes(landing)
    assert sesskey_of(landing) != token
    assert f"/login/logout.php?sesskey={sesskey_of(landing)}" in landing.text


@pytest.mark.parametrize(
    ("user", "password"), [("alice", "wrong"), ("nobody", "pw1"), ("alice", "")]
)
def test_failed_login_redirects_to_login_page_with_invalid_login(
    site: DevSite, http: httpx.Client, user: str, password: str
) -> None:
    token = sesskey_of(http.get(f"{site.url}/login/index.php"))
    posted = http.post(
        f"{site.url}/login/index.php",
        data={"username": user, "password": password, "logintoken": token},
    )
    assert posted.status_code == 303
    assert posted.headers["location"] == f"{site.url}/login/index.php"
    page = http.get(posted.headers["location"])
    assert re.search(
        r'<div id="loginerrormessage"[^>]*>Invalid login, please try again</div>', page.text
    )
    assert "notloggedin" in body_classes(page)


def test_bad_logintoken_gives_the_login_session_error(site: DevSite, http: httpx.Client) -> None:
    http.get(f"{site.url}/login/index.php")
    posted = http.post(
        f"{site.url}/login/index.php",
        data={"username": "alice", "password": "pw1", "logintoken": "wrongtoken"},
    )
    assert posted.status_code == 303
    page = http.get(posted.headers["location"])
    assert (
        "A server error that affects your login session was detected. "
        "Please log in again or restart your browser." in page.text
    )


def test_lockout_after_threshold_failures_refuses_the_right_password(
    make_totara_site: Callable[..., DevSite], http: httpx.Client
) -> None:
    site = make_totara_site({"alice": "pw1"}, lockout_threshold=3)
    for _ in range(3):
        token = sesskey_of(http.get(f"{site.url}/login/index.php"))
        http.post(
            f"{site.url}/login/index.php",
            data={"username": "alice", "password": "bad", "logintoken": token},
        )
    token = sesskey_of(http.get(f"{site.url}/login/index.php"))
    posted = http.post(
        f"{site.url}/login/index.php",
        data={"username": "alice", "password": "pw1", "logintoken": token},
    )
    assert posted.headers["location"] == f"{site.url}/login/index.php"
    assert "Invalid login, please try again" in http.get(posted.headers["location"]).text


def test_login_page_while_logged_in_shows_already_logged_in_without_form(
    site: DevSite, http: httpx.Client
) -> None:
    log_in(http, site, "alice", "pw1")
    page = http.get(f"{site.url}/login/index.php")
    assert "You are already logged in" in page.text
    assert 'id="login"' not in page.text


def test_dashboard_needs_login(site: DevSite, http: httpx.Client) -> None:
    page = http.get(f"{site.url}/totara/dashboard/")
    assert page.status_code == 303
    assert page.headers["location"] == f"{site.url}/login/index.php"


# -- ajax.php, row by row ----------------------------------------------------------------------
def test_ajax_good_cookie_and_sesskey(site: DevSite, http: httpx.Client) -> None:
    _, sesskey = log_in(http, site, "alice", "pw1")
    answer = ajax(http, site, STATUS, **{"X-Totara-Sesskey": sesskey})
    assert answer.status_code == 200
    assert STATUS_BODY.match(answer.content)
    assert answer.headers["content-type"] == "application/json; charset=utf-8"
    assert "no-cache" in answer.headers["cache-control"]
    assert "set-cookie" not in answer.headers


def test_ajax_status_date_is_today(site: DevSite, http: httpx.Client) -> None:
    _, sesskey = log_in(http, site, "alice", "pw1")
    data = ajax(http, site, STATUS, **{"X-Totara-Sesskey": sesskey}).json()["data"]
    stamp = int(data["totara_webapi_status"]["timestamp"])
    assert abs(stamp - time.time()) < 60
    assert data["totara_webapi_status"]["date"] == time.strftime("%d/%m/%Y", time.gmtime(stamp))


def test_ajax_good_cookie_without_sesskey_is_internal(site: DevSite, http: httpx.Client) -> None:
    log_in(http, site, "alice", "pw1")
    answer = ajax(http, site, STATUS)
    assert (answer.status_code, answer.content) == (200, INTERNAL)


def test_ajax_good_cookie_wrong_sesskey_is_require_refresh(
    site: DevSite, http: httpx.Client
) -> None:
    log_in(http, site, "alice", "pw1")
    answer = ajax(http, site, STATUS, **{"X-Totara-Sesskey": "wrongwrong"})
    assert (answer.status_code, answer.content) == (200, REQUIRE_REFRESH)


@pytest.mark.parametrize("cookie", ["deadbeefdeadbeefdeadbeef00", "", "x"])
def test_ajax_dead_cookie_is_require_login_and_sets_fresh_anonymous_cookie(
    site: DevSite, cookie: str
) -> None:
    with httpx.Client(timeout=10) as fresh:
        answer = fresh.post(
            f"{site.url}/totara/webapi/ajax.php",
            json=STATUS,
            headers={"Cookie": f"TotaraSessionabc={cookie}", "X-Totara-Sesskey": "abcdefghij"},
        )
    assert (answer.status_code, answer.content) == (200, REQUIRE_LOGIN)
    assert re.fullmatch(cookie_re(site), answer.headers["set-cookie"])


def test_ajax_logged_out_cookie_is_require_login(site: DevSite, http: httpx.Client) -> None:
    cookie, sesskey = log_in(http, site, "alice", "pw1")
    out = http.get(f"{site.url}/login/logout.php", params={"sesskey": sesskey})
    assert out.status_code == 303
    assert out.headers["location"] == f"{site.url}/"
    assert http.cookies["TotaraSessionabc"] != cookie
    with httpx.Client(timeout=10) as old:
        answer = old.post(
            f"{site.url}/totara/webapi/ajax.php",
            json=STATUS,
            headers={"Cookie": f"TotaraSessionabc={cookie}", "X-Totara-Sesskey": sesskey},
        )
    assert answer.content == REQUIRE_LOGIN


def test_logout_without_sesskey_asks_for_confirmation(site: DevSite, http: httpx.Client) -> None:
    _, sesskey = log_in(http, site, "alice", "pw1")
    page = http.get(f"{site.url}/login/logout.php")
    assert page.status_code == 200
    assert "Do you really want to log out?" in page.text
    assert STATUS_BODY.match(ajax(http, site, STATUS, **{"X-Totara-Sesskey": sesskey}).content)


def test_ajax_no_cookie_no_header_is_internal(site: DevSite) -> None:
    with httpx.Client(timeout=10) as fresh:
        answer = fresh.post(f"{site.url}/totara/webapi/ajax.php", json=STATUS)
    assert (answer.status_code, answer.content) == (200, INTERNAL)


def test_ajax_lang_strings_nosession_without_cookie(site: DevSite) -> None:
    with httpx.Client(timeout=10) as fresh:
        answer = fresh.post(
            f"{site.url}/totara/webapi/ajax.php",
            json={
                "operationName": "core_lang_strings_nosession",
                "variables": {"lang": "en", "ids": ["edit, core"]},
            },
        )
    assert (answer.status_code, answer.content) == (200, LANG_EDIT)
    assert "set-cookie" not in answer.headers  # no session is used at all


def test_ajax_status_nosession_without_cookie(site: DevSite) -> None:
    with httpx.Client(timeout=10) as fresh:
        answer = fresh.post(
            f"{site.url}/totara/webapi/ajax.php",
            json={"operationName": "totara_webapi_status_nosession", "variables": {}},
        )
    assert answer.status_code == 200
    assert STATUS_BODY.match(answer.content)


@pytest.mark.parametrize(
    "payload",
    [
        {"operationName": "no_such_operation", "variables": {}},
        {"operationName": "Bad-Name", "variables": {}},
        {"query": "{ totara_webapi_status { status } }"},
        {"operationName": "totara_webapi_status", "query": "{ x }", "variables": {}},
    ],
)
def test_ajax_unknown_operation_or_raw_query_is_internal(
    site: DevSite, http: httpx.Client, payload: dict[str, object]
) -> None:
    _, sesskey = log_in(http, site, "alice", "pw1")
    answer = ajax(http, site, payload, **{"X-Totara-Sesskey": sesskey})
    assert (answer.status_code, answer.content) == (200, INTERNAL)


def test_ajax_get_is_400(site: DevSite, http: httpx.Client) -> None:
    answer = http.get(f"{site.url}/totara/webapi/ajax.php")
    assert (answer.status_code, answer.content) == (400, ONLY_POST)
    assert answer.headers["content-type"] == "application/json; charset=utf-8"


def test_ajax_batch_is_answered_as_array_in_order(site: DevSite, http: httpx.Client) -> None:
    _, sesskey = log_in(http, site, "alice", "pw1")
    answer = ajax(
        http,
        site,
        [
            {"operationName": "totara_job_my_assignments", "variables": {}},
            {"operationName": "no_such_operation", "variables": {}},
            STATUS,
        ],
        **{"X-Totara-Sesskey": sesskey},
    )
    first, second, third = answer.json()
    assert first["data"]["totara_job_my_assignments"][0]["idnumber"] == "alice"
    assert json.dumps(second, separators=(",", ":")).encode() == INTERNAL
    assert third["data"]["totara_webapi_status"]["status"] == "ok"


def test_ajax_sesskey_query_parameter_is_accepted(site: DevSite, http: httpx.Client) -> None:
    _, sesskey = log_in(http, site, "alice", "pw1")
    answer = http.post(
        f"{site.url}/totara/webapi/ajax.php", params={"sesskey": sesskey}, json=STATUS
    )
    assert STATUS_BODY.match(answer.content)


def test_user_operation_returns_that_users_data(site: DevSite, http: httpx.Client) -> None:
    _, sesskey = log_in(http, site, "bob", site.state.users["bob"].password)
    answer = ajax(
        http,
        site,
        {"operationName": "totara_job_my_assignments", "variables": {}},
        **{"X-Totara-Sesskey": sesskey},
    )
    assert answer.json()["data"]["totara_job_my_assignments"][0]["idnumber"] == "bob"


def test_status_proves_only_the_pair_a_user_operation_needs_a_login(
    site: DevSite, http: httpx.Client
) -> None:
    anonymous_sesskey = sesskey_of(http.get(f"{site.url}/login/index.php"))
    headers = {"X-Totara-Sesskey": anonymous_sesskey}
    assert STATUS_BODY.match(ajax(http, site, STATUS, **headers).content)
    answer = ajax(
        http, site, {"operationName": "totara_job_my_assignments", "variables": {}}, **headers
    )
    assert answer.json()["errors"][0]["extensions"]["category"] == "require_login"


# -- session lifetime --------------------------------------------------------------------------
def test_session_times_out_on_the_server(make_totara_site: Callable[..., DevSite]) -> None:
    site = make_totara_site({"alice": "pw1"}, session_timeout=0.5)
    with httpx.Client(follow_redirects=False, timeout=10) as http:
        _, sesskey = log_in(http, site, "alice", "pw1")
        time.sleep(0.8)
        answer = ajax(http, site, STATUS, **{"X-Totara-Sesskey": sesskey})
    assert answer.content == REQUIRE_LOGIN
    assert "set-cookie" in answer.headers


def test_requests_keep_a_session_alive(make_totara_site: Callable[..., DevSite]) -> None:
    site = make_totara_site({"alice": "pw1"}, session_timeout=2.0)
    with httpx.Client(follow_redirects=False, timeout=10) as http:
        _, sesskey = log_in(http, site, "alice", "pw1")
        # 3 s in all, beyond the timeout; idle 0.25 s at a time, far below it even on a
        # loaded machine (a request that took a second would still leave the session alive)
        for _ in range(12):
            time.sleep(0.25)
            answer = ajax(http, site, STATUS, **{"X-Totara-Sesskey": sesskey})
            assert STATUS_BODY.match(answer.content)


def test_concurrent_requests_are_all_answered(site: DevSite) -> None:
    with httpx.Client(follow_redirects=False, timeout=10) as http:
        cookie, sesskey = log_in(http, site, "alice", "pw1")
    results: list[bytes] = []

    def call() -> None:
        with httpx.Client(timeout=10) as client:
            answer = client.post(
                f"{site.url}/totara/webapi/ajax.php",
                json=STATUS,
                headers={"Cookie": f"TotaraSessionabc={cookie}", "X-Totara-Sesskey": sesskey},
            )
            results.append(answer.content)

    threads = [threading.Thread(target=call) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 20 and all(STATUS_BODY.match(r) for r in results)


def test_access_log_has_one_line_per_request_and_no_sesskey(
    site: DevSite, http: httpx.Client
) -> None:
    _, sesskey = log_in(http, site, "alice", "pw1")
    http.post(f"{site.url}/totara/webapi/ajax.php", params={"sesskey": sesskey}, json=STATUS)
    assert len(site.access_log) == 5
    assert site.count("POST", "/login/index.php") == 1
    assert not any(sesskey in line for line in site.access_log)
    assert "sesskey=[redacted]" in site.access_log[-1]


# -- the operations: real Totara ones only ------------------------------------------------------
def test_the_real_operations_answer_in_their_definitions_shapes(
    site: DevSite, http: httpx.Client
) -> None:
    _, sesskey = log_in(http, site, "alice", "pw1")
    headers = {"X-Totara-Sesskey": sesskey}
    learning = ajax(http, site, {"operationName": "totara_core_my_current_learning"}, **headers)
    assert learning.json() == {"data": {"totara_core_my_current_learning": []}}
    draft = ajax(http, site, {"operationName": "core_file_unused_draft_item_id"}, **headers)
    assert isinstance(draft.json()["data"]["item_id"], int)
    template = {"name": "loading", "component": "core", "theme": "ventura"}
    answer = ajax(http, site, {"operationName": "core_template_nosession", "variables": template})
    assert answer.json()["data"]["template"].startswith("<span")


def test_a_name_totara_does_not_have_is_answered_as_totara_answers_it(
    site: DevSite, http: httpx.Client
) -> None:
    _, sesskey = log_in(http, site, "alice", "pw1")
    for name in ("core_user_own_profile", "no_such_operation"):
        payload = {"operationName": name, "variables": {}}
        answer = ajax(http, site, payload, **{"X-Totara-Sesskey": sesskey})
        assert answer.content == INTERNAL


def documented_text() -> str:
    """What a user reads and copies from: the README, every docs page, and the demo's code."""
    from pathlib import Path

    from harvester import demo

    from .test_docs import PAGES

    return "".join(page.read_text() for page in PAGES) + Path(demo.__file__).read_text()


def test_every_operation_the_readme_and_the_demo_name_is_one_the_bundled_site_answers() -> None:
    """Each name a user copies from us must work on the bundled site (and is a real Totara
    operation: the site answers real ones only)."""
    from harvester import demo
    from harvester.devsite.webapi import OPERATIONS

    text = documented_text()
    named = set(re.findall(r"harvest request ([a-z][a-z0-9_]+)", text))
    named |= set(re.findall(r'"operationName": ?"([a-z][a-z0-9_]+)"', text))
    named |= set(re.findall(r'(?:call|request)\(\[?\(?"([a-z][a-z0-9_]+)"', text))
    named |= set(re.findall(r'\("([a-z][a-z0-9_]+)", (?:None|\{)', text))
    named.add(demo.USER_OPERATION)
    assert named, "no operation names found"
    assert named <= set(OPERATIONS), named - set(OPERATIONS)


def test_every_operation_the_readme_the_demo_and_the_site_name_is_in_the_catalogue() -> None:
    from harvester import demo
    from harvester.devsite.webapi import OPERATIONS
    from harvester.operations.catalogue import shipped

    text = documented_text()
    named = set(re.findall(r"harvest (?:request|curl) ([a-z][a-z0-9_]+)", text))
    named |= set(re.findall(r'"operationName": ?"([a-z][a-z0-9_]+)"', text))
    named |= set(OPERATIONS) | {demo.USER_OPERATION}
    assert named - set(shipped().operations) == set()
