"""The `harvest` command: parse, call one library function, print. Behaviour lives in the
library (see the map in harvester/__init__.py).

- app.py: the Typer app and global options; options.py: options several commands share;
- session_commands.py (login, env, exec, request), upkeep_commands.py (status, refresh,
  schedule, logout), site_commands.py (site add|list|remove), tool_commands.py (doctor, demo);
- output.py: tables and progress on a terminal; main.py: the entry point, one line and one
  exit code per failure, signals.
"""

from __future__ import annotations

from .app import app
from .main import main, run

__all__ = ["app", "main", "run"]
