"""Paper trading from the command line: ``backtest`` and ``run``.

``catalyst backtest`` replays the bundled sample (or ``--data`` / ``--alerts``) through the
engine on the simulated exchange into a fresh SQLite file (``backtest.db`` under
``CATALYST_HOME``), writes the report to ``reports/<run id>/`` there and prints the metrics.
``catalyst run --broker sim`` replays through the same engine into the configured database and
resumes after a restart.
``catalyst run --broker alpaca`` trades in real time (:mod:`entrypoints.cli.trading_live`).
The replay is wired in :mod:`entrypoints.cli.trading_session`, its end rendered by
:mod:`entrypoints.cli.trading_report`; the read commands live in
:mod:`entrypoints.cli.trading_views`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from adapters.sources.files import not_alerts_reason
from domain.risk.sizing import SizingMethod
from entrypoints.cli import runs as named
from entrypoints.cli.container import get_container
from entrypoints.cli.lease import check_writable_dir
from entrypoints.cli.trading_options import (
    COST_FLAGS,
    AgentOpt,
    AlertsOpt,
    CommissionBpsOpt,
    CommissionOrderOpt,
    CommissionShareOpt,
    DataOpt,
    DbOpt,
    JsonOpt,
    MaxHoldOpt,
    MinCommissionOpt,
    SizingOpt,
    SlippageBpsOpt,
    SlippageModelOpt,
    SpreadBpsOpt,
    StrategyOpt,
    ThresholdOpt,
    TickerOpt,
    VolFactorOpt,
    cost_model,
    data_path,
    fail,
)
from entrypoints.cli.trading_report import finish
from entrypoints.cli.trading_session import open_session, replace_unusable, run_session
from entrypoints.settings import Settings

app = typer.Typer(no_args_is_help=True)


@app.command()
def backtest(
    data: DataOpt = None,
    alerts: AlertsOpt = None,
    strategy: StrategyOpt = None,
    agent: AgentOpt = None,
    report: Annotated[Path | None, typer.Option("--report", help="Report folder; default "
                                                "reports/RUN under CATALYST_HOME.")] = None,
    db: Annotated[str | None, typer.Option("--db", help="Database URL (recreated when SQLite; "
                                           "default backtest.db under CATALYST_HOME).")]
    = None,
    cash: Annotated[float, typer.Option("--cash", help="Starting cash.")] = 100_000.0,
    threshold: ThresholdOpt = 0.70,
    sizing: SizingOpt = "confidence",
    max_hold_days: MaxHoldOpt = 14.0,
    progress: Annotated[bool, typer.Option("--progress/--no-progress",
                                           help="Show a progress bar on stderr.")] = True,
    as_json: JsonOpt = False,
    ticker: TickerOpt = None,
    auto_resume: Annotated[bool, typer.Option(
        "--auto-resume", help="Simulate an operator who resumes trading after the close of "
        "the session in which a circuit breaker tripped (never after a kill); off: a trip "
        "latches for the rest of the backtest, as it does live.")] = False,
    commission_bps: CommissionBpsOpt = None,
    commission_per_share: CommissionShareOpt = None,
    commission_per_order: CommissionOrderOpt = None,
    min_commission: MinCommissionOpt = None,
    slippage_bps: SlippageBpsOpt = None,
    slippage_model: SlippageModelOpt = None,
    spread_bps: SpreadBpsOpt = None,
    volatility_factor: VolFactorOpt = None,
    run_name: Annotated[str | None, typer.Option(
        "--run", help="Keep this backtest as run NAME next to the other runs of the database "
        "(the same name and parameters resume it). Without it the unnamed backtest (run "
        "'backtest') is replaced.")] = None,
    walk_forward: Annotated[Path | None, typer.Option(
        "--walk-forward", help="A TOML parameter grid: instead of one backtest, validate the "
        "rule strategy walk-forward (best grid point per train window, run out of sample; "
        "deflated Sharpe and PBO) over four test windows at the end of the data. Other "
        "windows: `catalyst backtest-walk-forward --help`."
        )] = None,
) -> None:
    """Replay history through the paper-trading engine as fast as possible and report.

    The risk limits and costs come from the settings (the \\[risk] and \\[costs] tables of
    catalyst.toml, CATALYST_RISK__* and CATALYST_COSTS__*); the live kill file is ignored,
    with a warning. Exits 1 when most alert lines were bad.
    """
    if walk_forward is not None:  # four test windows at the end; other windows on the long form
        from entrypoints.cli.walk_forward_backtest import backtest_walk_forward

        home = get_container().core.settings().home
        backtest_walk_forward(walk_forward, data=data, alerts=Path(alerts) if alerts else None,
                              windows=4, state_dir=Path(home) / "walk_forward",
                              as_json=as_json)
        return
    if not 0.0 <= threshold <= 1.0:
        raise fail(f"--threshold {threshold}: expected a confidence in [0, 1]")
    if cash <= 0:
        raise fail(f"--cash {cash}: expected a positive amount")
    t0 = time.perf_counter()
    container = get_container()
    settings: Settings = container.core.settings()
    db = db or settings.backtest_database_url
    data_path(data)
    check_writable_dir(report or settings.reports_dir, "--report")
    if alerts and alerts != "-" and not Path(alerts).exists():
        raise fail(f"--alerts {alerts!r}: no such file or folder")
    if alerts and Path(alerts).is_file():
        not_alerts = not_alerts_reason(alerts)
        if not_alerts is not None:
            raise fail(f"--alerts {alerts!r}: {not_alerts}: pass prices as --data; an alert "
                        "line has id, ticker, known_at and score (docs/trading.md#alert-format)")
    try:
        SizingMethod(sizing)
    except ValueError:
        raise fail(f"--sizing {sizing!r}: expected one of "
                    f"{', '.join(m.value for m in SizingMethod)}") from None
    costs = cost_model(settings, **{k: v for k, v in locals().items() if k in COST_FLAGS})
    kill_file = settings.kill_path
    ignored = str(kill_file) if kill_file.exists() else None
    name = named.check_name(run_name) if run_name is not None else None
    if name is None:  # validated above: only now replace the previous backtest
        replace_unusable(db)
    container.gateways.broker_name.override("sim")
    session = open_session("backtest", data, alerts, strategy, db, name, 0.0, cash, threshold,
                       sizing, max_hold_days, as_json, costs=costs, ticker=ticker,
                       auto_resume=auto_resume, container=container, agents=agent)
    if name is None:  # the unnamed backtest is replaced; named runs stay
        with session.uow as u:
            u.runs.delete(session.run_id)
            u.commit()
    else:
        named.refuse_other_params(session.uow, name, "backtest", session.params, db)
    result = run_session(session, progress and not as_json)
    if agent:
        session.source.flush_status()  # type: ignore[attr-defined]
    report_dir = report or settings.reports_dir / session.run_id
    finish(session, result, report_dir, as_json, time.perf_counter() - t0,
            kill_file_ignored=ignored)



@app.command()
def run(
    broker: Annotated[str | None, typer.Option("--broker", help="sim (the simulated exchange) "
                                               "or alpaca (default: CATALYST_BROKER, sim).")]
    = None,
    data: DataOpt = None,
    alerts: AlertsOpt = None,
    strategy: StrategyOpt = None,
    agent: AgentOpt = None,
    speed: Annotated[float, typer.Option("--speed", help="Replay pace: data seconds per wall "
                                         "second (0: as fast as possible).")] = 0.0,
    db: DbOpt = None,
    run_id: Annotated[str | None, typer.Option(
        "--run", "--run-id", help="Run name (default: 'default'). A restart with the same name "
        "and parameters resumes; other parameters need another name.")] = None,
    cash: Annotated[float, typer.Option("--cash", help="sim: starting cash.")] = 100_000.0,
    threshold: ThresholdOpt = 0.70,
    sizing: SizingOpt = "confidence",
    max_hold_days: MaxHoldOpt = 14.0,
    report: Annotated[Path | None, typer.Option("--report", help="Report folder; default "
                                                "reports/RUN under CATALYST_HOME.")] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress",
                                           help="sim: show a progress bar on stderr.")] = True,
    tickers: Annotated[str, typer.Option("--tickers", help="Alpaca: comma-separated tickers to "
                                         "watch (default: the sample's).")] = "",
    interval: Annotated[float, typer.Option("--interval", help="Alpaca: seconds between "
                                            "steps.")] = 60.0,
    live: Annotated[bool, typer.Option("--live", help="Alpaca: trade the LIVE account (needs "
                                       "CATALYST_LIVE_CONFIRM=I-UNDERSTAND).")] = False,
    max_steps: Annotated[int, typer.Option("--max-steps", hidden=True)] = 0,
    reconcile_steps: Annotated[int, typer.Option(
        "--reconcile-steps", help="sim: reconcile orders and positions with the exchange "
        "every N replay steps (0: only at start).")] = 20,
    reconcile_interval: Annotated[float, typer.Option(
        "--reconcile-interval", help="alpaca: reconcile orders and positions with the broker "
        "every this many seconds (0: only at start).")] = 300.0,
    max_outage: Annotated[float, typer.Option(
        "--max-outage", help="alpaca: stop (exit 1) when the broker has not answered for this "
        "many seconds; at start an unreachable broker exits 2 at once.")] = 300.0,
    as_json: JsonOpt = False,
    ticker: TickerOpt = None,
    commission_bps: CommissionBpsOpt = None,
    commission_per_share: CommissionShareOpt = None,
    commission_per_order: CommissionOrderOpt = None,
    min_commission: MinCommissionOpt = None,
    slippage_bps: SlippageBpsOpt = None,
    slippage_model: SlippageModelOpt = None,
    spread_bps: SpreadBpsOpt = None,
    volatility_factor: VolFactorOpt = None,
    listen: Annotated[str | None, typer.Option("--listen", help="HOST:PORT: serve the webhook "
                      "intake in this process; alerts come from its inbox.")] = None,
) -> None:
    """Paper-trade through the engine; resumes after a restart (SIGINT/SIGTERM stop cleanly).

    ``--broker sim`` replays data on the simulated exchange; ``--broker alpaca`` trades in real
    time (wall clock, market hours) on Alpaca's paper account, alerts from ``--alerts``.
    """
    if listen is not None:  # the webhook intake next to the engine (entrypoints/cli/serve.py)
        from entrypoints.cli.serve import run_with_intake

        return run_with_intake(listen, dict(locals()))
    if reconcile_steps < 0:
        raise fail(f"--reconcile-steps {reconcile_steps}: expected a step count >= 0")
    if reconcile_interval < 0:
        raise fail(f"--reconcile-interval {reconcile_interval}: expected seconds >= 0")
    container = get_container()
    settings: Settings = container.core.settings()
    vendor = broker or settings.broker
    if vendor not in ("sim", "alpaca"):
        raise fail(f"--broker {broker!r}: expected sim or alpaca")
    # the one choice of vendor: the container's broker and price feed follow it
    container.gateways.broker_name.override(vendor)
    if vendor == "alpaca":
        from entrypoints.cli.trading_live import run_live

        run_live(container, alerts=alerts, agents=agent, db=db, run_id=run_id,
                 threshold=threshold, sizing=sizing, max_hold_days=max_hold_days,
                 tickers=tickers, interval=interval, max_steps=max_steps, live=live,
                 as_json=as_json, reconcile_interval=reconcile_interval,
                 max_outage=max_outage)
        return
    if speed < 0:
        raise fail(f"--speed {speed}: expected >= 0")
    check_writable_dir(report or settings.reports_dir, "--report")
    t0 = time.perf_counter()
    url = db or settings.database_url
    costs = cost_model(settings, **{k: v for k, v in locals().items() if k in COST_FLAGS})
    session = open_session("run", data, alerts, strategy, url,
                       named.check_name(run_id) if run_id is not None else None, speed, cash,
                       threshold, sizing, max_hold_days, as_json, reconcile_steps, costs=costs,
                       ticker=ticker, container=container, agents=agent)
    named.refuse_other_params(session.uow, session.run_id, "run", session.params, url)
    if alerts == "-":
        feed = getattr(session.source, "feed", None)
        if feed is not None and hasattr(feed, "wait_closed") and speed == 0:
            feed.wait_closed(timeout=60.0)
    result = run_session(session, progress and not as_json)
    if agent:
        session.source.flush_status()  # type: ignore[attr-defined]
    report_dir = report or settings.reports_dir / session.run_id
    finish(session, result, report_dir, as_json, time.perf_counter() - t0)


