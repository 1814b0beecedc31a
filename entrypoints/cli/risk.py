"""``catalyst risk``: limits and headroom, the kill switch, a recorded resume, reports, sizing.

Exit codes: 0 success, 1 the job ran and found problems, 2 bad input or a refused command.

The risk state lives in the database (the container's ``uow_factory``), so ``catalyst risk kill``
in one process halts an engine running in another, and a restart keeps the state. ``kill`` also
writes the kill file (``settings.kill_file``), which every engine step and every pre-trade check
looks at: an engine halts, cancels its open orders and (with ``--flatten``) flattens at its next
step. On Alpaca the CLI cancels and flattens itself too; the simulated exchange lives inside the
engine, so there the engine does it.

Why one module: it is the ``catalyst risk`` Typer sub-app. Its commands share how the risk
service, the broker and the unit of work are opened for one run and how the state is shown;
each only parses options, calls :class:`application.risk.RiskService` and renders.
"""

from __future__ import annotations

import getpass
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from adapters.reporting.risk_report import write_risk_report
from adapters.system.kill_switch import FileKillSwitch
from application.ports import BrokerPort, UnitOfWork
from application.risk import RiskService, RiskStatus
from domain.account import Account, BrokerPosition
from domain.analytics.sizing_backtest import (
    DailyBars,
    MethodResult,
    compare,
    trades_from_alerts,
)
from domain.errors import DomainError
from domain.events import RiskEvent, RiskState
from domain.position import Position
from domain.risk import ResumeRefused
from domain.risk.sizing import SizingConfig, SizingMethod
from entrypoints.cli.container import Container, get_container

app = typer.Typer(
    help="Risk: limits and headroom, kill switch, recorded resume, risk report, sizing backtest.",
    no_args_is_help=True,
)
out = Console()
err = Console(stderr=True)

_STATE_STYLE = {RiskState.ACTIVE: "bold green", RiskState.REDUCING: "bold yellow",
                RiskState.HALTED: "bold red"}
_STATUS_STYLE = {"ok": "green", "warning": "yellow", "breached": "bold red"}


def _fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)


# --- wiring -----------------------------------------------------------------------------------
def _settings(c: Container) -> Any:
    from entrypoints.cli.container import load_settings  # noqa: PLC0415

    del c
    return load_settings()


def _uow(c: Container, db: str | None = None) -> UnitOfWork:
    # the database's unit of work: shared with the engine, so the state crosses processes
    if db is not None:  # --db: that database instead of the settings' one
        from adapters.sqlalchemy import make_engine, sql_uow_factory  # noqa: PLC0415

        return sql_uow_factory(make_engine(db))()  # type: ignore[return-value]
    made = c.gateways.uow_factory()
    uow: UnitOfWork = made() if callable(made) and not hasattr(made, "__enter__") else made
    return uow


def _broker(c: Container, settings: Any) -> BrokerPort | None:
    # the simulated exchange lives inside the engine process: a CLI copy of it has no orders,
    # so the container's remote broker is None there
    del settings
    broker: BrokerPort | None = c.gateways.remote_broker()
    return broker


def _service(c: Container, broker: bool = False, run: str | None = None,
             db: str | None = None) -> tuple[RiskService, FileKillSwitch, Container, Any]:
    from application.ports import DEFAULT_RUN

    settings = _settings(c)
    if db is not None:
        settings = settings.model_copy(update={"database_url": db})
    try:
        uow = _uow(c, db)
        with uow as u:
            names = [r.run_id for r in u.runs.list()]
    except Exception as exc:  # noqa: BLE001 - a bad URL or database is input: a message, exit 2
        raise _fail(f"cannot open the risk store at {_masked_url(settings)} "
                    f"({type(exc).__name__}: {exc})") from None
    # each run has its own risk state: --run, or the latest run of the database
    if run is not None and run not in names:
        raise _fail(f"--run {run!r}: no such run in {_masked_url(settings)} (runs: "
                    f"{', '.join(names) or 'none'}); `catalyst runs` lists them")
    uow = uow.for_run(run or (names[-1] if names else DEFAULT_RUN))
    try:
        svc: RiskService = c.services.risk_service(
            uow=uow, broker=_broker(c, settings) if broker else None)
    except Exception as exc:  # noqa: BLE001 - a bad URL or database is input: a message, exit 2
        raise _fail(f"cannot open the risk store at {_masked_url(settings)} "
                    f"({type(exc).__name__}: {exc})") from None
    ks: FileKillSwitch = c.gateways.kill_switch()
    return svc, ks, c, settings


