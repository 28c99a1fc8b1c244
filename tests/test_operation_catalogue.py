"""scripts/operation_catalogue.py on a small Totara-shaped tree it is given here: facts of
each persisted ajax operation (never its query text), the tree's version, clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "operation_catalogue.py"

DEFINITIONS = {
    # a comment, variables over several lines, a comment after a variable
    "server/lib/webapi/ajax/lang_strings_nosession.graphql": (
        "# Fetch strings\nquery core_lang_strings_nosession(\n  $lang: param_lang! # which\n"
        "  $ids: [param_stringid!]!\n) {\n  lang_strings: core_lang_strings(lang: $lang, "
        "ids: $ids) {\n    lang\n  }\n}\n"
    ),
    "server/totara/job/webapi/ajax/my_assignments.graphql": (
        "query totara_job_my_assignments {\n  totara_job_my_assignments {\n    id\n  }\n}\n"
    ),
    # a mutation with a default (not required even though non-null), commas, a list type
    "server/totara/core/webapi/ajax/set_thing.graphql": (
        'mutation totara_core_set_thing($id: core_id!, $note: String! = "a, b", '
        "$tags: [String]) {\n  totara_core_set_thing(id: $id) \n}\n"
    ),
    # a perform element (a sub-plugin): its component is performelement_long_text
    "server/mod/perform/element/long_text/webapi/ajax/get_draft_id.graphql": (
        "query performelement_long_text_get_draft_id($input: "
        "performelement_long_text_draft_input!) { x }\n"
    ),
    # the schema the ajax endpoint is built of: shared files and ajax extensions, nested
    "server/mod/perform/element/long_text/webapi/ajax/draft.graphqls": (
        "input performelement_long_text_draft_input {\n  section_id: core_id!\n"
        "  format: performelement_long_text_format = HTML\n  where: mod_perform_place\n}\n"
        "enum performelement_long_text_format { HTML PLAIN }\n"
    ),
    "server/mod/perform/webapi/place.graphqls": "input mod_perform_place { id: Int }\n",
    "server/mod/perform/webapi/ajax/more.graphqls": (
        "extend input mod_perform_place { label: String! }\n"
        "extend enum performelement_long_text_format { MARKDOWN }\n"
        "input mod_perform_unused { x: Int }\n"
    ),
    # not ajax: another endpoint's definitions and schema are not the catalogue's
    "server/totara/core/webapi/external/other.graphql": "query totara_core_external { x }\n",
    "server/totara/core/webapi/mobile/other.graphqls": "input mod_perform_place { no: Int }\n",
    "client/node_modules/x/webapi/ajax/vendored.graphql": "query vendored { x }\n",
}


def make_tree(root: Path, definitions: dict[str, str], version: str = "17.3") -> Path:
    (root / "server").mkdir(parents=True)
    (root / "server" / "version.php").write_text(
        f"<?php\n$TOTARA->version    = '{version}';\n$TOTARA->build = '20240101.00';\n"
    )
    for relative, text in definitions.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, check=False
    )


def test_the_catalogue_holds_the_facts_of_each_ajax_operation(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "totara", DEFINITIONS)
    out = tmp_path / "operations.json"
    result = run(tree, "--output", out)
    assert result.returncode == 0, result.stderr
    assert "4 operations and 3 types of Totara 17.3" in result.stderr
    data = json.loads(out.read_text())
    assert data["totara_version"] == "17.3" and data["totara_build"] == "20240101.00"
    by_name = {op["name"]: op for op in data["operations"]}
    assert list(by_name) == [
        "core_lang_strings_nosession",
        "performelement_long_text_get_draft_id",
        "totara_core_set_thing",
        "totara_job_my_assignments",
    ]
    assert by_name["core_lang_strings_nosession"] == {
        "name": "core_lang_strings_nosession",
        "component": "core",
        "type": "query",
        "nosession": True,
        "file": "server/lib/webapi/ajax/lang_strings_nosession.graphql",
        "variables": [
            {"name": "lang", "type": "param_lang!", "required": True},
            {"name": "ids", "type": "[param_stringid!]!", "required": True},
        ],
    }
    thing = by_name["totara_core_set_thing"]
    assert thing["type"] == "mutation" and not thing["nosession"]
    assert thing["variables"] == [
        {"name": "id", "type": "core_id!", "required": True},
        {"name": "note", "type": "String!", "required": False},
        {"name": "tags", "type": "[String]", "required": False},
    ]
    assert by_name["totara_job_my_assignments"]["variables"] == []
    assert by_name["totara_job_my_assignments"]["component"] == "totara_job"
    assert by_name["performelement_long_text_get_draft_id"]["component"] == (
        "performelement_long_text"
    )
    assert "lang_strings:" not in out.read_text()  # facts only: no query text
    # the types the variables reach, nested, with extensions; nothing unused, nothing of mobile
    assert data["types"] == {
        "mod_perform_place": {
            "kind": "input",
            "fields": [
                {"name": "id", "type": "Int", "required": False},
                {"name": "label", "type": "String!", "required": True},
            ],
        },
        "performelement_long_text_draft_input": {
            "kind": "input",
            "fields": [
                {"name": "section_id", "type": "core_id!", "required": True},
                {"name": "format", "type": "performelement_long_text_format", "required": False},
                {"name": "where", "type": "mod_perform_place", "required": False},
            ],
        },
        "performelement_long_text_format": {
            "kind": "enum",
            "values": ["HTML", "PLAIN", "MARKDOWN"],
        },
    }


def test_a_tree_without_a_totara_version_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = run(tmp_path / "empty")
    assert result.returncode == 2 and "not a Totara source tree" in result.stderr


def test_an_unreadable_definition_is_named(tmp_path: Path) -> None:
    tree = make_tree(
        tmp_path / "t", {"server/mod/x/webapi/ajax/broken.graphql": "query mod_x_broken($a) {}"}
    )
    result = run(tree)
    assert result.returncode == 2
    assert "server/mod/x/webapi/ajax/broken.graphql" in result.stderr
    assert "Expected ':'" in result.stderr  # graphql-core's own words, with the file named


def test_a_name_defined_twice_is_refused(tmp_path: Path) -> None:
    tree = make_tree(
        tmp_path / "t",
        {
            "server/a/webapi/ajax/one.graphql": "query same_name { x }",
            "server/b/webapi/ajax/two.graphql": "query same_name { x }",
        },
    )
    result = run(tree)
    assert result.returncode == 2 and "also defined in" in result.stderr
