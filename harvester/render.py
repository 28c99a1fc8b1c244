"""How results look on a terminal: the status table, and a refresh round with its progress."""

from __future__ import annotations

import sys
import time
from typing import Any

import typer


def _ago(when: float | None) -> str:
    if not when:
        return "-"
    seconds = max(0, int(time.time() - when))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def print_status_table(rows: list[Any], check: bool) -> None:
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


def refresh_round(
    store: Any, targets: list[Any], concurrency: int | None, timeout: float, **options: Any
) -> list[Any]:
    """One round with progress: a Rich bar on a terminal, a plain line per user otherwise."""
    from .refresh import refresh_sessions as run

    if not targets:
        typer.echo("No stored sessions to refresh.")
        return []
    marks = {"alive": "alive", "refreshed": "refreshed", "failed": "FAILED"}

    def line(result: Any) -> str:
        return f"{result.user} at {result.wwwroot}: {marks[result.outcome]}: {result.detail}"

    if sys.stderr.isatty():
        from rich.progress import Progress

        with Progress(transient=False) as progress:
            task = progress.add_task("Refreshing", total=len(targets))

            def advance(result: Any) -> None:
                progress.console.print(line(result))
                progress.advance(task)

            results = run(
                store,
                targets,
                concurrency=concurrency,
                timeout=timeout,
                on_result=advance,
                **options,
            )
    else:
        results = run(
            store,
            targets,
            concurrency=concurrency,
            timeout=timeout,
            on_result=lambda result: typer.echo(line(result)),
            **options,
        )
    counts = {k: sum(r.outcome == k for r in results) for k in marks}
    typer.echo(
        f"{len(results)} sessions: {counts['alive']} alive, {counts['refreshed']} refreshed, "
        f"{counts['failed']} failed"
    )
    return list(results)