def _masked_url(settings: Any) -> str:
    from entrypoints.settings import mask_url

    return mask_url(str(getattr(settings, "database_url", "?")))


def _close_notifier(c: Container) -> None:
    # deliver queued notices (a kill!) before this short-lived process exits
    close = getattr(c.gateways.notifier(), "close", None)
    if close is not None:
        close(10.0)


def _book(svc: RiskService, settings: Any, c: Container
          ) -> tuple[Account, list[Position | BrokerPosition], str]:
    broker = _broker(c, settings)
    if broker is not None:
        try:
            return broker.get_account(), list(broker.get_positions()), "broker"
        except DomainError as exc:
            err.print(f"[yellow]warning:[/] broker unreachable ({exc}); showing the last mark")
    st = svc.current()
    eq = st.last_equity if st.last_equity is not None else Decimal(0)
    with svc._uow as u:  # noqa: SLF001 - the CLI reads the same store the service writes
        positions: list[Position | BrokerPosition] = list(u.positions.list_open())
    return Account(cash=eq, equity=eq, buying_power=eq), positions, "last engine mark"


def _run_of(svc: RiskService) -> str:
    return svc._uow.run  # noqa: SLF001 - the run the service was opened for


def _status_payload(s: RiskStatus, kill_file: Path, source: str, run: str) -> dict[str, Any]:
    st = s.state
    return {
        "run": run, "state": st.state.value,
        "effective_state": "halted" if s.kill_flag_set else st.state.value,
        "tripped_rules": list(st.tripped_rules), "reason": st.reason,
        "tripped_at": st.tripped_at.isoformat() if st.tripped_at else None,
        "kill_flag_set": s.kill_flag_set, "kill_file": str(kill_file),
        "kill_pending": st.kill_pending, "flatten_pending": s.flatten_pending,
        "flatten_since": s.flatten_since, "open_positions": s.open_positions,
        "equity": str(s.account.equity),
        "equity_source": source,
        "day_start_equity": None if st.day_start_equity is None else str(st.day_start_equity),
        "peak_equity": None if st.peak_equity is None else str(st.peak_equity),
        "resumed_by": st.resumed_by, "resume_reason": st.resume_reason,
        "resumed_at": st.resumed_at.isoformat() if st.resumed_at else None,
        "limits": [
            {"name": lim.name, "value": str(lim.value), "limit": str(lim.limit),
             "headroom": str(lim.headroom), "usage": f"{lim.usage:.4f}", "state": lim.status,
             "value_text": lim.text("value"), "limit_text": lim.text("limit"),
             "headroom_text": lim.text("headroom")}
            for lim in s.limits
        ],
        "recent_events": [_event_payload(e) for e in s.recent_events],
    }


def _event_payload(e: RiskEvent) -> dict[str, Any]:
    return {"ts": e.ts_event.isoformat(), "kind": e.kind, "rule": e.rule,
            "state": e.state.value if e.state else None, "actor": e.actor, "message": e.message}


# --- commands ---------------------------------------------------------------------------------
DbOpt = Annotated[str | None, typer.Option(
    "--db", help="Database URL (default: the settings' CATALYST_DATABASE_URL).")]
