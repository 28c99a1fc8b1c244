"""Editing the config file: `harvest site add|remove`.

tomlkit keeps a person's comments and layout; every write is atomic and must read back through
config.load_config, so a crash or a bug never leaves a file that does not load.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..site.wwwroot import normalize_wwwroot
from .config import COOKIE_NAME_OR_PREFIX, LoginStep, alias_problem, config_path, load_config

# The settings `site add` writes, in the order they are written.
SiteSettings = dict[str, "str | bool | list[str] | list[LoginStep]"]


def add_site(
    alias: str, settings: SiteSettings, *, make_default: bool = False, path: Path | None = None
) -> Path:
    """Add or replace [sites.ALIAS]; keeps the rest of the file (comments included). The
    settings use the file's keys; `url` is normalised, `steps` are LoginSteps."""
    import tomlkit

    path = path or config_path()
    if alias_problem(alias):
        raise UsageError(alias_problem(alias))
    if settings.get("cookie_name") and settings.get("cookie_prefix"):
        raise UsageError(f"{COOKIE_NAME_OR_PREFIX} (--cookie-name, --cookie-prefix)")
    settings = {**settings, "url": normalize_wwwroot(str(settings.get("url", "")))}
    load_config(path)  # refuse to edit a file that does not parse
    document = _read_document(path)
    sites = document.setdefault("sites", tomlkit.table(is_super_table=True))
    table = tomlkit.table()
    for key, value in settings.items():
        if value in ("", [], (), False):
            continue
        if key == "steps":
            steps = tomlkit.array()
            steps.multiline(True)
            for step in value if isinstance(value, list) else []:
                assert isinstance(step, LoginStep)
                entry = tomlkit.inline_table()
                entry[step.action] = step.selector
                if step.value:
                    entry["value"] = step.value
                steps.append(entry)
            table[key] = steps
        else:
            table[key] = list(value) if isinstance(value, tuple) else value
    sites[alias] = table
    if make_default:
        document["default_site"] = alias
    _write(path, _dumps(document))
    load_config(path)  # what we wrote must read back
    return path


def remove_site(alias: str, path: Path | None = None) -> Path:
    path = path or config_path()
    config = load_config(path)
    if alias not in config.sites:
        raise UsageError(f"no site alias {alias!r} in {path}")
    document = _read_document(path)
    del document["sites"][alias]
    if document.get("default_site") == alias:
        del document["default_site"]
    _write(path, _dumps(document))
    return path


def _dumps(document: Any) -> str:
    import tomlkit

    return tomlkit.dumps(document)


def _read_document(path: Path) -> Any:
    import tomlkit

    try:
        return tomlkit.parse(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        document = tomlkit.document()
        document.add(tomlkit.comment("harvester site configuration (harvest site add|list|remove)"))
        return document


def _write(path: Path, text: str) -> None:
    """Atomically (store/files.py), so a crash never leaves half a config."""
    from ..store.files import require_folder, write_atomic

    require_folder(path.parent, "its config file", "HARVEST_CONFIG (or XDG_CONFIG_HOME)")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, text.encode("utf-8"), prefix=f".{path.name}.")
