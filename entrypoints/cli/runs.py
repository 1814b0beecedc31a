"""Named runs on the command line: which run a command writes or reads, and ``catalyst runs``.

Several runs share one database, each with its own orders, positions, snapshots and risk
state. ``backtest`` and ``run`` write the run named by ``--run``; a run is identified by
its name, so the same name with the same parameters resumes it, and the same name with
other parameters is refused (exit 2, nothing written) with the differences listed. The read
commands show the run named by ``--run``, or the latest run of the database.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import typer
from rich.console import Console

from application import views
from application.ports import DEFAULT_RUN, UnitOfWork
from domain.audit import RunRecord
from entrypoints.cli.output import fit_table, json_row
from entrypoints.settings import mask_url

#: the run ``catalyst backtest`` replaces when no ``--run`` is given
BACKTEST_RUN = "backtest"
#: what ``runs.start`` leaves for a run that wrote before it was started
_PLACEHOLDER = "created"
_NAME_MAX = 64
_NAME = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._-]{{0,{_NAME_MAX - 1}}}")

out = Console()
err = Console(stderr=True)

def _fail(msg: str, code: int = 2) -> typer.Exit:
    err.print(f"[bold red]error:[/] {msg}")
    return typer.Exit(code)


def check_name(name: str) -> str:
    """Return ``name`` if it can name a run; exit 2 naming the problem otherwise.

    A name is also a folder (``var/reports/<run>``): letters, digits, ``.``, ``_`` and ``-``,
    starting with a letter or digit.
    """
    if not _NAME.fullmatch(name):
        raise _fail(f"--run {name!r}: expected 1 to {_NAME_MAX} letters, digits, '.', '_' or "
                    "'-', starting with a letter or digit")
    return name


def _fmt(value: object) -> str:
    return "(not set)" if value is None else json.dumps(value, default=str)


def param_diff(stored: RunRecord, kind: str, params: Mapping[str, Any]) -> list[str]:
    """Return ``name: stored -> now`` for every parameter (and the kind) that differs."""
    now = json.loads(json.dumps(dict(params), default=str))
    old = dict(stored.params)
    diffs = [f"kind: {stored.kind} -> {kind}"] if stored.kind != kind else []
    for key in sorted(set(old) | set(now)):
        if old.get(key) != now.get(key):
            diffs.append(f"{key}: {_fmt(old.get(key))} -> {_fmt(now.get(key))}")
    return diffs


def refuse_other_params(uow: UnitOfWork, name: str, kind: str, params: Mapping[str, Any],
                        where: str) -> RunRecord | None:
    """Exit 2 when run ``name`` exists with other parameters; return the stored run (if any).

    Reads only: a refused command has written nothing, so the run's risk state and books are
    as they were.
    """
    with uow as u:
        stored = u.runs.get(name)
        runs = u.runs.list()
    if stored is None or stored.status == _PLACEHOLDER:
        return stored
    diffs = param_diff(stored, kind, params)
    if not diffs:
        return stored
    same = [r.run_id for r in runs if r.run_id != name and not param_diff(r, kind, params)]
    hint = f" Run {same[0]!r} has exactly these parameters: --run {same[0]}." if same else ""
    lines = "\n".join(f"  {d}" for d in diffs)
    raise _fail(
        f"run {name!r} in {mask_url(where)} was started with other parameters:\n{lines}\n"
        f"A run keeps its parameters: resume it with the same ones, or start a separate run "
        f"with --run OTHER (its own orders, positions, snapshots and risk state).{hint}")


def resolve(uow: UnitOfWork, name: str | None, where: str) -> str:
    """Return the run a read command shows: ``name`` (which must exist) or the latest run
    (the one started or finished most recently)."""
    with uow as u:
        runs = u.runs.list()
    if name is None:
        return runs[-1].run_id if runs else DEFAULT_RUN
    if any(r.run_id == name for r in runs):
        return name
    known = ", ".join(r.run_id for r in runs) or "none"
    raise _fail(f"--run {name!r}: no such run in {mask_url(where)} (runs: {known}); "
                "`catalyst runs` lists them")


def show_runs(uow: UnitOfWork, as_json: bool, where: str) -> None:
    """Print every run of the store with its size and last equity (or JSON)."""
    rows: list[dict[str, Any]] = [{
        "run": r.run, "kind": r.kind, "status": r.status,
        "started_at": r.started_at.isoformat(),
        "finished_at": r.finished_at.isoformat() if r.finished_at else None,
        "orders": r.orders, "open_positions": r.open_positions, "trades": r.trades,
        "equity": str(r.equity) if r.equity is not None else None,
        "latest": r.latest, "params": dict(r.params),
    } for r in views.runs(uow)]
    if as_json:
        out.print_json(json.dumps([json_row(r) for r in rows], default=str))
        return
    shown = [{**row, "run": row["run"] + (" *" if row["latest"] else "")} for row in rows]
    out.print(fit_table(out, f"Runs in {mask_url(where)} ({len(rows)})", shown,
                        ["run", "kind", "status", "started_at", "orders", "open_positions",
                         "trades", "equity"], optional=("orders", "kind", "started_at"),
                        right=("orders", "open_positions", "trades", "equity")))
    if rows:
        err.print("[dim]* the latest run, which positions, orders, trades, account and "
                  "report show without --run; --json adds each run's parameters[/]")
