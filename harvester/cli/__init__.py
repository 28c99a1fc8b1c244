"""The `harvest` command: parse, call one library function, print. Behaviour lives in the
library (see the map in harvester/__init__.py).

- app.py: the Typer app and global options; options.py: options several commands share;
- session_commands.py (login, env, exec, request), upkeep_commands.py (status, refresh,
  schedule, logout), site_commands.py (site add|list|remove), tool_commands.py (doctor, demo);
- output.py: tables and progress on a terminal; main.py: the full command line, one line and
  one exit code per failure (lines.py), signals; fast.py: the entry point, and `harvest env`
  without Typer when its options are plain.
"""

from __future__ import annotations

from typing import Any

from .fast import main

__all__ = ["main", "run"]  # the Typer app itself: harvester.cli.app.app


def __getattr__(name: str) -> Any:
    """`run` imports Typer: only when asked for (the fast path does without)."""
    if name == "run":
        from .main import run

        return run
    raise AttributeError(name)