RunOpt = Annotated[str | None, typer.Option(
    "--run", help="The run whose risk state this is (each run has its own; default: the "
    "latest run of the database).")]


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    events: Annotated[int, typer.Option("--events", min=0, help="Recent risk events shown.")] = 10,
    run: RunOpt = None,
    db: DbOpt = None,
) -> None:
    """Show the trading state and every limit: value, limit, headroom and state."""
    svc, ks, c, settings = _service(get_container(), run=run, db=db)
    try:
        account, positions, source = _book(svc, settings, c)
        s = svc.status(account, positions, None, recent=events)
    except DomainError as exc:
        raise _fail(f"cannot read the risk state: {exc}", 1) from None
    finally:
        _close_notifier(c)
    payload = _status_payload(s, ks.path, source, _run_of(svc))
    if as_json:
        out.print_json(json.dumps(payload, default=str))
        return
    st = s.state
    # a set kill file halts trading whatever the stored state says (every pre-trade check
    # reads it; the engine records the halt at its next step)
    shown = RiskState.HALTED if s.kill_flag_set else st.state
    style = _STATE_STYLE[shown]
    out.print(f"Run: {_run_of(svc)}")
    out.print(f"Trading state: [{style}]{shown.value.upper()}[/]"
              + (f"  (tripped by {', '.join(st.tripped_rules)})" if st.tripped_rules else "")
              + ("  (by the kill file; the engine records it at its next step)"
                 if s.kill_flag_set and st.state is not RiskState.HALTED else ""))
    if st.reason:
        out.print(f"Reason: {st.reason}")
    out.print(f"Kill file {ks.path}: " + ("[bold red]SET[/]" if s.kill_flag_set else "not set")
              + ("; cancel/flatten pending for the engine" if st.kill_pending else ""))
    if s.flatten_pending:
        out.print(f"[bold red]Flatten pending[/]: {s.open_positions} position(s) still open"
                  + (f", closing orders out since {s.flatten_since}" if s.flatten_since else "")
                  + "; the engine re-sends any that end unfilled until the book is flat")
    out.print(f"Equity ${account.equity:,.2f} ({source})" if st.last_equity is not None
              or source == "broker" else "Equity: no engine step marked yet")
    table = Table(title="Risk limits")
    for col in ("limit", "value", "max", "headroom", "usage", "state"):
        table.add_column(col, justify="right" if col in ("value", "max", "headroom", "usage")
                         else "left")
    table.add_row("trading_state", shown.value, "active", "-", "-",
                  f"[{style}]{shown.value}[/]")
    for lim in s.limits:
        table.add_row(lim.name, lim.text("value"), lim.text("limit"), lim.text("headroom"),
                      f"{lim.usage * 100:.1f}%",
                      f"[{_STATUS_STYLE[lim.status]}]{lim.status}[/]")
    out.print(table)
    if s.recent_events:
        ev_table = Table(title=f"Latest {len(s.recent_events)} risk events")
        for col in ("time", "kind", "rule", "message"):
            ev_table.add_column(col, overflow="fold")
        for e in s.recent_events:
            ev_table.add_row(e.ts_event.isoformat(timespec="seconds"), e.kind, e.rule, e.message)
        out.print(ev_table)


