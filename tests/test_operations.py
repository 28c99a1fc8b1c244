"""The operation catalogue as users meet it: `harvest operations`, completion of names, and the
checks a request passes before anything is sent (the bundled site's log is the proof)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harvester.cli import run
from harvester.cli.app import app
from harvester.devsite import DevSite
from harvester.operations import catalogue as catalogue_module
from harvester.operations.catalogue import SHIPPED, shipped

from .conftest import HarvestRunner, LoggedIn

DATA = Path(catalogue_module.__file__).parent / "data" / SHIPPED


def harvest_fast(*args: str) -> tuple[int, str, str]:
    """`harvest ARGS` in this process, through the real entry point (harvester.cli.run)."""
    runner = CliRunner()
    with runner.isolation() as (out, err, *_):
        code = run(list(args), handle_signals=False)
        sys.stdout.flush()
        sys.stderr.flush()
        return code, out.getvalue().decode(), err.getvalue().decode()


# -- the shipped catalogue -----------------------------------------------------------------------
def test_the_shipped_catalogue_is_totara_17_3_and_its_counts_hold() -> None:
    data = json.loads(DATA.read_text())
    assert (data["totara_version"], data["totara_build"]) == ("17.3", "20230130.00")
    operations = data["operations"]
    assert len(operations) == 399
    assert sum(op["type"] == "mutation" for op in operations) == 170
    assert sum(op["nosession"] for op in operations) == 10
    assert all(op["name"].startswith(op["component"] + "_") for op in operations)
    assert "query " not in DATA.read_text()  # facts only: no query text was copied
    catalogue = shipped()
    assert catalogue.label == "Totara 17.3 (Build: 20230130.00)"
    assert len(catalogue.operations) == 399 and len(catalogue.types) == len(data["types"])


# -- harvest operations (in-process: no site, no keyring) ------------------------------------------
def test_operations_searches_names_and_components() -> None:
    code, out, _err = harvest_fast("operations", "job")
    assert code == 0
    assert "totara_job_my_assignments" in out.split()
    code, out, _err = harvest_fast("operations", "job", "--mutations", "--json")
    rows = json.loads(out)["operations"]
    assert rows and all(r["type"] == "mutation" for r in rows)
    assert "totara_job_create_assignment" in {r["name"] for r in rows}
    code, out, _err = harvest_fast("operations", "--queries", "--json")
    assert all(r["type"] == "query" for r in json.loads(out)["operations"])


def test_operations_name_shows_required_variables_fields_a_skeleton_and_a_request_line() -> None:
    code, out, _err = harvest_fast("operations", "core_lang_strings_nosession")
    assert code == 0
    assert "* $lang: param_lang!" in out and "* $ids: [String!]!" in out
    assert "Run it: harvest request core_lang_strings_nosession --variables" in out
    code, out, _err = harvest_fast("operations", "totara_core_user_learning_items")
    assert "input totara_core_user_learning_items_input:" in out
    for field in ("user_id: core_id", "filters: totara_core_user_learning_items_filters"):
        assert field in out
    assert "enum totara_core_user_learning_item_type: COURSE | PROGRAM | CERTIFICATION" in out
    code, out, _err = harvest_fast("operations", "totara_core_user_learning_items", "--json")
    shown = json.loads(out)
    assert shown["skeleton"] == {"input": {}}
    assert "totara_core_user_learning_items_input" in shown["types"]


def test_an_operation_search_that_finds_nothing_says_the_closest_names() -> None:
    code, _out, err = harvest_fast("operations", "totara_job_my_assigments")
    assert code == 2 and "did you mean totara_job_my_assignments" in err


def test_operation_names_complete_through_the_completion_protocol() -> None:
    """What bash's completion function asks (COMP_WORDS, COMP_CWORD), answered in-process."""
    env = {
        "_HARVEST_COMPLETE": "complete_bash",
        "COMP_WORDS": "harvest request totara_job_",
        "COMP_CWORD": "2",
    }
    result = CliRunner().invoke(app, [], prog_name="harvest", env=env)
    offered = result.stdout.split()
    assert "totara_job_my_assignments" in offered, result.stdout
    assert all(name.startswith("totara_job_") for name in offered)


