"""Site aliases, configured identity-provider logins, required-action pages and maintenance,
through the real `harvest` executable, real Chromium and the real keyring."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import keyring

from harvester.devsite import DevSite

from .conftest import ALICE_PASSWORD, HarvestRunner

IDP_STEPS = [
    "--step",
    "click:.potentialidp a",
    "--step",
    "fill:#idp-username:{username}",
    "--step",
    "click:#idp-next",
    "--step",
    "fill:#idp-password:{password}",
    "--step",
    "click:#idp-signin",
    "--error-selector",
    "#idp-error",
]


def stored(site: DevSite, user: str = "alice") -> str | None:
    return keyring.get_password(f"harvester:session:{site.url}", user)


def test_an_alias_works_with_login_env_request_and_refresh(
    harvest: HarvestRunner, site: DevSite
) -> None:
    added = harvest("site", "add", "lms", "--url", site.url + "/", "--default-user", "alice")
    assert added.code == 0, added.err
    assert "Site lms is " + site.url in added.out

    login = harvest("login", "--site", "lms", "--password-stdin", input=f"{ALICE_PASSWORD}\n")
    assert login.code == 0, login.err  # the user came from default_user
    env = harvest("env", "--site", "lms", "--format", "json")
    assert env.code == 0, env.err
    assert json.loads(env.out)["TOTARA_WWWROOT"] == site.url
    answer = harvest("request", "totara_job_my_assignments", "--site", "lms")
    assert answer.code == 0, answer.err
    assert json.loads(answer.out)["data"]["totara_job_my_assignments"][0]["idnumber"] == "alice"
    refreshed = harvest("refresh", "--site", "lms", "--all")
    assert refreshed.code == 0, refreshed.err
    assert "alice at " + site.url + ": alive" in refreshed.out

    listed = harvest("site", "list", "--json")
    assert [row["alias"] for row in json.loads(listed.out)] == ["lms"]
    removed = harvest("site", "remove", "lms")
    assert removed.code == 0, removed.err
    gone = harvest("env", "--site", "lms")
    assert gone.code == 2
    assert "unknown site alias 'lms'" in gone.err


def test_site_add_keeps_a_persons_comments_and_default_site_applies(
    harvest: HarvestRunner, site: DevSite, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text("# my sites, do not lose this comment\n")
    assert harvest("site", "add", "prod", "--url", site.url, "--default").code == 0
    text = config.read_text()
    assert "# my sites, do not lose this comment" in text
    assert 'default_site = "prod"' in text
    login = harvest.login("")  # --site "" → default_site
    assert login.code == 0, login.err
    assert stored(site) is not None


def test_a_config_syntax_error_names_the_file_and_line(
    harvest: HarvestRunner, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[sites.lms]\nurl = "http://127.0.0.1:1"\ncookie_name "x"\n')
    result = harvest("env", "--user", "alice", "--site", "lms")
    assert result.code == 2
    assert result.err.count("\n") == 1
    assert f"{config}: line 3" in result.err


def test_a_config_with_an_unknown_key_names_the_file_line_and_key(
    harvest: HarvestRunner, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text('# x\n[sites.lms]\nurl = "http://127.0.0.1:1"\nusername_selektor = "#u"\n')
    result = harvest("env", "--user", "alice", "--site", "lms")
    assert result.code == 2
    assert f"{config} line 2" in result.err and "username_selektor" in result.err


def test_an_unknown_alias_is_a_usage_error(harvest: HarvestRunner) -> None:
    result = harvest("env", "--user", "alice", "--site", "nosuch")
    assert result.code == 2
    assert "unknown site alias 'nosuch'" in result.err
    assert "harvest site add nosuch --url URL" in result.err


def test_configured_identity_provider_steps_log_in_headless_and_through_refresh(
    harvest: HarvestRunner, make_totara_site: Callable[..., DevSite]
) -> None:
    sso = make_totara_site({"alice": ALICE_PASSWORD}, idp="button", session_timeout=3600)
    added = harvest("site", "add", "sso", "--url", sso.url, *IDP_STEPS)
    assert added.code == 0, added.err
    login = harvest(
        "login", "--site", "sso", "-u", "alice", "--password-stdin", "--save-password",
        input=f"{ALICE_PASSWORD}\n",
    )  # fmt: skip
    assert login.code == 0, login.err
    assert sso.count("POST", "/authorize") == 2  # username, then password, at the provider
    assert sso.count("POST", "/login/index.php") == 0  # never the site's own form
    assert harvest("request", "totara_job_my_assignments", "--site", "sso", "-u", "alice").code == 0

    sso.state.expire_sessions("alice")
    refreshed = harvest("refresh", "--all")
    assert refreshed.code == 0, refreshed.err
    assert "refreshed" in refreshed.out
    assert sso.count("POST", "/authorize") == 4
    answer = harvest("request", "totara_job_my_assignments", "--site", "sso", "-u", "alice")
    assert answer.code == 0, answer.err


def test_identity_provider_refusal_exits_3_and_keeps_the_stored_session(
    harvest: HarvestRunner, make_totara_site: Callable[..., DevSite]
) -> None:
    sso = make_totara_site({"alice": ALICE_PASSWORD}, idp="button")
    assert harvest("site", "add", "sso", "--url", sso.url, *IDP_STEPS).code == 0
    good = harvest("login", "--site", "sso", "-u", "alice", "--password-stdin", input="pw1\n")
    assert good.code == 0, good.err
    before = stored(sso)
    bad = harvest("login", "--site", "sso", "-u", "alice", "--password-stdin", input="nope\n")
    assert bad.code == 3, bad.err
    assert "Incorrect username or password" in bad.err
    assert "nope" not in bad.err
    assert stored(sso) == before


def test_a_login_page_that_redirects_to_an_identity_provider_asks_for_headed_or_steps(
    harvest: HarvestRunner, make_totara_site: Callable[..., DevSite]
) -> None:
    sso = make_totara_site({"alice": ALICE_PASSWORD}, idp="redirect")
    result = harvest.login(sso.url)
    assert result.code == 7
    assert "single sign-on" in result.err and "--headed" in result.err
    assert stored(sso) is None


def test_a_forced_password_change_exits_7_naming_the_page_and_stores_nothing(
    harvest: HarvestRunner, make_totara_site: Callable[..., DevSite]
) -> None:
    held = make_totara_site({"alice": ALICE_PASSWORD}, force_password_change=["alice"])
    result = harvest.login(held.url)
    assert result.code == 7, result.err
    assert "password change" in result.err and "/login/change_password.php" in result.err
    assert stored(held) is None


def test_a_site_policy_page_exits_7_and_stores_nothing(
    harvest: HarvestRunner, make_totara_site: Callable[..., DevSite]
) -> None:
    held = make_totara_site({"alice": ALICE_PASSWORD}, site_policy=["alice"])
    result = harvest.login(held.url)
    assert result.code == 7, result.err
    assert "site policy" in result.err and "/admin/tool/sitepolicy/userpolicy.php" in result.err
    assert stored(held) is None


def test_maintenance_exits_5_with_the_retry_after_and_keeps_the_stored_session(
    harvest: HarvestRunner, site: DevSite
) -> None:
    assert harvest.login(site.url).code == 0
    before = stored(site)
    site.state.maintenance = True
    result = harvest.login(site.url)
    assert result.code == 5, result.err
    assert "503" in result.err and "retry after 300 s" in result.err
    assert stored(site) == before
