"""The bundled site's test switches: identity provider, required-action pages, maintenance,
sessions ended right after their login."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import cast

import httpx
import pytest

from harvester.devsite import DevSite

from .test_devsite_protocol import INTERNAL, REQUIRE_LOGIN, STATUS_BODY, log_in, sesskey_of


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(follow_redirects=False, timeout=10) as client:
        yield client


def hidden(page: httpx.Response, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page.text)
    assert found, name
    return found.group(1)


def test_maintenance_answers_503_with_retry_after_on_every_url(
    http: httpx.Client, make_totara_site: Callable[..., DevSite]
) -> None:
    site = make_totara_site(maintenance=True)
    for method, path in [("GET", "/login/index.php"), ("POST", "/totara/webapi/ajax.php"),
                         ("GET", "/"), ("GET", "/no/such/page")]:  # fmt: skip
        answer = http.request(method, site.url + path)
        assert answer.status_code == 503
        assert answer.headers["retry-after"] == "300"
        assert answer.headers["content-type"] == "text/html; charset=utf-8"
        assert "Site under maintenance" in answer.text
    site.state.maintenance = False
    assert http.get(site.url + "/login/index.php").status_code == 200


def test_a_forced_password_change_holds_the_user_on_that_page(
    http: httpx.Client, make_totara_site: Callable[..., DevSite]
) -> None:
    site = make_totara_site({"alice": "pw"}, force_password_change=["alice"])
    form = http.get(f"{site.url}/login/index.php")
    posted = http.post(
        f"{site.url}/login/index.php",
        data={"username": "alice", "password": "pw", "logintoken": hidden(form, "logintoken")},
    )
    test = http.get(posted.headers["location"])
    assert test.status_code == 303
    assert test.headers["location"] == f"{site.url}/login/change_password.php"
    page = http.get(test.headers["location"])
    assert page.status_code == 200 and "You must change your password" in page.text
    sesskey = sesskey_of(page)
    dashboard = http.get(f"{site.url}/totara/dashboard/")
    assert dashboard.headers["location"] == f"{site.url}/login/change_password.php"
    ajax = f"{site.url}/totara/webapi/ajax.php"
    headers = {"X-Totara-Sesskey": sesskey}
    status = http.post(ajax, json={"operationName": "totara_webapi_status"}, headers=headers)
    assert STATUS_BODY.match(status.content)  # cookie and sesskey belong together
    profile = http.post(ajax, json={"operationName": "totara_job_my_assignments"}, headers=headers)
    assert profile.content == INTERNAL  # but the user cannot act yet


def test_a_site_policy_user_lands_on_the_policy_page(
    http: httpx.Client, make_totara_site: Callable[..., DevSite]
) -> None:
    site = make_totara_site({"alice": "pw", "bob": "pw"}, site_policy=["alice"])
    log_in(http, site, "bob", "pw")  # others are not affected
    http.cookies.clear()
    form = http.get(f"{site.url}/login/index.php")
    posted = http.post(
        f"{site.url}/login/index.php",
        data={"username": "alice", "password": "pw", "logintoken": hidden(form, "logintoken")},
    )
    test = http.get(posted.headers["location"])
    assert test.headers["location"] == f"{site.url}/admin/tool/sitepolicy/userpolicy.php"


def test_the_identity_provider_chain_ends_in_the_sites_own_session(
    http: httpx.Client, make_totara_site: Callable[..., DevSite]
) -> None:
    site = make_totara_site({"alice": "pw"}, idp="redirect", cookie_suffix="x")
    assert site.idp_url and site.idp_url != site.url
    start = http.get(f"{site.url}/login/index.php")
    assert start.status_code == 303 and "/auth/oauth2/login.php" in start.headers["location"]
    to_idp = http.get(start.headers["location"])
    assert to_idp.headers["location"].startswith(site.idp_url + "/authorize?")
    step1 = http.get(to_idp.headers["location"])
    assert 'id="idp-username"' in step1.text
    fields = {k: hidden(step1, k) for k in ("redirect_uri", "state")}
    authorize = f"{site.idp_url}/authorize"
    bad = http.post(authorize, data={**fields, "step": "password", "username": "alice"})
    assert bad.status_code == 200 and 'id="idp-error"' in bad.text
    step2 = http.post(authorize, data={**fields, "step": "username", "username": "alice"})
    assert 'id="idp-password"' in step2.text
    good = {**fields, "step": "password", "username": "alice", "password": "pw"}
    back = http.post(authorize, data=good)
    assert back.status_code == 303
    assert back.headers["location"].startswith(f"{site.url}/admin/oauth2callback.php?code=")
    callback = http.get(back.headers["location"])
    assert callback.status_code == 303 and "testsession=" in callback.headers["location"]
    assert "TotaraSessionx=" in callback.headers["set-cookie"]
    landing = http.get(http.get(callback.headers["location"]).headers["location"])
    assert landing.status_code == 200 and "notloggedin" not in landing.text
    again = http.get(back.headers["location"])  # a code works once
    assert again.headers["location"].endswith("/login/index.php?noredirect=1")
    assert not any("code=" in line and "[redacted]" not in line for line in site.access_log)


def test_the_command_line_switches_and_the_second_line() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "harvester.devsite", "--idp", "--user", "alice:pw",
         "--force-password-change", "alice", "--maintenance"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        url, idp = proc.stdout.readline().strip(), proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and idp.startswith("http://127.0.0.1:")
        assert url != idp
        assert httpx.get(url + "/", timeout=10).status_code == 503
        assert httpx.get(idp + "/authorize", timeout=10).status_code == 400
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0


def test_end_new_sessions_ends_the_first_n_logins_at_their_first_call_only() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "harvester.devsite", "--user", "alice:pw",
         "--end-new-sessions", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        site = cast(DevSite, SimpleNamespace(url=url, cookie_name="TotaraSession"))  # log_in's
        status = {"operationName": "totara_webapi_status", "variables": {}}
        with httpx.Client(follow_redirects=False, timeout=10) as http:
            _, sesskey = log_in(http, site, "alice", "pw")
            ended = http.post(
                f"{site.url}/totara/webapi/ajax.php", json=status,
                headers={"X-Totara-Sesskey": sesskey},
            )  # fmt: skip
            assert ended.content == REQUIRE_LOGIN  # Totara's words for a session that is gone
            assert "Set-Cookie" in ended.headers  # and a fresh anonymous cookie, as Totara does
        with httpx.Client(follow_redirects=False, timeout=10) as http:
            _, sesskey = log_in(http, site, "alice", "pw")
            for _ in range(2):  # the second login, and its later calls, are left alone
                kept = http.post(
                    f"{site.url}/totara/webapi/ajax.php", json=status,
                    headers={"X-Totara-Sesskey": sesskey},
                )  # fmt: skip
                assert STATUS_BODY.match(kept.content)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0


def test_a_stopped_site_ends_its_kept_alive_connections_too() -> None:
    """A site that goes down answers nothing more, not even on a connection a browser kept
    open (harvest agent's browser once logged in to a stopped site that way)."""
    import http.client

    site = DevSite({"alice": "pw1"}).start()
    connection = http.client.HTTPConnection(
        "127.0.0.1", int(site.url.rsplit(":", 1)[1]), timeout=10
    )
    try:
        connection.request("GET", "/login/index.php")
        first = connection.getresponse()
        first.read()
        assert first.status == 200 and not first.will_close  # kept alive
        site.stop()
        with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
            connection.request("GET", "/login/index.php")
            connection.getresponse()
    finally:
        connection.close()
        site.stop()
