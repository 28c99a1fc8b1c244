"""The package is laid out by stage (harvester.STAGES): every import inside harvester/, at the
top of a module or inside a function, runs to the importer's own stage or one before it."""

from __future__ import annotations

import ast
from pathlib import Path

import harvester

PACKAGE = Path(harvester.__file__).parent


def stage_of(module: str) -> int:
    """The stage index of a dotted module path under harvester ("site.http" -> that of site)."""
    top = module.split(".", 1)[0] or "__init__"
    for index, names in enumerate(harvester.STAGES):
        if top in names:
            return index
    raise AssertionError(f"harvester.{top} is in no stage of harvester.STAGES")


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, module under harvester) for each import in *path* that names harvester."""
    relative = path.relative_to(PACKAGE).with_suffix("")
    package = list(relative.parts[:-1])  # the package it is in (an __init__'s is its own)
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - (node.level - 1)]
            target = [*base, *(node.module.split(".") if node.module else [])]
            if not target:  # `from .. import x`: x is a module or a name of harvester itself
                found.extend((node.lineno, alias.name) for alias in node.names)
            else:
                found.append((node.lineno, ".".join(target)))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("harvester"):
            found.append((node.lineno, node.module.partition(".")[2]))  # type: ignore[union-attr]
        elif isinstance(node, ast.Import):
            found.extend(
                (node.lineno, alias.name.partition(".")[2])
                for alias in node.names
                if alias.name.split(".")[0] == "harvester"
            )
    return found


def test_every_module_is_in_a_stage() -> None:
    tops = {
        path.stem if path.is_file() else path.name
        for path in PACKAGE.iterdir()
        if (path.suffix == ".py") or (path / "__init__.py").is_file()
    }
    staged = {name for names in harvester.STAGES for name in names}
    assert tops == staged


def test_no_import_runs_from_a_lower_stage_up_to_a_higher_one() -> None:
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        own = stage_of(".".join(path.relative_to(PACKAGE).with_suffix("").parts))
        for line, target in imports_of(path):
            if target in {"", "__version__"}:
                target = "__init__"
            if stage_of(target) > own:
                where = path.relative_to(PACKAGE.parent)
                upward.append(f"{where}:{line} imports harvester.{target}")
    assert not upward, "\n".join(upward)
