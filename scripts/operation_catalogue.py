#!/usr/bin/env python3
"""Make harvester's operation catalogue from a Totara source tree.

    python scripts/operation_catalogue.py /path/to/totara [--output FILE]

Totara's ajax.php runs persisted operations only: one `.graphql` file each, in a `webapi/ajax/`
folder of a component. For each, the catalogue keeps facts, never query text: the operation's
name, whether it is a query or a mutation, whether it runs without a session (`_nosession`),
and its variables with their GraphQL types and whether they are required (a non-null type
without a default). The tree's Totara version (from version.php) is recorded with them.

Exit codes: 0 written; 2 the tree is not a Totara tree, or a definition cannot be read (the
file is named). Standard library only: it runs before harvester is installed.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

HEADER = re.compile(
    r"^\s*(?P<type>query|mutation)\s+(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*(?P<rest>[({])",
)
# `$name: Type` with an optional `= default`, one declaration (commas already removed)
VARIABLE = re.compile(r"\$(?P<name>[A-Za-z_]\w*)\s*:\s*(?P<type>[^=]+?)\s*(?P<default>=.+)?")
TYPE = re.compile(r"\[*[A-Za-z_]\w*!?(?:\]!?)*")
VERSION = re.compile(r"\$TOTARA->version\s*=\s*'([^']+)'")
BUILD = re.compile(r"\$TOTARA->build\s*=\s*'([^']+)'")


class Unreadable(Exception):
    """A definition this script cannot read; the message names the file."""


def strip_comments(text: str) -> str:
    """GraphQL comments run from # to the end of the line (outside strings)."""
    out = []
    for line in text.splitlines():
        in_string = False
        for index, char in enumerate(line):
            if char == '"':
                in_string = not in_string
            elif char == "#" and not in_string:
                line = line[:index]
                break
        out.append(line)
    return "\n".join(out)


def read_definition(path: Path, root: Path) -> dict[str, Any]:
    """The facts of one persisted operation."""
    shown = path.relative_to(root).as_posix()
    text = strip_comments(path.read_text(encoding="utf-8"))
    found = HEADER.search(text)
    if found is None:
        raise Unreadable(f"{shown}: no 'query NAME' or 'mutation NAME' at its start")
    variables: list[dict[str, Any]] = []
    if found.group("rest") == "(":
        start = found.end()
        end = text.find(")", start)
        if end < 0:
            raise Unreadable(f"{shown}: the variable list of {found.group('name')} never closes")
        declared = " ".join(text[start:end].split())
        for part in re.split(r"(?=\$)", declared):
            part = part.strip().rstrip(",").strip()
            if not part:
                continue
            match = VARIABLE.fullmatch(part)
            graphql_type = "".join(match.group("type").split()) if match else ""
            if match is None or not TYPE.fullmatch(graphql_type):
                raise Unreadable(f"{shown}: cannot read the variable {part!r}")
            variables.append(
                {
                    "name": match.group("name"),
                    "type": graphql_type,
                    "required": graphql_type.endswith("!") and match.group("default") is None,
                }
            )
    name = found.group("name")
    return {
        "name": name,
        "type": found.group("type"),
        "nosession": name.endswith("_nosession"),
        "variables": variables,
        "file": shown,
    }


def totara_version(root: Path) -> tuple[str, str]:
    """(version, build) from the tree's version.php (server/ since Totara 13)."""
    for candidate in (root / "server" / "version.php", root / "version.php"):
        if candidate.is_file():
            text = candidate.read_text(encoding="utf-8", errors="replace")
            version, build = VERSION.search(text), BUILD.search(text)
            if version:
                return version.group(1), build.group(1) if build else ""
    raise Unreadable(f"{root}: no version.php with $TOTARA->version: not a Totara source tree")


def catalogue(root: Path) -> dict[str, Any]:
    version, build = totara_version(root)
    operations: dict[str, dict[str, Any]] = {}
    for path in sorted(root.rglob("webapi/ajax/*.graphql")):
        if "node_modules" in path.parts or not path.is_file():
            continue
        facts = read_definition(path, root)
        if facts["name"] in operations:
            raise Unreadable(
                f"{facts['file']}: {facts['name']} is also defined in "
                f"{operations[facts['name']]['file']}"
            )
        operations[facts["name"]] = facts
    return {
        "totara_version": version,
        "totara_build": build,
        "operations": [operations[name] for name in sorted(operations)],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tree", type=Path, help="a Totara source tree (its top folder)")
    parser.add_argument("--output", type=Path, help="write here instead of standard output")
    args = parser.parse_args(argv)
    try:
        data = catalogue(args.tree.resolve())
    except (Unreadable, OSError, UnicodeDecodeError) as exc:
        print(f"operation_catalogue: error: {exc}", file=sys.stderr)
        return 2
    text = json.dumps(data, indent=1, sort_keys=True) + "\n"
    if args.output:
        args.output.write_text(text, encoding="utf-8")
        print(
            f"{len(data['operations'])} operations of Totara {data['totara_version']} "
            f"written to {args.output}",
            file=sys.stderr,
        )
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
