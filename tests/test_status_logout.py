"""`harvest status` (never a secret) and `harvest logout` (ends the session on the site)."""

from __future__ import annotations

import json

import httpx
import keyring

from harvester.devsite import DevSite

from .conftest import ALICE_PASSWORD, HarvestRunner
from .test_login_cli import stored_secret

STATUS = {"operationName": "totara_webapi_status", "variables": {}}


def login(harvest: HarvestRunner, site: DevSite, *extra: str) -> dict[str, object]:
    result = harvest.login(site.url, *extra)
    assert result.code == 0, result.err
    secret = stored_secret(site)
    assert secret is not None
    return secret


def ajax_with(secret: dict[str, object], site: DevSite) -> dict[str, object]:
    answer = httpx.post(
        f"{site.url}/totara/webapi/ajax.php",
        json=STATUS,
        timeout=10,
        headers={
            "Cookie": f"{secret['cookie_name']}={secret['cookie_value']}",
            "X-Totara-Sesskey": str(secret["sesskey"]),
        },
    )
    return dict(answer.json())


def test_status_json_lists_alice_without_any_secret(site: DevSite, harvest: HarvestRunner) -> None:
    secret = login(harvest, site, "--save-password")
    result = harvest("status", "--json")
    assert result.code == 0, result.err
    [row] = json.loads(result.out)
    assert (row["site"], row["user"], row["cookie_name"]) == (site.url, "alice", "TotaraSessionabc")
    assert row["has_password"] is True and row["valid"] is None
    for value in (secret["cookie_value"], secret["sesskey"], ALICE_PASSWORD):
        assert str(value) not in result.out


def test_status_table_and_check(site: DevSite, harvest: HarvestRunner) -> None:
    secret = login(harvest, site)
    table = harvest("status")
    assert table.code == 0 and "alice" in table.out and site.url in table.out.replace("\n", "")
    checked = harvest("status", "--check", "--json")
    assert checked.code == 0, checked.err
    assert json.loads(checked.out)[0]["valid"] is True
    for output in (table.out, checked.out):
        assert str(secret["cookie_value"]) not in output and str(secret["sesskey"]) not in output


def test_status_check_reports_a_session_killed_on_the_site_as_invalid(
    site: DevSite, harvest: HarvestRunner
) -> None:
    login(harvest, site)
    site.state.kill_sessions("alice")
    result = harvest("status", "--check", "--json")
    assert result.code == 4
    [row] = json.loads(result.out)
    assert row["valid"] is False and "require_login" in row["why"]


def test_status_check_on_an_unreachable_site_says_it_cannot_tell(
    make_totara_site: type[DevSite], harvest: HarvestRunner
) -> None:
    site = make_totara_site({"alice": ALICE_PASSWORD})  # type: ignore[call-arg]
    login(harvest, site)
    site.stop()
    result = harvest("status", "--check", "--json")
    assert result.code == 5
    assert json.loads(result.out)[0]["valid"] is None


def test_logout_ends_the_session_on_the_site_and_locally(
    site: DevSite, harvest: HarvestRunner
) -> None:
    secret = login(harvest, site)
    assert ajax_with(secret, site)["data"]
    result = harvest("logout", "--user", "alice", "--site", site.url)
    assert result.code == 0, result.err
    assert "Logged alice out" in result.out
    answer = ajax_with(secret, site)
    assert answer["errors"][0]["extensions"]["category"] == "require_login"  # type: ignore[index]
    assert stored_secret(site) is None
    assert harvest("env", "--user", "alice", "--site", site.url).code == 4
    assert json.loads(harvest("status", "--json").out) == []


def test_logout_of_a_dead_session_still_removes_it_locally(
    site: DevSite, harvest: HarvestRunner
) -> None:
    login(harvest, site)
    site.state.kill_sessions("alice")
    result = harvest("logout", "--user", "alice")
    assert result.code == 0, result.err
    assert "already ended" in result.out
    assert stored_secret(site) is None


def test_logout_without_a_session_exits_4(site: DevSite, harvest: HarvestRunner) -> None:
    result = harvest("logout", "--user", "alice", "--site", site.url)
    assert result.code == 4


def test_logout_forget_password_deletes_the_saved_password(
    site: DevSite, harvest: HarvestRunner
) -> None:
    import keyring

    login(harvest, site, "--save-password")
    result = harvest("logout", "--user", "alice", "--forget-password")
    assert result.code == 0, result.err
    assert keyring.get_password(f"harvester:password:{site.url}", "alice") is None
    assert json.loads(harvest("status", "--json").out) == []


def test_logout_removes_a_damaged_entry(site: DevSite, harvest: HarvestRunner) -> None:
    keyring.set_password(f"harvester:session:{site.url}", "alice", "{not json")
    result = harvest("logout", "--user", "alice", "--site", site.url)
    assert result.code == 0, result.err
    assert "was damaged; removed it" in result.out
    assert keyring.get_password(f"harvester:session:{site.url}", "alice") is None
