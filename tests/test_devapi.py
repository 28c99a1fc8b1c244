"""The developer API through the real `harvest`: query text and the schema on a bundled site in
developer mode, and one clear line (exit 5, never a dead session) on a site that is not."""

from __future__ import annotations

import json
import stat
from collections.abc import Callable
from pathlib import Path

from harvester.devsite import DevSite

from .conftest import ALICE_PASSWORD, HarvestRunner


def test_query_and_schema_work_in_developer_mode(
    make_totara_site: Callable[..., DevSite], harvest: HarvestRunner, tmp_path: Path
) -> None:
    site = make_totara_site({"alice": ALICE_PASSWORD}, dev_mode=True)
    assert harvest.login(site.url).code == 0
    text = "{ core_user_self { username fullname } totara_webapi_status { status } }"
    answer = harvest("query", text, "--user", "alice", "--site", site.url)
    assert answer.code == 0, answer.err
    data = json.loads(answer.out)["data"]
    assert data["core_user_self"] == {"username": "alice", "fullname": "Alice Example"}
    query_file = tmp_path / "q.graphql"
    query_file.write_text("query q($i: String!) { core_lang_string(identifier: $i) }")
    by_file = harvest(
        "query", f"@{query_file}", "--variables", '{"i": "edit"}', "--user", "alice",
        "--site", site.url,
    )  # fmt: skip
    assert json.loads(by_file.out) == {"data": {"core_lang_string": "Edit"}}
    before = site.count("POST", "/totara/webapi/dev_graphql_executor.php")
    broken = harvest("query", "{ core_user_self { username", "--user", "alice", "--site", site.url)
    assert broken.code == 2 and "not GraphQL" in broken.err and "line 1" in broken.err
    assert site.count("POST", "/totara/webapi/dev_graphql_executor.php") == before  # unsent
    out = tmp_path / "totara.graphqls"
    saved = harvest("schema", "--site", site.url, "--output", str(out))
    assert saved.code == 0, saved.err
    assert "type Query" in out.read_text() and stat.S_IMODE(out.stat().st_mode) == 0o600


def test_a_site_not_in_developer_mode_says_so_in_one_line(
    make_totara_site: Callable[..., DevSite], harvest: HarvestRunner
) -> None:
    site = make_totara_site({"alice": ALICE_PASSWORD})
    assert harvest.login(site.url).code == 0
    for args in (
        ("query", "{ totara_webapi_status { status } }", "--user", "alice", "--site", site.url),
        ("schema", "--site", site.url),
    ):
        result = harvest(*args)
        assert result.code == 5, result.err
        assert result.err.count("\n") == 1 and "not in GraphQL developer mode" in result.err
        assert "expired" not in result.err and "harvest login" not in result.err
