"""The library without the CLI: values, the store on the real keyring, the login API."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import keyring
import pytest

import harvester
from harvester.devsite import DevSite
from harvester.errors import KeyringUnavailable, LoginRefused, NoSession, UsageError
from harvester.redact import redact, register
from harvester.site.wwwroot import normalize_wwwroot
from harvester.store import keyring_access
from harvester.store.session import Session
from harvester.store.sessions import SessionStore

from .conftest import ALICE_PASSWORD


def make_session(wwwroot: str = "https://lms.example.com", **changes: object) -> Session:
    values: dict[str, object] = {
        "wwwroot": wwwroot,
        "user": "alice",
        "cookie_name": "TotaraSessionabc",
        "cookie_value": "c00kievalue1234567890",
        "sesskey": "h30yaFaWsE",
        "obtained_at": 1.0,
    }
    values.update(changes)
    return Session(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("given", "wwwroot"),
    [
        ("https://LMS.example.com/", "https://lms.example.com"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("https://example.com/totara/", "https://example.com/totara"),
        ("https://example.com/totara/login/index.php", "https://example.com/totara"),
        ("http://[::1]:8000/", "http://[::1]:8000"),
    ],
)
def test_wwwroot_is_canonical(given: str, wwwroot: str) -> None:
    assert normalize_wwwroot(given) == wwwroot


@pytest.mark.parametrize("bad", ["", "lms.example.com", "ftp://x", "https://u:p@x.example"])
def test_bad_site_urls_are_usage_errors(bad: str) -> None:
    with pytest.raises(UsageError):
        normalize_wwwroot(bad)


def test_session_repr_and_redacted_view_hide_secrets() -> None:
    session = make_session()
    for text in (repr(session), str(session), json.dumps(session.redacted())):
        assert "c00kievalue1234567890" not in text and "h30yaFaWsE" not in text
    assert session.cookie_header == "TotaraSessionabc=c00kievalue1234567890"


def test_session_secret_round_trips_in_the_design_layout() -> None:
    session = make_session(verified_at=2.5)
    data = json.loads(session.to_secret())
    assert data == {
        "v": 2,
        "cookie_name": "TotaraSessionabc",
        "cookie_value": "c00kievalue1234567890",
        "sesskey": "h30yaFaWsE",
        "wwwroot": "https://lms.example.com",
        "obtained_at": 1.0,
        "verified_at": 2.5,
        "cookie": {  # derived: the session was made by hand, not by a browser
            "domain": "lms.example.com",
            "host_only": True,
            "path": "/",
            "secure": True,
            "http_only": True,
            "same_site": "Lax",
            "expires": None,
        },
    }
    loaded = Session.from_secret("alice", session.to_secret())
    assert loaded.cookie == session.cookie and loaded.cookie_value == session.cookie_value


def test_a_version_1_secret_reads_with_attributes_derived_from_the_wwwroot() -> None:
    old = {
        "v": 1,
        "cookie_name": "TotaraSession",
        "cookie_value": "c00kievalue1234567890",
        "sesskey": "h30yaFaWsE",
        "wwwroot": "http://lms.example.com:8080/totara",
        "obtained_at": 1.0,
        "verified_at": None,
    }
    session = Session.from_secret("alice", json.dumps(old))
    assert session.cookie.path == "/totara/" and session.cookie.domain == "lms.example.com"
    assert not session.cookie.secure and session.cookie.host_only
    assert json.loads(session.to_secret())["v"] == 2  # written as version 2


@pytest.mark.parametrize(
    "damaged",
    ["not json", '{"v": 2}', "[]", '{"v": 1, "sesskey": "x"}', '{"v": 3, "sesskey": "x"}'],
)
def test_a_damaged_entry_is_no_session_and_never_echoed(damaged: str) -> None:
    with pytest.raises(NoSession) as caught:
        Session.from_secret("alice", damaged)
    assert damaged not in str(caught.value)
    assert "harvest login" in str(caught.value)


def test_redact_masks_registered_secrets() -> None:
    register("supersecretvalue", "ab")  # too short values are ignored
    assert redact("x supersecretvalue y ab") == "x [redacted] y ab"


def test_store_saves_loads_and_deletes_on_the_real_keyring(tmp_path: Path) -> None:
    store = SessionStore(tmp_path)
    session = make_session(f"http://store-test-{time.time_ns()}.invalid")
    store.save(session)
    assert store.load(session.wwwroot, "alice") == session
    raw = keyring.get_password(f"harvester:session:{session.wwwroot}", "alice")
    assert raw is not None and json.loads(raw)["sesskey"] == "h30yaFaWsE"
    [entry] = store.entries()
    assert (entry.wwwroot, entry.user, entry.cookie_name) == (
        session.wwwroot,
        "alice",
        "TotaraSessionabc",
    )
    index = store.index_file.read_text()
    assert "c00kievalue" not in index and "h30yaFaWsE" not in index
    assert store.index_file.stat().st_mode & 0o077 == 0
    assert store.delete(session.wwwroot, "alice") is True
    assert store.load(session.wwwroot, "alice") is None
    assert store.entries() == []


def test_corrupted_keyring_entry_reads_as_no_session(tmp_path: Path) -> None:
    wwwroot = f"http://corrupt-{time.time_ns()}.invalid"
    keyring.set_password(f"harvester:session:{wwwroot}", "alice", "{not json")
    with pytest.raises(NoSession):
        SessionStore(tmp_path).load(wwwroot, "alice")


def test_a_hanging_keyring_gives_up_after_the_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    def hang() -> None:
        time.sleep(30)

    monkeypatch.setenv("HARVEST_KEYRING_TIMEOUT", "0.2")
    monkeypatch.setattr(keyring_access, "_backend", hang)
    with pytest.raises(KeyringUnavailable, match=r"did not answer within 0\.2 s"):
        keyring_access.get_secret("s", "u")


def test_bad_keyring_timeout_value_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARVEST_KEYRING_TIMEOUT", "soon")
    with pytest.raises(UsageError):
        keyring_access.keyring_timeout()


def test_login_api_from_python(site: DevSite, tmp_path: Path) -> None:
    store = SessionStore(tmp_path)
    session = harvester.login(site.url, "alice", ALICE_PASSWORD, store=store)
    assert session.cookie_name == "TotaraSessionabc"
    assert session.verified_at is not None
    assert store.load(site.url, "alice") == session


def test_login_api_wrong_password_raises_login_refused(site: DevSite, tmp_path: Path) -> None:
    with pytest.raises(LoginRefused) as caught:
        harvester.login(site.url, "alice", "not-the-password", store=SessionStore(tmp_path))
    assert "not-the-password" not in str(caught.value)
    assert SessionStore(tmp_path).entries() == []


def test_pytest_plugin_fixture_gives_a_running_site(totara_site: DevSite) -> None:
    import httpx

    answer = httpx.post(
        f"{totara_site.url}/totara/webapi/ajax.php",
        timeout=10,
        json={"operationName": "totara_webapi_status_nosession", "variables": {}},
    )
    assert answer.json()["data"]["totara_webapi_status"]["status"] == "ok"
    assert "alice" in totara_site.state.users


@pytest.mark.parametrize(
    ("given", "wwwroot"),
    [
        ("http://lms.example.com:80/", "http://lms.example.com"),
        ("https://lms.example.com:443/totara/", "https://lms.example.com/totara"),
        ("HTTP://LMS.EXAMPLE.COM", "http://lms.example.com"),
        ("https://bücher.example/lms", "https://xn--bcher-kva.example/lms"),
        ("https://xn--bcher-kva.example/lms", "https://xn--bcher-kva.example/lms"),
        ("http://lms.example.com:8080", "http://lms.example.com:8080"),
    ],
)
def test_one_site_has_one_wwwroot(given: str, wwwroot: str) -> None:
    assert normalize_wwwroot(given) == wwwroot


@pytest.mark.parametrize(
    ("url", "wwwroot", "expected"),
    [
        ("http://h/totara/login/index.php", "http://h:80/totara", True),
        ("http://H:80/totara", "http://h/totara", True),
        ("http://h/totarax/login/index.php", "http://h/totara", False),
        ("http://h/other/", "http://h/totara", False),
        ("https://h/totara/", "http://h/totara", False),
        ("http://h:8080/", "http://h", False),
    ],
)
def test_a_page_is_on_the_site_by_origin_and_folder(url: str, wwwroot: str, expected: bool) -> None:
    from harvester.site.wwwroot import on_site

    assert on_site(url, wwwroot) is expected


@pytest.mark.parametrize(
    "bad", ["http://h:99999", "http://h:port", "http://[::1", "ftp://bob:s3cret@h", "http://h:0"]
)
def test_urls_that_do_not_parse_are_one_usage_error_without_credentials(bad: str) -> None:
    with pytest.raises(UsageError) as caught:
        normalize_wwwroot(bad)
    assert "s3cret" not in caught.value.message


def test_requests_stays_optional_until_its_auth_object_is_asked_for() -> None:
    code = (
        "import sys, harvester.handoff.auth, harvester.handoff.client\n"
        "import harvester.devsite.pytest_plugin\n"
        "assert 'requests' not in sys.modules\n"
        "from harvester import TotaraRequestsAuth\n"
        "assert 'requests' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
