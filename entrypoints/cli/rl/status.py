"""``catalyst rl status``: what the deployed agents of a run are doing.

Per agent: the running version and the swaps; per version: the action distribution, the
signals, the inference latency and the drift score (from the status file the agents write,
``agents/<run>.json`` under the state home), plus from the run's database the orders placed, the signals the
risk policy refused (by rule) and the realized P&L of the positions the version opened.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, cast

import typer
from rich.table import Table

from entrypoints.cli.rl._common import app, fail, out, status_path

__all__ = ["status"]


def _from_db(url: str, run: str) -> dict[str, dict[str, Any]]:
    from adapters.sqlalchemy import PersistenceError, make_engine, sql_uow_factory
    from application import views
    from application.ports import UnitOfWork

    try:
        uow = cast(UnitOfWork, sql_uow_factory(make_engine(url), run_id=run)())
    except PersistenceError as exc:
        raise fail(f"--db {url!r}: {exc}") from None
    return {ref: a.to_json() for ref, a in views.agent_activity(uow).items()}


@app.command("status")
def status(
    run: Annotated[str, typer.Option("--run", help="The run whose agents to show.")]
    = "default",
    db: Annotated[str | None, typer.Option(
        "--db", help="The run's database (default: the configured one; backtests are in "
        "backtest.db under the state home, run 'backtest').")] = None,
    status_file: Annotated[Path | None, typer.Option(
        "--status-file", help="The agents' status file (default: agents/<run>.json under "
        "the state home).")]
    = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Show the deployed agents of a run: versions, actions, refusals, P&L, latency, drift."""
    from adapters.rl.inference import StatusFile
    from entrypoints.cli.container import get_container

    path = status_file or status_path(run)
    if not path.is_file():
        raise fail(f"no agent status at {path}: run 'catalyst run --agent ...' or "
                   "'catalyst backtest --agent ...' first (or give --status-file)")
    try:
        st = StatusFile(path).read()
    except (OSError, ValueError) as exc:
        raise fail(f"{path}: unreadable agent status ({exc})") from None
    url = db or str(get_container().core.settings().database_url)
    for ref, extra in _from_db(url, run).items():
        st.setdefault("versions", {}).setdefault(ref, {"ref": ref}).update(extra)
    for v in st.get("versions", {}).values():
        for k, d in (("orders", 0), ("refused", {}), ("closed", 0), ("realized_pnl", "0"),
                     ("open", 0), ("unrealized_pnl", "0")):
            v.setdefault(k, d)
    if as_json:
        out.print_json(json.dumps(st, default=str))
        return
    t = Table(title=f"agents of run {run}")
    for col in ("agent", "running", "tickers"):
        t.add_column(col)
    for a in st.get("agents", []):
        t.add_row(a["name"], a["running"] + (" (pinned)" if a.get("pinned") else ""),
                  ",".join(a["tickers"]))
    out.print(t)
    v = Table(title="versions")
    for col in ("version", "actions", "signals", "orders", "refused by risk", "closed",
                "realized P&L", "latency p50/p99 ms", "drift"):
        v.add_column(col)
    for ref, m in sorted(st.get("versions", {}).items()):
        lat = m.get("latency") or {}
        drift = m.get("drift") or {}
        v.add_row(
            ref, ", ".join(f"{k}={n}" for k, n in sorted((m.get("actions") or {}).items())),
            str(m.get("signals", 0)), str(m["orders"]),
            ", ".join(f"{k}={n}" for k, n in sorted(m["refused"].items())) or "0",
            str(m["closed"]), str(m["realized_pnl"]),
            f"{lat.get('p50_ms', 0):.3f}/{lat.get('p99_ms', 0):.3f}" if lat.get("count") else "",
            (f"{drift['score']:.2f} ({drift['feature']})" + (" WARN" if drift.get("warned")
                                                             else "")) if drift
            else "unavailable" if m.get("drift_unavailable") else "")
    out.print(v)
    for ref, m in sorted(st.get("versions", {}).items()):
        if m.get("drift_unavailable"):
            out.print(f"{ref}: {m['drift_unavailable']}")
    for s in st.get("swaps", []):
        out.print(f"swap {s['from']} -> {s['to']} at {s['ts']} (pause {s['pause_ms']:.3f} ms)")
