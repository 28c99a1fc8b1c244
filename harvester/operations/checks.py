"""What a request is checked for before anything is sent, against the catalogue: a name
Totara's rule refuses (exit 2), a name the catalogue does not know (one warning with the
closest names; still sent: sites have plugins), required variables missing, variables the
operation does not declare, values whose JSON type cannot fit the declared GraphQL type, and a
batch that holds a mutation (Totara's ajax.php says batches are for read-only queries)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import UsageError
from ..site.ajax import check_operation_name
from .catalogue import Catalogue, InputType, Operation, shipped

log = logging.getLogger(__name__)
MAX_DEPTH = 32  # nesting of input objects and lists a value may have before it is refused

# GraphQL's built-in scalars as JSON: Totara's own scalars (core_id, param_text, …) take any
# JSON scalar, and the site decides.
_BUILT_IN: dict[str, tuple[type, ...]] = {
    "Int": (int,),
    "Float": (int, float),
    "String": (str,),
    "Boolean": (bool,),
    "ID": (str, int),
}


def check_request(
    operations: Sequence[tuple[str, Mapping[str, Any] | None]],
    *,
    catalogue: Catalogue | None = None,
    variables: bool = True,
) -> None:
    """Check a request of one operation or a batch; UsageError (nothing sent) for what the
    site would refuse or a batch with a mutation; a warning for a name the catalogue does not
    know. *variables*: also hold each name and its variables against the catalogue (--no-check
    turns this off, for a site of another version: the name rule and the batch rule stay)."""
    for name, _ in operations:
        check_operation_name(name)
    refuse_mutations_in_batch([name for name, _ in operations], catalogue)
    if not variables:  # --no-check: a site of another version; neither warnings nor refusals
        return
    catalogue = catalogue or shipped()  # read only now: a single unchecked name never needs it
    for name, values in operations:
        operation = catalogue.get(name)
        if operation is None:
            near = catalogue.closest(name)
            hint = f"; did you mean {', '.join(near)}?" if near else ""
            log.warning(
                "%s is not an operation of %s%s (sent anyway: a plugin may define it)",
                name,
                catalogue.label,
                hint,
            )
            continue
        check_variables(operation, values or {}, catalogue)


def refuse_mutations_in_batch(names: Sequence[str], catalogue: Catalogue | None = None) -> None:
    """UsageError when a batch (more than one operation) holds an operation the catalogue
    knows as a mutation: Totara runs them, although its ajax.php says batches are for read-only
    queries, and a half-applied batch has no good answer. Nothing is sent."""
    if len(names) < 2:
        return
    catalogue = catalogue or shipped()
    for name in names:
        operation = catalogue.get(name)
        if operation is not None and operation.is_mutation:
            raise UsageError(
                f"{name} is a mutation, and a batch is for read-only queries (as Totara's "
                "ajax.php says): send it on its own; nothing was sent"
            )


def check_variables(operation: Operation, values: Mapping[str, Any], catalogue: Catalogue) -> None:
    """UsageError naming the first variable that is missing, undeclared, or of a JSON type
    that cannot fit its declared GraphQL type."""
    for name in values:
        if operation.variable(name) is None:
            declared = ", ".join(v.name for v in operation.variables) or "none"
            raise UsageError(
                f"{operation.name} declares no variable {name!r} (it takes: {declared}); "
                "nothing was sent (--no-check sends it anyway)"
            )
    for variable in operation.variables:
        if variable.name not in values:
            if variable.required:
                raise UsageError(
                    f"{operation.name} needs the variable {variable.name!r} "
                    f"({variable.type}); nothing was sent"
                )
            continue
        problem = fits(values[variable.name], variable.type, catalogue.types, 0)
        if problem:
            raise UsageError(
                f"{operation.name}: the variable {variable.name!r} must be {variable.type}: "
                f"{problem}; nothing was sent (--no-check sends it anyway)"
            )


def fits(value: Any, graphql_type: str, types: Mapping[str, InputType], depth: int) -> str:
    """What is wrong with *value* (JSON) as a *graphql_type*, or the empty string when GraphQL's
    input coercion takes it (a single value fits a list of it)."""
    if depth > MAX_DEPTH:
        return "it is nested too deeply"
    if graphql_type.endswith("!"):
        if value is None:
            return "it is null"
        return fits(value, graphql_type[:-1], types, depth)
    if value is None:
        return ""
    if graphql_type.startswith("["):
        inner = graphql_type[1:-1]
        items = value if isinstance(value, list) else [value]
        for index, item in enumerate(items):
            problem = fits(item, inner, types, depth + 1)
            if problem:
                return f"item {index}: {problem}" if isinstance(value, list) else problem
        return ""
    if isinstance(value, list):
        return f"a list is no {graphql_type}"
    built_in = _BUILT_IN.get(graphql_type)
    if built_in is not None:
        if isinstance(value, bool) and bool not in built_in:
            return f"{json_kind(value)} is no {graphql_type}"
        return "" if isinstance(value, built_in) else f"{json_kind(value)} is no {graphql_type}"
    known = types.get(graphql_type)
    if known is None:  # one of Totara's own scalars: any JSON scalar, the site decides
        return "" if not isinstance(value, dict) else f"an object is no {graphql_type}"
    if known.kind == "enum":
        if value in known.values:
            return ""
        return f"{value!r} is none of {', '.join(known.values)}"
    if not isinstance(value, dict):
        return f"{json_kind(value)} is no {graphql_type} (an object)"
    for key in value:
        if known.field(key) is None:
            return f"{graphql_type} has no field {key!r}"
    for field in known.fields:
        if field.name not in value:
            if field.required:
                return f"{graphql_type} needs the field {field.name!r} ({field.type})"
            continue
        problem = fits(value[field.name], field.type, types, depth + 1)
        if problem:
            return f"{field.name}: {problem}"
    return ""


def json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "an object"
    return "a list" if isinstance(value, list) else type(value).__name__
