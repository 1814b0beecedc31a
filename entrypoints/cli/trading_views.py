"""The read commands: ``positions``, ``orders``, ``trades``, ``account``, ``report``,
``export trades`` and ``runs``.

They read a database (``--db``, default the configured one; ``backtest.db`` holds the
backtests); a SQLite ``--db`` that does not exist is refused (exit 2) rather than created empty.
A database holds several named runs (``--run``, see :mod:`entrypoints.cli.runs`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from adapters.reporting.trading_report import trade_rows
from application import views
from application.ports import UnitOfWork
from application.tracker import PERIODS
from entrypoints.cli import runs as named
from entrypoints.cli.container import get_container
from entrypoints.cli.lease import check_writable_file
from entrypoints.cli.output import fit_table, json_row
from entrypoints.cli.trading_options import (
    DbOpt,
    JsonOpt,
    RunOpt,
    err,
    fail,
    open_uow,
    out,
    sqlite_file,
)
from entrypoints.cli.trading_report import summary_table
from entrypoints.settings import Settings, mask_url

app = typer.Typer(no_args_is_help=True)
export_app = typer.Typer(no_args_is_help=True, help="Export the trade log.")
app.add_typer(export_app, name="export")


def view_url(db: str | None, settings: Settings) -> str:
    url = db or settings.database_url
    path = sqlite_file(url)
    backtest_url = settings.backtest_database_url
    if db is None and path is not None and not path.exists():
        # No paper-trading records yet: show the last backtest rather than nothing.
        backtest = sqlite_file(backtest_url)
        if backtest is not None and backtest.exists():
            err.print(f"[dim]no records in {mask_url(url)}; showing the last backtest "
                      f"({mask_url(backtest_url)}); "
                      "pass --db to choose[/]")
            url, path = backtest_url, backtest
    if path is not None and not path.exists():
        raise fail(f"--db {mask_url(url)!r}: no such database (run `catalyst backtest` or "
                    "`catalyst run` first)")
    return url


def view_uow(db: str | None, settings: Settings, run: str | None = None
              ) -> tuple[UnitOfWork, str]:
    """Return a unit of work on the run a view shows (``--run`` or the latest) and its name;
    the database follows ``--db`` or the settings."""
    url = view_url(db, settings)
    uow = open_uow(url)
    name = named.resolve(uow, run, url)
    return uow.for_run(name), name


def show_table(title: str, rows: list[dict[str, Any]], cols: list[str], as_json: bool,
           shown_of: int | None = None, optional: tuple[str, ...] = ()) -> None:
    """Print ``rows`` as JSON (the documented schema) or as a table that fits the terminal
    (``optional`` columns dropped, last first, while it does not)."""
    if as_json:
        out.print_json(json.dumps([json_row(r) for r in rows]))
        return
    full = f"{title} ({len(rows)}{'' if shown_of is None else f' of {shown_of}'})"
    out.print(fit_table(out, full, rows, cols, optional))


@app.command()
def positions(db: DbOpt = None, run: RunOpt = None, as_json: JsonOpt = False) -> None:
    """Open positions with their stops, marks and excursions."""
    uow, name = view_uow(db, get_container().core.settings(), run)
    rows = [{"run": name,
        "position_id": p.position_id, "ticker": p.ticker, "side": p.side,
        "quantity": p.quantity, "avg_entry_price": p.avg_entry_price,
        "last_price": p.last_price, "unrealized_pnl": p.unrealized_pnl,
        "stop_loss": p.stop_loss, "take_profit": p.take_profit,
        "trailing_stop": p.trailing_stop, "opened_at": p.opened_at,
    } for p in views.positions(uow)]
    show_table(f"Open positions - run {name}", rows, ["ticker", "side", "quantity", "avg_entry_price",
                                    "last_price", "unrealized_pnl", "stop_loss", "take_profit",
                                    "trailing_stop", "opened_at"], as_json,
           optional=("opened_at", "trailing_stop"))


@app.command()
def orders(
    db: DbOpt = None,
    status: Annotated[str, typer.Option("--status", help="open or all.")] = "all",
    limit: Annotated[int, typer.Option("--limit", help="Newest N (0: all).")] = 50,
    run: RunOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Orders, newest last."""
    if status not in ("open", "all"):
        raise fail(f"--status {status!r}: expected open or all")
    uow, name = view_uow(db, get_container().core.settings(), run)
    rows = [{"run": name,
        "client_order_id": o.client_order_id, "ticker": o.ticker, "side": o.side,
        "quantity": o.quantity, "status": o.status,
        "filled_qty": o.filled_qty, "avg_fill_price": o.avg_fill_price,
        "created_at": o.created_at, "signal_id": o.signal_id,
        "position_id": o.position_id, "source": o.source,
    } for o in views.orders(uow, open_only=status == "open")]
    total = len(rows)
    if limit > 0:
        rows = rows[-limit:]
    show_table(f"Orders - run {name}", rows, ["client_order_id", "ticker", "side", "quantity", "status",
                            "filled_qty", "avg_fill_price", "created_at"], as_json,
           shown_of=total if len(rows) < total else None,
           optional=("filled_qty", "client_order_id"))


