#!/usr/bin/env python3
"""Make harvester's operation catalogue from a Totara source tree.

    python scripts/operation_catalogue.py /path/to/totara [--output FILE]

Totara's ajax.php runs persisted operations only: one `.graphql` file each, in a `webapi/ajax/`
folder of a component. For each, the catalogue keeps facts, never query text: the operation's
name, its component, whether it is a query or a mutation, whether it runs without a session
(`_nosession`), and its variables with their GraphQL types and whether they are required (a
non-null type without a default). From the schema files the ajax endpoint is built of
(`webapi/*.graphqls` and `webapi/ajax/*.graphqls`, extensions included) it keeps the input
objects and enums those variables use, nested: each input field's type and whether it is
required, each enum's values. The tree's Totara version (from version.php) is recorded with
them. Every file is read with a real GraphQL parser (graphql-core).

Exit codes: 0 written; 2 the tree is not a Totara tree, or a file cannot be read (it is named).
Run it with harvester's environment (graphql-core is one of harvester's dependencies).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from graphql import (
    EnumTypeDefinitionNode,
    EnumTypeExtensionNode,
    GraphQLSyntaxError,
    InputObjectTypeDefinitionNode,
    InputObjectTypeExtensionNode,
    ListTypeNode,
    NamedTypeNode,
    NonNullTypeNode,
    OperationDefinitionNode,
    TypeNode,
    parse,
)

VERSION = re.compile(r"\$TOTARA->version\s*=\s*'([^']+)'")
BUILD = re.compile(r"\$TOTARA->build\s*=\s*'([^']+)'")
# Folders of server/ whose sub-folders are plugins of one type: server/mod/perform -> mod_perform,
# server/mod/perform/element/long_text -> performelement_long_text (the longest match wins)
PLUGIN_FOLDERS = {
    ("mod",): "mod", ("blocks",): "block", ("auth",): "auth", ("enrol",): "enrol",
    ("repository",): "repository", ("question", "type"): "qtype", ("theme",): "theme",
    ("report",): "report", ("local",): "local", ("filter",): "filter", ("ml",): "ml",
    ("course", "format"): "format", ("admin", "tool"): "tool", ("container", "type"): "container",
    ("lib", "editor"): "editor", ("lib", "editor", "weka", "extensions"): "weka",
    ("message", "output"): "message", ("totara",): "totara",
    ("totara", "engage", "resources"): "engage",
    ("totara", "contentmarketplace", "contentmarketplaces"): "contentmarketplace",
    ("mod", "contentmarketplace", "contentmarketplaces"): "contentmarketplaceactivity",
    ("mod", "perform", "element"): "performelement", ("totara", "competency", "pathway"): "pathway",
    ("totara", "criteria", "plugins"): "criteria", ("totara", "hierarchy", "prefix"): "hierarchy",
}  # fmt: skip
BUILT_IN_SCALARS = {"Int", "Float", "String", "Boolean", "ID"}


class Unreadable(Exception):
    """A file this script cannot read; the message names it."""


def type_text(node: TypeNode) -> str:
    if isinstance(node, NonNullTypeNode):
        return type_text(node.type) + "!"
    if isinstance(node, ListTypeNode):
        return f"[{type_text(node.type)}]"
    assert isinstance(node, NamedTypeNode)
    return node.name.value


def named_type(text: str) -> str:
    return text.strip("[]!")


def component_of(path: Path, root: Path) -> str:
    """Totara's component name from where a definition lives: server/lib -> core,
    server/completion -> core_completion, server/totara/core -> totara_core, and the plugin
    folders above."""
    parts = path.relative_to(root).parts
    last = len(parts) - 1 - parts[::-1].index("webapi")  # a component may be named webapi
    inside = parts[1:last] if parts[0] == "server" else parts[:last]
    if not inside or inside == ("lib",):
        return "core"
    for size in range(len(inside) - 1, 0, -1):
        prefix = PLUGIN_FOLDERS.get(inside[:size])
        if prefix is not None:
            return "_".join([prefix, *inside[size:]])
    return "_".join(["core", *inside])


def _parse(path: Path, root: Path) -> Any:
    shown = path.relative_to(root).as_posix()
    try:
        return parse(path.read_text(encoding="utf-8"), no_location=True)
    except GraphQLSyntaxError as exc:
        raise Unreadable(f"{shown}: {exc.message}") from None


def read_definition(path: Path, root: Path) -> dict[str, Any]:
    """The facts of one persisted operation."""
    shown = path.relative_to(root).as_posix()
    document = _parse(path, root)
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    named = operations[0].name if len(operations) == 1 else None
    if named is None:
        raise Unreadable(f"{shown}: not one named query or mutation")
    operation = operations[0]
    if operation.operation.value not in ("query", "mutation"):
        raise Unreadable(f"{shown}: a {operation.operation.value}, not a query or a mutation")
    name = named.value
    variables = [
        {
            "name": v.variable.name.value,
            "type": type_text(v.type),
            "required": isinstance(v.type, NonNullTypeNode) and v.default_value is None,
        }
        for v in operation.variable_definitions or ()
    ]
    return {
        "name": name,
        "component": component_of(path, root),
        "type": operation.operation.value,
        "nosession": name.endswith("_nosession"),
        "variables": variables,
        "file": shown,
    }


def schema_types(files: list[Path], root: Path) -> dict[str, dict[str, Any]]:
    """Every input object and enum the ajax schema files define or extend."""
    types: dict[str, dict[str, Any]] = {}
    for path in files:
        for node in _parse(path, root).definitions:
            if isinstance(node, (InputObjectTypeDefinitionNode, InputObjectTypeExtensionNode)):
                entry = types.setdefault(node.name.value, {"kind": "input", "fields": []})
                entry["fields"].extend(
                    {
                        "name": field.name.value,
                        "type": type_text(field.type),
                        "required": isinstance(field.type, NonNullTypeNode)
                        and field.default_value is None,
                    }
                    for field in node.fields or ()
                )
            elif isinstance(node, (EnumTypeDefinitionNode, EnumTypeExtensionNode)):
                entry = types.setdefault(node.name.value, {"kind": "enum", "values": []})
                entry["values"].extend(value.name.value for value in node.values or ())
    return types


def used_types(
    operations: list[dict[str, Any]], types: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """The input objects and enums the operations' variables reach, nested."""
    wanted = [named_type(v["type"]) for op in operations for v in op["variables"]]
    kept: dict[str, Any] = {}
    while wanted:
        name = wanted.pop()
        if name in kept or name not in types:
            continue
        kept[name] = types[name]
        if types[name]["kind"] == "input":
            wanted.extend(named_type(field["type"]) for field in types[name]["fields"])
    return {name: kept[name] for name in sorted(kept)}


