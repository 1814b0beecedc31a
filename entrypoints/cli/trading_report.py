"""The end of a replay: metrics, report files, warnings and the summary tables."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.table import Table

from adapters.reporting.trading_report import write_report
from application import views
from entrypoints.cli.lease import quarantine_bars, quarantine_issues
from entrypoints.cli.outcome import (
    breaker_summary,
    early_signals,
    input_problem,
    limits_json,
    notices_for,
    risk_overrides,
)
from entrypoints.cli.output import cell
from entrypoints.cli.trading_options import (
    DEFAULT_RISK,
    err,
    fail,
    out,
)
from entrypoints.settings import mask_url

if TYPE_CHECKING:
    from entrypoints.cli.trading_session import Session


def summary_table(title: str, metrics: dict[str, Any], label: str = "metric") -> Table:
    """Return a two-column table of ``metrics``, each value formatted by :func:`cell`."""
    t = Table(title=title)
    t.add_column(label)
    t.add_column("value", justify="right", overflow="fold")
    for k, v in metrics.items():
        t.add_row(k, cell(k, v))
    return t


def finish(session: Session, result: Any, report_dir: Path | None, as_json: bool,
            wall: float, kill_file_ignored: str | None = None) -> None:
    uow = session.uow
    quarantine_issues(uow, session.run_id, session.issues)
    bad_bars = getattr(getattr(session, "data", None), "bad_bars", [])
    quarantine_bars(uow, session.run_id, bad_bars)
    with uow as u:
        all_rec = [m for m in u.reports.metrics("all") if m.run_id == session.run_id]
        metrics = dict(all_rec[-1].metrics) if all_rec else {}
        snaps = [s for s in u.reports.snapshots() if s.run_id == session.run_id]
        closed = u.positions.list_closed()
        open_pos = u.positions.list_open()
        record = u.runs.get(session.run_id)
    counts = getattr(session.source, "counts", {})
    results = result.results
    commission = sum((c.commission for c in closed), Decimal(0)) + sum(
        (p.commission for p in open_pos), Decimal(0))
    extra: dict[str, Any] = {
        "run_id": session.run_id, "status": result.status, "steps": result.steps,
        "signals": result.signals, "orders": result.orders, "closed_trades": result.closed,
        "open_positions": len(open_pos), "alerts": dict(counts),
        "bad_alert_lines": session.issue_count, "bad_bars": len(bad_bars),
        "alert_lines": session.feed_counts.lines if session.feed_counts is not None else None,
        "database": mask_url(session.db_url),
        "resumed_from": result.resumed_from.isoformat() if result.resumed_from else None,
        "reconciliations": result.reconciliations, "reconcile_repairs": result.repairs,
        "breaker": breaker_summary(session.uow, session.risk, results,
                                   auto_resume=session.auto_resume,
                                   auto_resumes=session.auto_resumes),
        "risk_limits": limits_json(session.risk.config),
        "risk_overrides": risk_overrides(session.risk.config, DEFAULT_RISK),
        "signals_before_first_bar": early_signals(session.uow, results, session.first_bar),
        "costs": session.costs.to_dict(), "costs_text": session.costs.describe(),
        "commission_paid": str(commission),
        "kill_file_ignored": kill_file_ignored,
        "wall_seconds": round(wall, 2),
    }
    problem = input_problem(session.feed_counts, session.issues, session.issue_count,
                            session.alerts_spec, backtest=session.engine.config.kind == "backtest")
    extra["input_ok"] = problem is None
    notices = notices_for(extra, problem, backtest=session.engine.config.kind == "backtest")
    files = None
    if report_dir is not None:
        files = write_report(report_dir, run_id=session.run_id, snapshots=snaps, closed=closed,
                             metrics=metrics, extra=extra, notices=notices,
                             prices=getattr(getattr(session, "data", None), "path", None),
                             params=dict(record.params) if record else None,
                             alerts=session.alerts_spec,
                             headlines=views.trade_headlines(uow),
                             prices_ticker=getattr(getattr(session, "data", None), "ticker",
                                                   None))
        if session.issues:
            with (report_dir / "alert_issues.csv").open("w", encoding="utf-8") as fh:
                fh.write("source,line,reason\n")
                for i in session.issues:
                    fh.write(f"{json.dumps(i.source)},{i.line},{json.dumps(i.reason)}\n")
        extra["report"] = str(files.html)
    for n in notices[1 if problem else 0:-1]:  # the problem is the error below; costs last
        err.print(f"[bold yellow]warning:[/] {n}")
    if as_json:
        out.print_json(json.dumps({**extra, "notices": notices, "metrics": metrics}, default=str))
    else:
        keys = ("end_equity", "pnl", "total_return", "annual_return", "sharpe", "sortino",
                "max_drawdown", "trades", "win_rate", "profit_factor", "expectancy",
                "avg_hold_days", "best_ticker", "worst_ticker", "exit_reasons")
        b = extra["breaker"]
        status = result.status if not b["latched"] else \
            f"{result.status}; breaker {b['state'].upper()} since {(b['since'] or '')[:10]}"
        out.print(summary_table(f"Performance - {session.run_id} ({status})",
                                 {k: metrics.get(k) for k in keys}))
        run_t = Table(title="Run")
        run_t.add_column("item")
        run_t.add_column("value", justify="right")
        for k in ("steps", "signals", "orders", "closed_trades", "open_positions", "alerts",
                  "bad_alert_lines", "wall_seconds", "database"):
            v = extra[k]
            run_t.add_row(k, ", ".join(f"{a}={b}" for a, b in v.items())
                          if isinstance(v, dict) else str(v))
        run_t.add_row("costs", extra["costs_text"])
        run_t.add_row("risk_overrides", ", ".join(
            f"{a}={b}" for a, b in extra["risk_overrides"].items()) or "none (defaults)")
        run_t.add_row("commission_paid", f"{commission:,.2f}")
        run_t.add_row("breaker", b["state"] if not b["latched"] else
                      f"[bold red]{b['state'].upper()}[/] since {(b['since'] or '')[:10]} "
                      f"({', '.join(b['rules'])})")
        run_t.add_row("refused_signals", str(b["refused_signals"]))
        if b["auto_resume"]:
            run_t.add_row("auto_resumes", str(b["auto_resumes"]))
        if files is not None:
            run_t.add_row("report", str(files.html))
            run_t.add_row("plot", str(files.png))
        out.print(run_t)
    if problem is not None:
        raise fail(problem, 1)