@app.command()
def trades(
    db: DbOpt = None,
    limit: Annotated[int, typer.Option("--limit", help="Newest N (0: all).")] = 50,
    run: RunOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Closed positions (the trade log)."""
    uow, name = view_uow(db, get_container().core.settings(), run)
    heads = views.trade_headlines(uow)  # the alert headline behind each trade (None: none)
    rows = [{"run": name, **r, "headline": heads.get(r["signal_id"] or "")}
            for r in trade_rows(views.trades(uow))]
    total = len(rows)
    if limit > 0:
        rows = rows[-limit:]
    show_table(f"Trades - run {name}", rows, ["ticker", "side", "quantity", "entry_price",
                                              "exit_price", "opened_at", "closed_at",
                                              "exit_reason", "realized_pnl", "catalyst_score",
                                              "headline"], as_json,
               shown_of=total if len(rows) < total else None,
               optional=("side", "opened_at", "catalyst_score", "headline"))


@app.command()
def account(db: DbOpt = None, run: RunOpt = None, as_json: JsonOpt = False) -> None:
    """Cash, equity and P&L from the run's latest portfolio snapshot."""
    uow, name = view_uow(db, get_container().core.settings(), run)
    s = views.account(uow, name)
    if s is None:
        raise fail(f"run {name}: no portfolio snapshot yet: run `catalyst backtest` or "
                    "`catalyst run`", 1)
    row = {"run_id": s.run_id, "as_of": s.as_of.date().isoformat(), "cash": s.cash,
           "equity": s.equity, "long_market_value": s.long_market_value,
           "short_market_value": s.short_market_value, "open_positions": s.open_positions,
           "daily_pnl": s.daily_pnl, "cumulative_pnl": s.cumulative_pnl,
           "run_status": s.run_status}
    if as_json:
        out.print_json(json.dumps(json_row(row)))
        return
    out.print(summary_table(f"Account - run {name}", row, "item"))


@app.command("report")
def report_cmd(
    db: DbOpt = None,
    period: Annotated[str, typer.Option("--period", help="daily, weekly, monthly or all.")]
    = "all",
    limit: Annotated[int, typer.Option("--limit", help="Newest N periods (0: all).")] = 20,
    run_name: RunOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Performance metrics per period (recomputed from the stored snapshots and trades)."""
    if period not in PERIODS:
        raise fail(f"--period {period!r}: expected one of {', '.join(PERIODS)}")
    uow, name = view_uow(db, get_container().core.settings(), run_name)
    try:
        recs = views.performance(uow, name, period)
    except views.UnknownRun:
        raise fail("no run in this database yet", 1) from None
    rows = [{"period_start": r.period_start.date().isoformat(), **dict(r.metrics)} for r in recs]
    if limit > 0:
        rows = rows[-limit:]
    if as_json:
        out.print_json(json.dumps({"run_id": name, "period": period,
                                   "rows": [json_row(r) for r in rows]}))
        return
    if period == "all" and rows:
        out.print(summary_table(f"Performance - {name} (all)", rows[-1]))
        return
    cols = ["period_start", "pnl", "total_return", "sharpe", "max_drawdown", "trades",
            "win_rate", "profit_factor"]
    out.print(fit_table(out, f"Performance - {name} ({period})", rows, cols,
                        optional=("profit_factor", "sharpe"), right=cols[1:]))


@export_app.command("trades")
def export_trades(
    db: DbOpt = None,
    fmt: Annotated[str, typer.Option("--format", help="csv or parquet.")] = "csv",
    output: Annotated[Path | None, typer.Option("--out", help="File to write (default "
                                                "exports/trades.<format> under "
                                                "CATALYST_HOME).")] = None,
    run: RunOpt = None,
) -> None:
    """Write the trade log (closed positions) of one run as CSV or Parquet."""
    if fmt not in ("csv", "parquet"):
        raise fail(f"--format {fmt!r}: expected csv or parquet")
    settings: Settings = get_container().core.settings()
    path = output or settings.exports_dir / f"trades.{fmt}"
    check_writable_file(path, "--out")
    uow, name = view_uow(db, settings, run)
    closed = views.trades(uow)
    if fmt == "csv":
        from adapters.reporting.trading_report import write_trades_csv

        write_trades_csv(closed, path)
    else:
        import pandas as pd

        from adapters.reporting.trading_report import TRADE_COLUMNS

        pd.DataFrame(trade_rows(closed), columns=list(TRADE_COLUMNS)).to_parquet(path,
                                                                                 index=False)
    out.print(f"wrote {len(closed)} trades of run {name} to {path}")


@app.command("runs")
def runs_cmd(db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """The runs of a database: name, kind, status, size, last equity and parameters."""
    url = view_url(db, get_container().core.settings())
    named.show_runs(open_uow(url), as_json, url)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
