"""``catalyst db``: migrate, inspect and check the database.

Exit codes: 0 success, 1 the integrity check found problems, 2 bad input or configuration
(malformed URL, unreachable or read-only database, schema from a newer catalyst).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from adapters.sqlalchemy import (
    PersistenceError,
    check_integrity,
    check_schema,
    current_revision,
    head_revision,
    make_engine,
    mask,
    upgrade,
)
from adapters.sqlalchemy.engine import translate
from adapters.sqlalchemy.migrate import is_known

app = typer.Typer(help="Database: migrate (Alembic), show the revision, check integrity.",
                  no_args_is_help=True)
out = Console()
err = Console(stderr=True)
T = TypeVar("T")

UrlOpt = Annotated[
    str | None,
    typer.Option("--db", help="Database URL (default: settings' CATALYST_DATABASE_URL)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def _url(url: str | None) -> str:
    if url is not None:
        return url
    from entrypoints.cli.container import load_settings  # noqa: PLC0415

    return load_settings().database_url


def _guard(fn: Callable[[], T], url: str) -> T:
    """Run ``fn``; turn every database failure into a message and exit code 2."""
    try:
        return fn()
    except PersistenceError as exc:
        err.print(f"[bold red]error:[/] database_url={mask(url)!r}: {exc}")
        raise typer.Exit(2) from None
    except SQLAlchemyError as exc:
        typed = translate(exc, None)
        detail = str(typed) if typed is not None else (
            f"{type(exc).__name__}: {str(getattr(exc, 'orig', None) or exc).strip().splitlines()[0][:300]}"
        )
        err.print(f"[bold red]error:[/] database_url={mask(url)!r}: {detail}")
        raise typer.Exit(2) from None
    except OSError as exc:
        err.print(f"[bold red]error:[/] database_url={mask(url)!r}: {exc}")
        raise typer.Exit(2) from None


def _open(url: str, *, writable: bool) -> Engine:
    return _guard(lambda: make_engine(url, migrate=False, writable=writable), url)


def _state(current: str | None, head: str) -> str:
    if current is None:
        return "empty"
    if current == head:
        return "up to date"
    return "older (run `catalyst db upgrade`)" if is_known(current) else "NEWER than this catalyst"


@app.command("upgrade")
def upgrade_cmd(
    database_url: UrlOpt = None,
    revision: Annotated[str, typer.Option(help="Target revision.")] = "head",
    as_json: JsonOpt = False,
) -> None:
    """Migrate the database to the latest schema revision (creating it when empty)."""
    url = _url(database_url)
    engine = _open(url, writable=True)
    try:
        before = _guard(lambda: current_revision(engine), url)
        after = _guard(lambda: upgrade(engine, revision), url)
    finally:
        engine.dispose()
    payload = {"database_url": mask(url), "from": before, "to": after, "changed": before != after}
    if as_json:
        out.print_json(json.dumps(payload))
    elif before == after:
        out.print(f"database {mask(url)} already at revision [bold]{after}[/]")
    else:
        out.print(f"database {mask(url)} migrated: {before or '<empty>'} -> [bold]{after}[/]")


@app.command("current")
def current_cmd(database_url: UrlOpt = None, as_json: JsonOpt = False) -> None:
    """Show the database's schema revision and whether it matches this catalyst."""
    url = _url(database_url)
    engine = _open(url, writable=False)
    try:
        current = _guard(lambda: current_revision(engine), url)
    finally:
        engine.dispose()
    head = head_revision()
    payload: dict[str, Any] = {
        "database_url": mask(url), "current": current, "head": head,
        "state": _state(current, head),
    }
    if as_json:
        out.print_json(json.dumps(payload))
        return
    table = Table(title="Database schema")
    table.add_column("field")
    table.add_column("value")
    for k, v in payload.items():
        table.add_row(k, "" if v is None else str(v))
    out.print(table)


@app.command("check")
def check_cmd(database_url: UrlOpt = None, as_json: JsonOpt = False) -> None:
    """Check the schema revision and the data's integrity (exit 1 when problems are found)."""
    url = _url(database_url)
    engine = _open(url, writable=False)
    try:
        revision = _guard(lambda: check_schema(engine), url)
        problems = _guard(lambda: check_integrity(engine), url)
    finally:
        engine.dispose()
    payload = {"database_url": mask(url), "revision": revision, "ok": not problems,
               "problems": problems}
    if as_json:
        out.print_json(json.dumps(payload))
    elif problems:
        table = Table(title=f"Integrity problems ({len(problems)})")
        table.add_column("problem")
        for p in problems:
            table.add_row(p)
        out.print(table)
    else:
        out.print(f"database {mask(url)} at revision [bold]{revision}[/]: integrity [green]ok[/]")
    if problems:
        raise typer.Exit(1)