# -- checked requests, against the bundled site's log --------------------------------------------
def ajax_lines(site: DevSite) -> int:
    return sum("/totara/webapi/ajax.php" in line for line in site.access_log)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (
            ["core_lang_strings_nosession", "--variables", '{"lang": "en"}'],
            "needs the variable 'ids'",
        ),
        (
            ["core_lang_strings_nosession", "--variables", '{"lang": "en", "ids": [], "x": 1}'],
            "declares no variable 'x'",
        ),
        (
            ["core_lang_strings_nosession", "--variables", '{"lang": "en", "ids": {"a": 1}}'],
            "must be [String!]!: an object is no String",
        ),
        (["totara_core_user_learning_items", "--variables", '{"input": 5}'], "(an object)"),
        (["core/lang"], "^[a-z][a-z0-9_]+$"),
        (["core lang"], "^[a-z][a-z0-9_]+$"),
    ],
    ids=["missing", "undeclared", "object for a list", "number for an input", "slash", "space"],
)
def test_a_request_the_catalogue_refuses_is_exit_2_and_never_sent(
    logged_in: LoggedIn, args: list[str], says: str
) -> None:
    before = ajax_lines(logged_in.site)
    result = logged_in.harvest("request", *args, "--user", "alice", "--site", logged_in.url)
    assert result.code == 2, result.err
    assert says in result.err and result.err.count("\n") == 1, result.err
    assert ajax_lines(logged_in.site) == before


def test_no_check_sends_what_the_catalogue_would_refuse(logged_in: LoggedIn) -> None:
    before = ajax_lines(logged_in.site)
    result = logged_in.harvest(
        "request", "totara_webapi_status", "--variables", '{"extra": 1}', "--no-check",
        "--user", "alice", "--site", logged_in.url,
    )  # fmt: skip
    assert ajax_lines(logged_in.site) == before + 1, result.err


def test_a_misspelt_name_gets_one_warning_with_the_right_name_then_the_sites_answer(
    logged_in: LoggedIn,
) -> None:
    result = logged_in.harvest(
        "request", "totara_job_my_assigments", "--user", "alice", "--site", logged_in.url
    )
    first, second = result.err.splitlines()
    assert first.startswith("harvest: warning: totara_job_my_assigments is not an operation")
    assert "did you mean totara_job_my_assignments" in first
    assert second == "harvest: error: totara_job_my_assigments: Internal server error (internal)"
    assert result.code == 8


def test_a_batch_runs_queries_in_one_post_and_refuses_a_mutation_unsent(
    logged_in: LoggedIn, tmp_path: Path
) -> None:
    queries = [
        {"operationName": "totara_webapi_status", "variables": {}},
        {"operationName": "totara_job_my_assignments", "variables": {}},
    ]
    batch = tmp_path / "batch.json"
    batch.write_text(json.dumps(queries))
    before = ajax_lines(logged_in.site)
    result = logged_in.harvest(
        "request", "--batch", str(batch), "--user", "alice", "--site", logged_in.url
    )
    assert result.code == 0, result.err
    status, jobs = json.loads(result.out)
    assert status["data"]["totara_webapi_status"]["status"] == "ok"
    assert jobs["data"]["totara_job_my_assignments"][0]["idnumber"] == "alice"
    assert ajax_lines(logged_in.site) == before + 1  # one POST
    batch.write_text(json.dumps([*queries, {"operationName": "core_file_unused_draft_item_id"}]))
    result = logged_in.harvest(
        "request", "--batch", str(batch), "--user", "alice", "--site", logged_in.url
    )
    assert result.code == 2 and "core_file_unused_draft_item_id is a mutation" in result.err
    assert ajax_lines(logged_in.site) == before + 1  # nothing more was sent


def test_the_client_refuses_a_batch_with_a_mutation_too(logged_in: LoggedIn) -> None:
    from harvester import TotaraClient
    from harvester.errors import UsageError
    from harvester.store.sessions import SessionStore

    store = SessionStore(Path(logged_in.harvest.env["XDG_STATE_HOME"]) / "harvester")
    session = store.load(logged_in.url, "alice")
    before = ajax_lines(logged_in.site)
    with TotaraClient(logged_in.url, session) as client, pytest.raises(UsageError):
        client.batch([("totara_webapi_status", None), ("core_file_unused_draft_item_id", None)])
    assert ajax_lines(logged_in.site) == before
    assert os.environ  # the client's refusal needs no CLI


def test_harvest_request_still_works_for_the_readme_example(harvest: HarvestRunner) -> None:
    """The catalogue's checks pass what the README shows."""
    with DevSite() as site:
        result = harvest(
            "request", "core_lang_strings_nosession", "--site", site.url,
            "--variables", '{"lang":"en","ids":["edit, core"]}',
        )  # fmt: skip
    assert result.code == 0, result.err