@app.command()
def kill(
    flatten: Annotated[bool, typer.Option("--flatten", help="Also close every position.")] = False,
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded).")] = "",
    by: Annotated[str | None, typer.Option("--by", help="Who (default: the OS user).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    run: RunOpt = None,
    db: DbOpt = None,
) -> None:
    """Halt trading now: cancel open orders, optionally flatten, and latch HALTED."""
    who = (by or f"cli:{getpass.getuser()}").strip()
    if not who:
        raise _fail("--by '': expected the name of who kills trading")
    svc, ks, c, _ = _service(get_container(), broker=True, run=run, db=db)
    try:
        try:
            ks.engage(who, reason, flatten=flatten)
        except OSError as exc:
            err.print(f"[yellow]warning:[/] could not write the kill file {ks.path}: {exc}")
        report = svc.kill(who, reason, flatten=flatten)
    except DomainError as exc:
        raise _fail(f"kill recorded in the kill file only: {exc}", 1) from None
    finally:
        _close_notifier(c)
    payload = {
        "run": _run_of(svc), "state": report.state.value, "by": who, "reason": reason,
        "flatten": flatten,
        "kill_file": str(ks.path), "executed_here": report.executed,
        "canceled": list(report.canceled), "cancel_failures": list(report.cancel_failures),
        "flatten_orders": list(report.flatten_orders), "flatten_error": report.flatten_error,
    }
    if as_json:
        out.print_json(json.dumps(payload))
    else:
        out.print(f"[bold red]Trading HALTED[/] (run {_run_of(svc)}) by {who}"
                  + (f": {reason}" if reason else ""))
        out.print(f"Kill file written: {ks.path} (`catalyst risk resume --approve --by NAME` "
                  "removes it)")
        if report.executed:
            out.print(f"Canceled {len(report.canceled)} open order(s)"
                      + (f"; {len(report.cancel_failures)} failed" if report.cancel_failures
                         else "")
                      + (f"; flatten sent {len(report.flatten_orders)} closing order(s)"
                         if flatten else "; positions kept"))
        else:
            out.print("The engine cancels open orders"
                      + (" and flattens every position" if flatten else "")
                      + " at its next step.")
        if report.flatten_error:
            out.print(f"[bold red]flatten failed:[/] {report.flatten_error}")
    if report.cancel_failures or report.flatten_error:
        raise typer.Exit(1)


@app.command()
def resume(
    approve: Annotated[bool, typer.Option("--approve", help="Confirm the resume.")] = False,
    by: Annotated[str | None, typer.Option("--by", help="Who approves (recorded).")] = None,
    reason: Annotated[str, typer.Option("--reason", help="Why it is safe (recorded).")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    run: RunOpt = None,
    db: DbOpt = None,
) -> None:
    """Return to ACTIVE on a recorded, named approval."""
    if not approve:
        raise _fail("--approve is missing: resuming trading needs an explicit approval "
                    "(catalyst risk resume --approve --by NAME --reason TEXT)")
    if by is None or not by.strip():
        raise _fail(f"--by {by!r}: expected the name of the person who approves the resume")
    svc, ks, c, _ = _service(get_container(), run=run, db=db)
    cleared: dict[str, str] = {}
    try:
        if ks.is_set():
            d = ks.details()
            if not d.get("by"):
                # not the record `catalyst risk kill` writes: someone or something else set it
                raise _fail(f"kill file {ks.path} exists and was not written by `catalyst risk "
                            "kill` (created by hand or by another tool): check why it was set, "
                            f"remove it (rm {ks.path}), then resume")
            ks.clear()  # the approval covers the flag `risk kill` set
            cleared = d
        before = svc.current()
        try:
            st = svc.resume(by, reason, approve=True)
        except ResumeRefused as exc:
            if cleared:  # put the flag back: nothing changed
                ks.engage(cleared["by"], cleared.get("reason", ""),
                          flatten=cleared.get("flatten", "").lower() == "true")
            raise _fail(f"resume refused: {exc}") from None
    finally:
        _close_notifier(c)
    payload = {"run": _run_of(svc), "state": st.state.value,
               "previous_state": before.state.value,
               "kill_file_removed": str(ks.path) if cleared else None,
               "was_tripped_by": list(before.tripped_rules), "resumed_by": st.resumed_by,
               "reason": reason, "resumed_at": st.resumed_at.isoformat() if st.resumed_at
               else None}
    if as_json:
        out.print_json(json.dumps(payload))
        return
    out.print(f"[bold green]Trading ACTIVE[/] (run {_run_of(svc)}): resumed by {st.resumed_by} from "
              f"{before.state.value}" + (f" (was tripped by {', '.join(before.tripped_rules)})"
                                         if before.tripped_rules else "")
              + (f": {reason}" if reason else ""))
    if cleared:
        out.print(f"Kill file {ks.path} removed (set by {cleared['by']} with `catalyst risk "
                  "kill`).")


@app.command()
def report(
    out_path: Annotated[Path | None, typer.Option(
        "--out", help="HTML file or folder (default: reports/risk_report.html under "
        "CATALYST_HOME).")] = None,
    db: DbOpt = None,
) -> None:
    """Write the HTML risk report: state, limits and headroom, risk-event log, breaker history."""
    svc, ks, c, settings = _service(get_container(), db=db)
    out_path = out_path or settings.reports_dir / "risk_report.html"
    try:
        account, positions, _ = _book(svc, settings, c)
        s = svc.status(account, positions, None, recent=0)
        with svc._uow as u:  # noqa: SLF001 - the whole log, not just the recent events
            events = list(u.journal.risk_events())
        path = write_risk_report(out_path, s, events, generated_at=datetime.now(UTC))
    except OSError as exc:
        raise _fail(f"--out {str(out_path)!r}: cannot write the report ({exc})") from None
    except DomainError as exc:
        raise _fail(f"cannot read the risk state: {exc}", 1) from None
    finally:
        _close_notifier(c)
    out.print(f"Risk report written: {path} ({len(events)} risk events, state "
              f"{s.state.state.value})")


def _bars_from_frame(df: Any) -> dict[str, DailyBars]:
    bars: dict[str, DailyBars] = {}
    for t, g in df.groupby("ticker", sort=True):
        g = g.sort_values("date")
        bars[str(t)] = DailyBars(
            dates=tuple(d.date() for d in g["date"]),
            open=g["open"].to_numpy(dtype=float), high=g["high"].to_numpy(dtype=float),
            low=g["low"].to_numpy(dtype=float), close=g["close"].to_numpy(dtype=float),
            volume=g["volume"].to_numpy(dtype=float),
        )
    return bars


def sizing_table(results: list[MethodResult]) -> Table:
    """Return the Rich table of a sizing comparison."""
    t = Table(title="Sizing methods on the same trades")
    for col in ("method", "trades", "skipped", "return", "max drawdown", "Sharpe", "avg size",
                "final equity"):
        t.add_column(col, justify="left" if col == "method" else "right")
    for r in results:
        t.add_row(r.method.value, str(r.trades_taken), str(r.trades_skipped),
                  f"{r.total_return * 100:.2f}%", f"{r.max_drawdown * 100:.2f}%",
                  f"{r.sharpe:.2f}", f"{r.avg_fraction * 100:.2f}%", f"${r.final_equity:,.2f}")
    return t


@app.command("sizing-backtest")
def sizing_backtest(
    data: Annotated[Path | None, typer.Option("--data", help="OHLCV CSV/Parquet (default: "
                                              "the bundled sample).")] = None,
    alerts: Annotated[Path | None, typer.Option("--alerts", help="Alerts JSONL/CSV (default: "
                                                "the bundled sample).")] = None,
    equity: Annotated[float, typer.Option("--equity", min=1000.0, help="Starting equity.")
                      ] = 100_000.0,
    hold_days: Annotated[int, typer.Option("--hold-days", min=1, max=60,
                                           help="Sessions each trade is held at most.")] = 5,
    kelly_min_trades: Annotated[int, typer.Option("--kelly-min-trades", min=1,
                                                  help="Closed trades before Kelly applies.")
                                ] = 30,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Replay the same catalyst trades under each sizing method; compare return, drawdown, Sharpe."""
    from adapters.data.alerts import AlertFileError, read_alerts
    from adapters.data.ohlcv import DataError, load_ohlcv
    from adapters.data.sample import sample_paths

    sample = sample_paths()
    data_path, alerts_path = data or sample.prices, alerts or sample.alerts
    try:
        frame = load_ohlcv(data_path)
    except (DataError, OSError, ValueError) as exc:
        raise _fail(f"--data {str(data_path)!r}: {exc}") from None
    try:
        alert_list = read_alerts(alerts_path)
    except (AlertFileError, OSError, ValueError) as exc:
        raise _fail(f"--alerts {str(alerts_path)!r}: {exc}") from None
    trades = trades_from_alerts(_bars_from_frame(frame), alert_list, hold_days=hold_days)
    if not trades:
        raise _fail(f"--alerts {str(alerts_path)!r}: no alert matched a ticker and date in "
                    f"--data {str(data_path)!r}; expected overlapping tickers and dates", 1)
    cfg = SizingConfig(kelly_min_trades=kelly_min_trades)
    results = compare(trades, tuple(SizingMethod), starting_equity=Decimal(repr(equity)),
                      config=cfg)
    if as_json:
        out.print_json(json.dumps({
            "trades": len(trades), "hold_days": hold_days, "starting_equity": equity,
            "data": str(data_path), "alerts": str(alerts_path),
            "methods": [{"method": r.method.value, "trades": r.trades_taken,
                         "skipped": r.trades_skipped, "total_return": round(r.total_return, 6),
                         "max_drawdown": round(r.max_drawdown, 6), "sharpe": round(r.sharpe, 4),
                         "avg_fraction": round(r.avg_fraction, 6),
                         "final_equity": str(r.final_equity.quantize(Decimal("0.01")))}
                        for r in results],
        }))
        return
    out.print(f"{len(trades)} trades from {len(alert_list)} alerts ({alerts_path.name}) over "
              f"{data_path.name}; held up to {hold_days} sessions, 2 x ATR stop, "
              f"${equity:,.0f} starting equity")
    out.print(sizing_table(results))
