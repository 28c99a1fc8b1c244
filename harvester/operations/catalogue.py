"""The operation catalogue: the facts of every persisted ajax operation of one Totara version
(name, component, query or mutation, `_nosession`, variables), and the input objects and enums
their variables use. Made by scripts/operation_catalogue.py from a Totara source tree and
shipped as data/totara-<version>.json (docs/operations.md says how to make another). Facts
only: no query text."""

from __future__ import annotations

import difflib
import functools
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

SHIPPED = "totara-17.3.json"


@dataclass(frozen=True)
class Variable:
    name: str
    type: str  # GraphQL type text: "param_lang!", "[String!]!"
    required: bool  # non-null without a default

    @property
    def named_type(self) -> str:
        return self.type.strip("[]!")


@dataclass(frozen=True)
class Operation:
    name: str
    component: str
    kind: str  # "query" or "mutation"
    nosession: bool
    variables: tuple[Variable, ...]

    @property
    def is_mutation(self) -> bool:
        return self.kind == "mutation"

    def variable(self, name: str) -> Variable | None:
        return next((v for v in self.variables if v.name == name), None)


@dataclass(frozen=True)
class InputType:
    """An input object (`fields`) or an enum (`values`) of the schema."""

    name: str
    kind: str  # "input" or "enum"
    fields: tuple[Variable, ...] = ()
    values: tuple[str, ...] = ()

    def field(self, name: str) -> Variable | None:
        return next((f for f in self.fields if f.name == name), None)


class Catalogue:
    """One Totara version's operations, by name."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.version = str(data["totara_version"])
        self.build = str(data["totara_build"])
        self.operations = {
            op["name"]: Operation(
                name=op["name"],
                component=op["component"],
                kind=op["type"],
                nosession=op["nosession"],
                variables=tuple(
                    Variable(v["name"], v["type"], v["required"]) for v in op["variables"]
                ),
            )
            for op in data["operations"]
        }
        self.types = {
            name: InputType(
                name=name,
                kind=entry["kind"],
                fields=tuple(
                    Variable(f["name"], f["type"], f["required"]) for f in entry.get("fields", ())
                ),
                values=tuple(entry.get("values", ())),
            )
            for name, entry in data["types"].items()
        }

    @property
    def label(self) -> str:
        return f"Totara {self.version} (Build: {self.build})"

    def get(self, name: str) -> Operation | None:
        return self.operations.get(name)

    def search(self, word: str = "", kind: str | None = None) -> list[Operation]:
        """Operations whose name or component holds *word* (any case), of *kind* if given."""
        word = word.lower()
        return [
            op
            for op in self.operations.values()
            if (not word or word in op.name or word in op.component)
            and (kind is None or op.kind == kind)
        ]

    def closest(self, name: str, count: int = 3) -> list[str]:
        return difflib.get_close_matches(name, list(self.operations), n=count, cutoff=0.6)


@functools.lru_cache(maxsize=1)
def shipped() -> Catalogue:
    """The catalogue harvester ships (read once per process)."""
    text = resources.files(__package__).joinpath(f"data/{SHIPPED}").read_text(encoding="utf-8")
    return Catalogue(json.loads(text))


def placeholder(graphql_type: str, types: dict[str, InputType], depth: int = 0) -> Any:
    """A value of *graphql_type* for a --variables skeleton: required fields of input objects
    filled in, optional ones left out; lists of one item; an enum's first value."""
    base = graphql_type.rstrip("!")
    if base.startswith("["):
        return [placeholder(base[1:-1], types, depth + 1)]
    known = types.get(base)
    if known is not None and known.kind == "enum":
        return known.values[0] if known.values else ""
    if known is not None and depth < 8:
        return {f.name: placeholder(f.type, types, depth + 1) for f in known.fields if f.required}
    return {"Int": 0, "Float": 0, "Boolean": False}.get(base, "")


def describe(operation: Operation, catalogue: Catalogue) -> dict[str, Any]:
    """What `harvest operations NAME` shows: the variables (required marked), the input types
    they reach (nested: each input object once), a --variables skeleton and a request line."""
    seen: list[str] = []
    wanted = [v.named_type for v in operation.variables]
    while wanted:
        name = wanted.pop(0)
        found = catalogue.types.get(name)
        if found is None or name in seen:
            continue
        seen.append(name)
        wanted.extend(f.named_type for f in found.fields)
    skeleton = {
        v.name: placeholder(v.type, catalogue.types) for v in operation.variables if v.required
    }
    return {
        "name": operation.name,
        "component": operation.component,
        "type": operation.kind,
        "nosession": operation.nosession,
        "totara": catalogue.label,
        "variables": [vars(v) for v in operation.variables],
        "types": {
            name: (
                {"kind": "enum", "values": list(catalogue.types[name].values)}
                if catalogue.types[name].kind == "enum"
                else {"kind": "input", "fields": [vars(f) for f in catalogue.types[name].fields]}
            )
            for name in seen
        },
        "skeleton": skeleton,
    }
