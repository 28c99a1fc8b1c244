"""How results look on a terminal: the status table, and a refresh round with its progress."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from ..upkeep.refresh import RefreshResult
    from ..upkeep.status import SessionStatus

MARKS = {"alive": "alive", "refreshed": "refreshed", "failed": "FAILED", "removed": "removed"}


def _ago(when: float | None) -> str:
    if not when:
        return "-"
    seconds = max(0, int(time.time() - when))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def print_status_table(rows: list[SessionStatus], check: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    if not rows:
        typer.echo("No stored sessions. Run: harvest login --user NAME --site URL")
        return
    table = Table(box=None, header_style="bold")
    columns = ["site", "user", "cookie", "obtained", "last verified", "password saved"]
    for column in columns + (["valid", "why"] if check else []):
        table.add_column(column, overflow="fold")  # fold, never cut: a URL must stay whole
    for row in rows:
        cells = [
            row.site,
            row.user,
            row.cookie_name,
            _ago(row.obtained_at),
            _ago(row.verified_at),
            "yes" if row.has_password else "no",
        ]
        if check:
            valid = {True: "[green]yes[/]", False: "[red]no[/]", None: "[yellow]?[/]"}[row.valid]
            cells += [valid, row.why or ""]
        table.add_row(*cells)
    # On a terminal Rich fits the table to its width; into a pipe or file nothing is folded.
    Console(width=None if sys.stdout.isatty() else 1000).print(table)


def result_line(result: RefreshResult) -> str:
    return f"{result.user} at {result.wwwroot}: {MARKS[result.outcome]}: {result.detail}"


def with_progress(
    total: int,
    run: Callable[[Callable[[RefreshResult], None]], list[RefreshResult]],
) -> list[RefreshResult]:
    """Run one refresh round, showing each result as it comes: a Rich bar on a terminal, a
    plain line per user otherwise; then a summary line."""
    if not total:
        typer.echo("No stored sessions to refresh.")
        return []
    if sys.stderr.isatty():
        from rich.progress import Progress

        with Progress(transient=False) as progress:
            task = progress.add_task("Refreshing", total=total)

            def advance(result: RefreshResult) -> None:
                progress.console.print(result_line(result))
                progress.advance(task)

            results = run(advance)
    else:
        results = run(lambda result: typer.echo(result_line(result)))
    counts = {k: sum(r.outcome == k for r in results) for k in MARKS}
    removed = f", {counts['removed']} removed" if counts["removed"] else ""
    typer.echo(
        f"{len(results)} sessions: {counts['alive']} alive, {counts['refreshed']} refreshed, "
        f"{counts['failed']} failed{removed}"
    )
    return results