def totara_version(root: Path) -> tuple[str, str]:
    """(version, build) from the tree's version.php (server/ since Totara 13)."""
    for candidate in (root / "server" / "version.php", root / "version.php"):
        if candidate.is_file():
            text = candidate.read_text(encoding="utf-8", errors="replace")
            version, build = VERSION.search(text), BUILD.search(text)
            if version:
                return version.group(1), build.group(1) if build else ""
    raise Unreadable(f"{root}: no version.php with $TOTARA->version: not a Totara source tree")


def _files(root: Path, pattern: str) -> list[Path]:
    return [
        path
        for path in sorted(root.rglob(pattern))
        if path.is_file() and "node_modules" not in path.parts and "tests" not in path.parts
    ]


def catalogue(root: Path) -> dict[str, Any]:
    version, build = totara_version(root)
    operations: dict[str, dict[str, Any]] = {}
    for path in _files(root, "webapi/ajax/*.graphql"):
        facts = read_definition(path, root)
        if facts["name"] in operations:
            raise Unreadable(
                f"{facts['file']}: {facts['name']} is also defined in "
                f"{operations[facts['name']]['file']}"
            )
        operations[facts["name"]] = facts
    ordered = [operations[name] for name in sorted(operations)]
    schema = _files(root, "webapi/*.graphqls") + _files(root, "webapi/ajax/*.graphqls")
    return {
        "totara_version": version,
        "totara_build": build,
        "operations": ordered,
        "types": used_types(ordered, schema_types(schema, root)),
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
            f"{len(data['operations'])} operations and {len(data['types'])} types of Totara "
            f"{data['totara_version']} written to {args.output}",
            file=sys.stderr,
        )
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
