"""``catalyst quarantine``: the poison input a run set aside, with file, line and reason."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

out = Console()
err = Console(stderr=True)


def quarantine(
    run: Annotated[str | None, typer.Option("--run", help="Only this run's entries (default: "
                                            "every run of the database).")] = None,
    db: Annotated[str | None, typer.Option("--db", help="Database URL (default: the "
                                           "configured one).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List the alert lines and price bars set aside: run, kind, file, line and reason."""
    from adapters.sqlalchemy import PersistenceError, make_engine
    from adapters.sqlalchemy.quarantine import list_quarantine
    from entrypoints.cli.container import load_settings
    from entrypoints.settings import mask_url

    url = db or load_settings().database_url
    try:
        engine = make_engine(url, writable=False)
        entries = list_quarantine(engine, run)
        engine.dispose()
    except PersistenceError as exc:
        err.print(f"[bold red]error:[/] database {mask_url(url)!r}: {exc}")
        raise typer.Exit(1) from None
    rows = [{"run": e.run_id, "kind": e.kind, "source": e.source, "line": e.line,
             "reason": e.reason,
             "at": e.created_at.isoformat() if e.created_at else None} for e in entries]
    if as_json:
        out.print_json(json.dumps(rows))
        return
    if not rows:
        out.print("Nothing quarantined" + (f" for run {run!r}" if run else "") + ".")
        return
    t = Table(title=f"Quarantined input ({len(rows)})")
    for col in ("run", "kind", "source", "line", "reason"):
        t.add_column(col, overflow="fold")
    for e in entries:
        t.add_row(e.run_id, e.kind, e.source, "" if e.line is None else str(e.line), e.reason)
    out.print(t)
