"""Paper trading from the command line: ``backtest``, ``run``, and the views of the state.

``catalyst backtest`` replays the bundled sample (or ``--data`` / ``--alerts``) through the
engine on the simulated exchange into a fresh SQLite file (``backtest.db`` under
``CATALYST_HOME``), writes the report to ``reports/<run id>/`` there and prints the metrics.
``catalyst run --broker sim`` replays through the same engine into the configured database and
resumes after a restart.
``positions``, ``orders``, ``trades``, ``account``, ``report`` and ``export trades`` read a
database (``--db``, default the configured one; ``backtest.db`` holds the backtests); a SQLite
``--db`` that does not exist is refused (exit 2) rather than created empty.
A database holds several named runs (``--run``, see :mod:`entrypoints.cli.runs`).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import attrs
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from adapters.data.sample import sample_paths
from adapters.reporting.trading_report import trade_rows, write_report
from adapters.sources.files import NotAlertsError, not_alerts_reason, open_feed
from adapters.sources.parse import AlertIssue
from application import views
from application.backtest import remaining_steps, run_replay
from application.engine import Engine, EngineConfig, MarketStep, StrategySignalSource
from application.execution.results import ExecutionResult
from application.executor import ExecutorConfig, OrderExecutor
from application.monitor import MonitorConfig, PositionMonitor
from application.ports import DEFAULT_RUN, SignalSource, UnitOfWork
from application.risk import RiskService
from application.router import AlertSignalSource, RouterConfig
from application.tracker import PERIODS, PortfolioTracker
from domain.audit import Severity
from domain.clock import TestClock
from domain.costs import SLIPPAGE_MODELS, CostModel
from domain.errors import DomainError, InvalidInput
from domain.risk.config import RiskConfig
from domain.risk.sizing import SizingMethod
from domain.values import TimeInForce
from entrypoints.cli import runs as named
from entrypoints.cli.container import Container, get_container
from entrypoints.cli.lease import check_writable_dir, quarantine_issues, take_run_lease
from entrypoints.cli.live_log import LoggingBroker, LoggingSource, log_step_results, watch_risk
from entrypoints.cli.outcome import (
    breaker_summary,
    early_signals,
    input_problem,
    limits_json,
    notices_for,
    risk_overrides,
)
from entrypoints.cli.output import cell, fit_table, json_row
from entrypoints.settings import Settings, mask_url
from entrypoints.signals import stop_on_signals

if TYPE_CHECKING:
    from adapters.simulated import SimulatedExchange
    from adapters.sqlalchemy.lease import RunLease

app = typer.Typer(no_args_is_help=True)
export_app = typer.Typer(no_args_is_help=True, help="Export the trade log.")
app.add_typer(export_app, name="export")

out = Console()
err = Console(stderr=True)

DAILY_PRICE_AGE_S = 5 * 86_400.0  # daily bars: a price is fresh for a long weekend
#: skipped alert lines printed on stderr (all of them go to ``alert_issues.csv``)
SHOWN_ISSUES = 20
_DEFAULT_RISK = RiskConfig(max_price_age_s=DAILY_PRICE_AGE_S)


def _fail(msg: str, code: int = 2) -> typer.Exit:
    err.print(f"[bold red]error:[/] {msg}")
    return typer.Exit(code)


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def _sqlite_file(url: str) -> Path | None:
    if url.startswith("sqlite:///") and ":memory:" not in url:
        return Path(url.removeprefix("sqlite:///"))
    return None


def _uow(url: str, *, synchronous: str = "NORMAL", run: str = DEFAULT_RUN) -> UnitOfWork:
    from adapters.sqlalchemy import PersistenceError, make_engine, sql_uow_factory

    try:
        engine = make_engine(url, synchronous=synchronous)  # type: ignore[arg-type]
    except PersistenceError as exc:
        raise _fail(f"database {mask_url(url)!r}: {exc}") from None
    return cast(UnitOfWork, sql_uow_factory(engine, run_id=run)())


def _load_strategy(spec: str) -> SignalSource:
    """Import ``module:callable`` (the current folder importable) as a signal source.

    A class is made once per ticker (strategies keep per-series state); an object with
    ``poll`` is a signal source already; anything else is a strategy ``on_bar(bar, ctx)``
    (or the one-argument ``on_bar(bar)`` form) run by :class:`StrategySignalSource`.
    """
    import os
    import sys

    from adapters.simulated.replay import PerTicker
    from application.strategy_source import takes_context

    mod_name, _, attr = spec.partition(":")
    if not mod_name or not attr:
        raise _fail(f"--strategy {spec!r}: expected module:callable (e.g. "
                    "adapters.simulated.examples:SmaCross)")
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)
    try:
        obj: Any = getattr(importlib.import_module(mod_name), attr)
    except (ImportError, AttributeError) as exc:
        raise _fail(f"--strategy {spec!r}: cannot import ({exc})") from None
    if isinstance(obj, type):
        if hasattr(obj, "poll"):
            return obj()  # type: ignore[no-any-return]
        if hasattr(obj, "on_bar") and takes_context(obj):
            return StrategySignalSource(PerTicker(obj), name=spec)
        obj = obj()
    if hasattr(obj, "poll"):
        return obj  # type: ignore[no-any-return]
    if hasattr(obj, "on_bar") or callable(obj):
        return StrategySignalSource(obj, name=spec)
    raise _fail(f"--strategy {spec!r}: expected a strategy (on_bar(bar, ctx) or a callable "
                "(bar, ctx) -> signals) or a signal source with poll")


#: replay steps per durable commit when nothing else writes the database meanwhile (a crash
#: loses at most this many steps, which the resume replays)
REPLAY_COMMIT_EVERY = 32


class Session:
    """Everything one replay needs, wired: exchange, database, engine, driver."""

    def __init__(
        self, *, data: Path, alerts: str | None, strategy: str | None, db_url: str, kind: str,
        run_id: str | None, speed: float, cash: Decimal, threshold: float, sizing: str,
        max_hold_days: float, issue_sink: Callable[[AlertIssue], None] | None,
        reconcile_steps: int | None = None, costs: CostModel | None = None,
        risk_config: RiskConfig | None = None, ticker: str | None = None,
        ignore_kill_flag: bool = False, auto_resume: bool = False,
        container: Container,
        agents: list[str] | None = None,
    ) -> None:
        from adapters.data.ohlcv import DataError
        from adapters.simulated import ExchangeConfig
        from adapters.simulated.sessions import dt_from_ns
        from adapters.sources.market import ArrayReplay, DailyBars

        try:
            self.data = DailyBars(data, ticker=ticker)
        except DataError as exc:
            raise _fail(f"--data {str(data)!r}: {exc}") from None
        if not self.data.rows:
            raise _fail(f"--data {str(data)!r}: no valid bars")
        tickers = self.data.tickers
        self.issues: list[AlertIssue] = []
        self.issue_count = 0

        def on_issue(issue: AlertIssue) -> None:
            self.issue_count += 1
            if len(self.issues) < 10_000:
                self.issues.append(issue)
            if issue_sink is not None:
                issue_sink(issue)

        self.feed_counts: Any = None
        self.alerts_spec: str | None = None
        self.first_bar: dict[str, datetime] = {t: dt_from_ns(ns)
                                               for t, ns in self.data.first_ts.items()}
        self.costs = costs or container.core.settings().cost_model()
        self.risk_config = risk_config or RiskConfig(max_price_age_s=DAILY_PRICE_AGE_S)
        self.ignore_kill_flag = ignore_kill_flag
        #: called after each committed replay step (the webhook's health reads it)
        self.on_step: Callable[[MarketStep], None] | None = None
        self.auto_resume = auto_resume
        self.auto_resumes = 0
        self.lease: RunLease | None = None
        source: SignalSource
        if agents:  # trained agents (entrypoints.cli.agents): the same executor and risk path
            from adapters.sources.market import load_daily_bars
            from entrypoints.cli.agents import agent_source

            # the agents rebuild their observations from these bars when a run resumes
            source = agent_source(agents, data, alerts, tickers, float(cash),
                                  run_id or (named.BACKTEST_RUN if kind == "backtest"
                                             else DEFAULT_RUN),
                                  notifier=container.gateways.notifier(),
                                  bars=load_daily_bars(data, ticker=ticker))
            params_src = "agents:" + ",".join(agents)
        elif strategy:
            source = _load_strategy(strategy)
            params_src = strategy
        else:
            spec = alerts or str(sample_paths().alerts)
            try:
                # an alert known after the last bar can never trade here: refused as future
                data_end = dt_from_ns(int(self.data.step_ts[-1]))
                feed = open_feed(spec, known_tickers=set(tickers),
                                 not_after=min(datetime.now(UTC), data_end),
                                 on_issue=on_issue)
            except (FileNotFoundError, NotAlertsError) as exc:
                raise _fail(f"--alerts {spec!r}: {exc}") from None
            self.feed_counts = feed.issues
            self.alerts_spec = spec
            router = container.services.signal_router(
                config=RouterConfig(threshold=threshold))
            source = AlertSignalSource(feed, router)
            params_src = spec if spec == "-" else f"{spec}#{_file_digest(Path(spec))}" \
                if Path(spec).is_file() else spec
        self.source = source
        try:
            method = SizingMethod(sizing)
        except ValueError:
            raise _fail(f"--sizing {sizing!r}: expected one of "
                        f"{', '.join(m.value for m in SizingMethod)}") from None
        params = {"data": f"{data}#{_file_digest(data)}", "signals": params_src,
                  "cash": str(cash), "threshold": threshold, "sizing": method.value,
                  "max_hold_days": max_hold_days, "costs": self.costs.to_dict()}
        overrides = risk_overrides(self.risk_config, _DEFAULT_RISK)
        if overrides:
            params["risk"] = overrides
        self.kind, self.params = kind, params
        self.run_id = run_id or (named.BACKTEST_RUN if kind == "backtest" else DEFAULT_RUN)
        self.clock = TestClock(dt_from_ns(int(self.data.step_ts[0])))
        c = self.costs
        self.exchange: SimulatedExchange = container.gateways.live_broker(
            config=ExchangeConfig(starting_cash=cash, costs=c, slippage_model=c.slippage_model,
                                  spread_bps=c.spread_bps,
                                  volatility_factor=c.volatility_factor),
            clock=self.clock)
        if agents:  # the agents' account features come from the real portfolio
            from application.agents import AgentSignalSource, broker_account_features

            cast(AgentSignalSource, source).bind_account(broker_account_features(self.exchange))
        self.db_url = db_url
        self.uow = _uow(db_url, run=self.run_id)
        services = container.services
        # a backtest replays history: the live kill file (``risk kill``) is not about it
        no_flag: dict[str, Any] = {"kill_flag": None, "kill_flag_flattens": False} \
            if ignore_kill_flag else {}
        self.risk: RiskService = services.risk_service(
            uow=self.uow, broker=self.exchange, clock=self.clock,
            config=self.risk_config, journal_approvals=False,
            notify_min_severity=Severity.CRITICAL, **no_flag)
        self.executor: OrderExecutor = services.order_executor(
            broker=self.exchange, feed=self.exchange, risk=self.risk,
            config=ExecutorConfig(threshold=threshold, sizing_method=method))
        self.monitor: PositionMonitor = services.position_monitor(
            executor=self.executor, config=MonitorConfig(
                max_hold=timedelta(days=max_hold_days) if max_hold_days > 0 else None))
        self.tracker: PortfolioTracker = services.portfolio_tracker(run_id=self.run_id)
        self.driver = ArrayReplay(self.data, self.exchange, self.clock, speed=speed)
        # reconciliation with the exchange at start (after a resume's recovery) and every
        # ``reconcile_steps`` steps (0: start only; None: off, the backtest)
        reconciler = None if reconcile_steps is None else services.reconciler(
            uow=self.uow, broker=self.exchange, clock=self.clock)
        self.engine: Engine = services.engine(
            uow=self.uow, broker=self.exchange, feed=self.exchange, source=source,
            executor=self.executor, monitor=self.monitor, tracker=self.tracker, clock=self.clock,
            config=EngineConfig(run_id=self.run_id, kind=kind, params=params,
                                reconcile_every_steps=reconcile_steps or 0),
            risk=self.risk, reconciler=reconciler)

    def commit_every(self) -> int:
        """Replay steps per durable commit: grouped when the replay runs as fast as possible
        and its signals come from a file of alerts or a strategy; every step when anything
        else may write the database meanwhile (the webhook inbox, the agents' registry)."""
        from adapters.sources.files import AlertFileFeed, FolderFeed, StdinFeed

        src = self.source
        if self.driver.speed > 0:
            return 1
        if isinstance(src, StrategySignalSource) or (
                isinstance(src, AlertSignalSource)
                and isinstance(src.feed, AlertFileFeed | FolderFeed | StdinFeed)):
            return REPLAY_COMMIT_EVERY
        return 1

    def run(self, progress: bool) -> Any:
        every = self.commit_every()
        if not progress:
            outcome = run_replay(self.engine, self.driver, self.risk,
                                 auto_resume=self.auto_resume, restore=self._restore,
                                 on_step=self.on_step, commit_every=every)
            self.auto_resumes = outcome.auto_resumes
            return outcome.result
        total = remaining_steps(self.engine, self.driver)
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), TextColumn("{task.fields[day]}"), console=err,
                      transient=False) as bar:
            task = bar.add_task("replay", total=total, day="")

            def tick(step: MarketStep) -> None:
                bar.update(task, advance=1, day=step.ts.date().isoformat())
                if self.on_step is not None:
                    self.on_step(step)

            outcome = run_replay(self.engine, self.driver, self.risk,
                                 auto_resume=self.auto_resume, restore=self._restore,
                                 on_step=tick, commit_every=every)
        self.auto_resumes = outcome.auto_resumes
        return outcome.result

    def _restore(self, uow: UnitOfWork) -> None:
        from adapters.sources.market import restore_ledger

        restore_ledger(self.exchange, uow)


def _summary_table(title: str, metrics: dict[str, Any], label: str = "metric") -> Table:
    """Return a two-column table of ``metrics``, each value formatted by :func:`cell`."""
    t = Table(title=title)
    t.add_column(label)
    t.add_column("value", justify="right", overflow="fold")
    for k, v in metrics.items():
        t.add_row(k, cell(k, v))
    return t


def _finish(session: Session, result: Any, report_dir: Path | None, as_json: bool,
            wall: float, kill_file_ignored: str | None = None) -> None:
    uow = session.uow
    quarantine_issues(uow, session.run_id, session.issues)
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
        "bad_alert_lines": session.issue_count,
        "alert_lines": session.feed_counts.lines if session.feed_counts is not None else None,
        "database": mask_url(session.db_url),
        "resumed_from": result.resumed_from.isoformat() if result.resumed_from else None,
        "reconciliations": result.reconciliations, "reconcile_repairs": result.repairs,
        "breaker": breaker_summary(session.uow, session.risk, results,
                                   auto_resume=session.auto_resume,
                                   auto_resumes=session.auto_resumes),
        "risk_limits": limits_json(session.risk.config),
        "risk_overrides": risk_overrides(session.risk.config, _DEFAULT_RISK),
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
        out.print(_summary_table(f"Performance - {session.run_id} ({status})",
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
        raise _fail(problem, 1)


def _print_issue(issue: AlertIssue) -> None:
    err.print(f"[yellow]skipped alert[/] {issue}")


def _issue_printer() -> Callable[[AlertIssue], None]:
    """Print the first skipped alert lines on stderr (``--json`` too), then a count hint."""
    seen = [0]

    def sink(issue: AlertIssue) -> None:
        seen[0] += 1
        if seen[0] <= SHOWN_ISSUES:
            _print_issue(issue)
        elif seen[0] == SHOWN_ISSUES + 1:
            err.print("[yellow]more alert lines skipped[/]: the count is in the summary, every "
                      "line in the report's alert_issues.csv")

    return sink


DataOpt = Annotated[Path | None, typer.Option("--data", help="OHLCV CSV/Parquet (date,ticker,"
                                              "open,high,low,close,volume); default: sample.")]
AlertsOpt = Annotated[str | None, typer.Option("--alerts", help="Alerts: a JSONL/CSV file, a "
                                               "folder (followed) or - for stdin; default: "
                                               "the bundled earnings alerts.")]
StrategyOpt = Annotated[str | None, typer.Option("--strategy", help="module:callable producing "
                                                 "signals from bars (instead of alerts).")]
AgentOpt = Annotated[list[str] | None, typer.Option(
    "--agent", help="A registered RL model as the signal source: NAME\\[@VERSION]"
    "\\[:TICKER,...] (no version: production, followed as it is promoted; repeat for several "
    "agents on different tickers). See docs/rl.md, Deployment.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
DbOpt = Annotated[str | None, typer.Option("--db", help="Database URL.")]
TickerOpt = Annotated[str | None, typer.Option("--ticker", help="Ticker of a --data file "
                                               "without a ticker column.")]
# "\\[" keeps Rich (Typer's help renderer) from reading "[costs]" as markup
_COSTS_HELP = " Default from \\[costs] / CATALYST_COSTS__*; see docs/trading.md#costs."
CommissionBpsOpt = Annotated[float | None, typer.Option(
    "--commission-bps", help="Commission in basis points of notional (default 10 = 0.1 %)."
    + _COSTS_HELP)]
CommissionShareOpt = Annotated[float | None, typer.Option(
    "--commission-per-share", help="Commission per share in dollars (default 0)." + _COSTS_HELP)]
CommissionOrderOpt = Annotated[float | None, typer.Option(
    "--commission-per-order", help="Commission per fill in dollars (default 0)." + _COSTS_HELP)]
MinCommissionOpt = Annotated[float | None, typer.Option(
    "--min-commission", help="Smallest commission of a fill in dollars (default 0)."
    + _COSTS_HELP)]
SlippageBpsOpt = Annotated[float | None, typer.Option(
    "--slippage-bps", help="Slippage of market and stop fills in basis points (default 5 = "
    "0.05 %)." + _COSTS_HELP)]
SlippageModelOpt = Annotated[str | None, typer.Option(
    "--slippage-model", help="fixed (default), spread (plus half of --spread-bps) or "
    "volatility (plus --volatility-factor x the bar's range)." + _COSTS_HELP)]
SpreadBpsOpt = Annotated[float | None, typer.Option(
    "--spread-bps", help="Quoted spread in basis points (spread model)." + _COSTS_HELP)]
VolFactorOpt = Annotated[float | None, typer.Option(
    "--volatility-factor", help="Slippage bps per bps of the bar's high-low range "
    "(volatility model)." + _COSTS_HELP)]

_COST_FLAGS = {"commission_bps": "--commission-bps", "commission_per_share":
               "--commission-per-share", "commission_per_order": "--commission-per-order",
               "min_commission": "--min-commission", "slippage_bps": "--slippage-bps",
               "slippage_model": "--slippage-model", "spread_bps": "--spread-bps",
               "volatility_factor": "--volatility-factor"}


def _cost_model(settings: Settings, **flags: Any) -> CostModel:
    """The costs of this command: defaults, then settings, then the flags given."""
    model = flags.get("slippage_model")
    if model is not None and model not in SLIPPAGE_MODELS:
        raise _fail(f"--slippage-model {model!r}: expected one of {', '.join(SLIPPAGE_MODELS)}")
    try:
        return settings.cost_model(**flags)
    except InvalidInput as exc:
        flag = _COST_FLAGS.get(exc.field, exc.field)
        raise _fail(f"{flag} {exc.value!r}: expected {exc.expected}") from None


def _risk_config(settings: Settings) -> RiskConfig:
    """The risk limits of ``[risk]`` / ``CATALYST_RISK__*``; prices of daily bars stay fresh
    for a long weekend unless ``max_price_age_s`` is configured."""
    cfg = settings.risk_config()
    if "max_price_age_s" not in settings.risk:
        cfg = attrs.evolve(cfg, max_price_age_s=DAILY_PRICE_AGE_S)
    return cfg
ThresholdOpt = Annotated[float, typer.Option(
    "--threshold", help="Smallest alert confidence that becomes a signal.")]
SizingOpt = Annotated[str, typer.Option("--sizing", help="fixed, confidence, volatility, kelly.")]
MaxHoldOpt = Annotated[float, typer.Option("--max-hold-days", help="Time exit (0: none).")]
RunOpt = Annotated[str | None, typer.Option("--run", help="Run to show (default: the latest "
                                            "run of the database; `catalyst runs` lists them).")]


def _data_path(data: Path | None) -> Path:
    p = data or sample_paths().prices
    if not p.is_file():
        raise _fail(f"--data {str(p)!r}: no such file (expected an OHLCV CSV or Parquet file)")
    return p


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
        raise _fail(f"--threshold {threshold}: expected a confidence in [0, 1]")
    if cash <= 0:
        raise _fail(f"--cash {cash}: expected a positive amount")
    t0 = time.perf_counter()
    container = get_container()
    settings: Settings = container.core.settings()
    db = db or settings.backtest_database_url
    _data_path(data)
    check_writable_dir(report or settings.reports_dir, "--report")
    if alerts and alerts != "-" and not Path(alerts).exists():
        raise _fail(f"--alerts {alerts!r}: no such file or folder")
    if alerts and Path(alerts).is_file():
        not_alerts = not_alerts_reason(alerts)
        if not_alerts is not None:
            raise _fail(f"--alerts {alerts!r}: {not_alerts}: pass prices as --data; an alert "
                        "line has id, ticker, known_at and score (docs/trading.md#alert-format)")
    try:
        SizingMethod(sizing)
    except ValueError:
        raise _fail(f"--sizing {sizing!r}: expected one of "
                    f"{', '.join(m.value for m in SizingMethod)}") from None
    costs = _cost_model(settings, **{k: v for k, v in locals().items() if k in _COST_FLAGS})
    kill_file = settings.kill_path
    ignored = str(kill_file) if kill_file.exists() else None
    name = named.check_name(run_name) if run_name is not None else None
    if name is None:  # validated above: only now replace the previous backtest
        _replace_unusable(db)
    container.gateways.broker_name.override("sim")
    session = _session("backtest", data, alerts, strategy, db, name, 0.0, cash, threshold,
                       sizing, max_hold_days, as_json, costs=costs, ticker=ticker,
                       auto_resume=auto_resume, container=container, agents=agent)
    if name is None:  # the unnamed backtest is replaced; named runs stay
        with session.uow as u:
            u.runs.delete(session.run_id)
            u.commit()
    else:
        named.refuse_other_params(session.uow, name, "backtest", session.params, db)
    result = _run_session(session, progress and not as_json)
    if agent:
        session.source.flush_status()  # type: ignore[attr-defined]
    report_dir = report or settings.reports_dir / session.run_id
    _finish(session, result, report_dir, as_json, time.perf_counter() - t0,
            kill_file_ignored=ignored)


def _replace_unusable(db: str) -> None:
    # a SQLite backtest file this version cannot use (an older schema, damage) is replaced
    from adapters.sqlalchemy import PersistenceError, make_engine

    path = _sqlite_file(db)
    if path is None or not path.exists():
        return
    try:
        make_engine(db, synchronous="NORMAL").dispose()
        return
    except PersistenceError:
        pass
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(str(path) + suffix).unlink(missing_ok=True)


def _session(kind: str, data: Path | None, alerts: str | None, strategy: str | None, db: str,
             run_id: str | None, speed: float, cash: float, threshold: float, sizing: str,
             max_hold_days: float, as_json: bool, reconcile_steps: int | None = None, *,
             costs: CostModel, ticker: str | None = None, auto_resume: bool = False,
             container: Container, agents: list[str] | None = None) -> Session:
    if alerts and strategy:
        raise _fail("--alerts and --strategy: give one signal source, not both")
    if agents and strategy:
        raise _fail("--agent and --strategy: give one signal source, not both")
    session = Session(data=_data_path(data), alerts=alerts, strategy=strategy, db_url=db, kind=kind,
                   run_id=run_id, speed=speed, cash=Decimal(repr(cash)), threshold=threshold,
                   sizing=sizing, max_hold_days=max_hold_days,
                   issue_sink=_issue_printer(), reconcile_steps=reconcile_steps, costs=costs,
                   risk_config=_risk_config(container.core.settings()), ticker=ticker,
                   ignore_kill_flag=kind == "backtest", auto_resume=auto_resume,
                   container=container, agents=agents)
    # one process per run: refused here, before anything of the run is touched
    session.lease = take_run_lease(session.uow, session.run_id, session.engine.request_stop)
    return session


def _run_session(session: Session, progress: bool) -> Any:
    try:
        with stop_on_signals(session.engine.request_stop):  # SIGINT/SIGTERM: stop cleanly
            return session.run(progress)
    except DomainError as exc:
        raise _fail(f"run {session.run_id} stopped: {exc}", 1) from None
    finally:
        if session.lease is not None:
            session.lease.release()


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
        raise _fail(f"--reconcile-steps {reconcile_steps}: expected a step count >= 0")
    if reconcile_interval < 0:
        raise _fail(f"--reconcile-interval {reconcile_interval}: expected seconds >= 0")
    container = get_container()
    settings: Settings = container.core.settings()
    vendor = broker or settings.broker
    if vendor == "alpaca" and agent:
        raise _fail("--agent: agents trade on --broker sim only for now (the live Alpaca loop "
                    "has no agent wiring yet)")
    if vendor not in ("sim", "alpaca"):
        raise _fail(f"--broker {broker!r}: expected sim or alpaca")
    # the one choice of vendor: the container's broker and price feed follow it
    container.gateways.broker_name.override(vendor)
    if vendor == "alpaca":
        _run_live(container, alerts, db, run_id, threshold, sizing, max_hold_days, tickers,
                  interval, max_steps, live, as_json, reconcile_interval)
        return
    if speed < 0:
        raise _fail(f"--speed {speed}: expected >= 0")
    check_writable_dir(report or settings.reports_dir, "--report")
    t0 = time.perf_counter()
    url = db or settings.database_url
    costs = _cost_model(settings, **{k: v for k, v in locals().items() if k in _COST_FLAGS})
    session = _session("run", data, alerts, strategy, url,
                       named.check_name(run_id) if run_id is not None else None, speed, cash,
                       threshold, sizing, max_hold_days, as_json, reconcile_steps, costs=costs,
                       ticker=ticker, container=container, agents=agent)
    named.refuse_other_params(session.uow, session.run_id, "run", session.params, url)
    if alerts == "-":
        feed = getattr(session.source, "feed", None)
        if feed is not None and hasattr(feed, "wait_closed") and speed == 0:
            feed.wait_closed(timeout=60.0)
    result = _run_session(session, progress and not as_json)
    if agent:
        session.source.flush_status()  # type: ignore[attr-defined]
    report_dir = report or settings.reports_dir / session.run_id
    _finish(session, result, report_dir, as_json, time.perf_counter() - t0)


def _run_live(container: Container, alerts: str | None, db: str | None, run_id: str | None, threshold: float,
              sizing: str, max_hold_days: float, tickers: str, interval: float, max_steps: int,
              live: bool, as_json: bool, reconcile_interval: float = 300.0) -> None:
    """Real time on Alpaca: the wall clock drives, the Alpaca feed supplies bars."""
    from adapters.data.sample import SAMPLE_TICKERS
    from application.engine import WallClockDriver

    if not alerts:
        raise _fail("--alerts: `catalyst run --broker alpaca` needs an alert source (a file, a "
                    "folder followed as it grows, or - for stdin)")
    try:
        method = SizingMethod(sizing)
    except ValueError:
        raise _fail(f"--sizing {sizing!r}: expected one of "
                    f"{', '.join(m.value for m in SizingMethod)}") from None
    watch = [t.strip().upper() for t in tickers.split(",") if t.strip()] or list(SAMPLE_TICKERS)
    try:
        broker = LoggingBroker(container.gateways.live_broker(live=live))
        feed = container.gateways.live_price_feed()
    except DomainError as exc:
        raise _fail(f"--broker alpaca: {exc}") from None
    clock = container.core.clock()
    url = db or container.core.settings().database_url
    rid = named.check_name(run_id) if run_id is not None else DEFAULT_RUN
    params = {"alerts": alerts, "tickers": watch, "live": live, "threshold": threshold,
              "sizing": method.value, "max_hold_days": max_hold_days}
    uow = _uow(url, synchronous="FULL", run=rid)
    named.refuse_other_params(uow, rid, "live", params, url)
    stop_flag: list[Callable[[], None]] = []
    lease = take_run_lease(uow, rid, lambda: stop_flag[0]() if stop_flag else None)
    issues: list[AlertIssue] = []
    show = _issue_printer()

    def on_issue(i: AlertIssue) -> None:
        issues.append(i)
        show(i)

    try:
        alert_feed = open_feed(alerts, on_issue=on_issue)
    except (FileNotFoundError, NotAlertsError) as exc:
        raise _fail(f"--alerts {alerts!r}: {exc}") from None
    source = LoggingSource(AlertSignalSource(alert_feed, container.services.signal_router(
        config=RouterConfig(threshold=threshold))))
    services = container.services
    risk: RiskService = services.risk_service(uow=uow, broker=broker, clock=clock)
    executor: OrderExecutor = services.order_executor(
        broker=broker, feed=feed, risk=risk, config=ExecutorConfig(
            threshold=threshold, sizing_method=method, time_in_force=TimeInForce.DAY,
            fill_timeout=timedelta(minutes=15)))
    monitor: PositionMonitor = services.position_monitor(executor=executor, config=MonitorConfig(
        max_hold=timedelta(days=max_hold_days) if max_hold_days > 0 else None))
    tracker: PortfolioTracker = services.portfolio_tracker(run_id=rid)
    engine: Engine = services.engine(
        uow=uow, broker=broker, feed=feed, source=source, executor=executor, monitor=monitor,
        tracker=tracker, clock=clock, risk=risk,
        config=EngineConfig(run_id=rid, kind="live", params=params,
                            reconcile_interval=timedelta(seconds=reconcile_interval)
                            if reconcile_interval > 0 else None),
        reconciler=services.reconciler(uow=uow, broker=broker, clock=clock))
    driver = WallClockDriver(feed, broker, clock, watch, interval=interval,
                             stop=lambda: engine.stopping, max_steps=max_steps or None)
    check_risk = watch_risk(lambda: risk.current().state, risk.kill_flag_set)
    engine_step = engine.step

    def logged_step(step: MarketStep) -> tuple[int, list[ExecutionResult]]:
        n, results = engine_step(step)
        log_step_results(results)
        check_risk()
        return n, results

    engine.step = logged_step  # type: ignore[method-assign]
    check_risk()  # a halt in force at start is logged before the first step
    if not as_json:
        err.print(f"[bold]{'LIVE' if live else 'paper'} trading on Alpaca[/]: run {rid}, "
                  f"watching {', '.join(watch)} every {interval:g}s; Ctrl-C stops cleanly")
    stop_flag.append(engine.request_stop)
    try:
        with stop_on_signals(engine.request_stop):
            result = engine.run(driver)
    except DomainError as exc:
        raise _fail(f"run {rid} stopped: {exc}", 1) from None
    finally:
        if lease is not None:
            lease.release()
    payload = {"run_id": rid, "status": result.status, "steps": result.steps,
               "signals": result.signals, "orders": result.orders,
               "closed_trades": result.closed, "bad_alert_lines": len(issues),
               "reconciliations": result.reconciliations,
               "reconcile_repairs": result.repairs}
    if as_json:
        out.print_json(json.dumps(payload))
    else:
        out.print(_summary_table(f"Run {rid}", payload))


# --- views ------------------------------------------------------------------------------------
def _view_url(db: str | None, settings: Settings) -> str:
    url = db or settings.database_url
    path = _sqlite_file(url)
    backtest_url = settings.backtest_database_url
    if db is None and path is not None and not path.exists():
        # No paper-trading records yet: show the last backtest rather than nothing.
        backtest = _sqlite_file(backtest_url)
        if backtest is not None and backtest.exists():
            err.print(f"[dim]no records in {mask_url(url)}; showing the last backtest "
                      f"({mask_url(backtest_url)}); "
                      "pass --db to choose[/]")
            url, path = backtest_url, backtest
    if path is not None and not path.exists():
        raise _fail(f"--db {mask_url(url)!r}: no such database (run `catalyst backtest` or "
                    "`catalyst run` first)")
    return url


def _view_uow(db: str | None, settings: Settings, run: str | None = None
              ) -> tuple[UnitOfWork, str]:
    """Return a unit of work on the run a view shows (``--run`` or the latest) and its name;
    the database follows ``--db`` or the settings."""
    url = _view_url(db, settings)
    uow = _uow(url)
    name = named.resolve(uow, run, url)
    return uow.for_run(name), name


def _table(title: str, rows: list[dict[str, Any]], cols: list[str], as_json: bool,
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
    uow, name = _view_uow(db, get_container().core.settings(), run)
    rows = [{"run": name,
        "position_id": p.position_id, "ticker": p.ticker, "side": p.side,
        "quantity": p.quantity, "avg_entry_price": p.avg_entry_price,
        "last_price": p.last_price, "unrealized_pnl": p.unrealized_pnl,
        "stop_loss": p.stop_loss, "take_profit": p.take_profit,
        "trailing_stop": p.trailing_stop, "opened_at": p.opened_at,
    } for p in views.positions(uow)]
    _table(f"Open positions - run {name}", rows, ["ticker", "side", "quantity", "avg_entry_price",
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
        raise _fail(f"--status {status!r}: expected open or all")
    uow, name = _view_uow(db, get_container().core.settings(), run)
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
    _table(f"Orders - run {name}", rows, ["client_order_id", "ticker", "side", "quantity", "status",
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
    uow, name = _view_uow(db, get_container().core.settings(), run)
    rows = [{"run": name, **r} for r in trade_rows(views.trades(uow))]
    total = len(rows)
    if limit > 0:
        rows = rows[-limit:]
    _table(f"Trades - run {name}", rows, ["ticker", "side", "quantity", "entry_price", "exit_price",
                            "opened_at", "closed_at", "exit_reason", "realized_pnl"], as_json,
           shown_of=total if len(rows) < total else None, optional=("side", "opened_at"))


@app.command()
def account(db: DbOpt = None, run: RunOpt = None, as_json: JsonOpt = False) -> None:
    """Cash, equity and P&L from the run's latest portfolio snapshot."""
    uow, name = _view_uow(db, get_container().core.settings(), run)
    s = views.account(uow, name)
    if s is None:
        raise _fail(f"run {name}: no portfolio snapshot yet: run `catalyst backtest` or "
                    "`catalyst run`", 1)
    row = {"run_id": s.run_id, "as_of": s.as_of.date().isoformat(), "cash": s.cash,
           "equity": s.equity, "long_market_value": s.long_market_value,
           "short_market_value": s.short_market_value, "open_positions": s.open_positions,
           "daily_pnl": s.daily_pnl, "cumulative_pnl": s.cumulative_pnl,
           "run_status": s.run_status}
    if as_json:
        out.print_json(json.dumps(json_row(row)))
        return
    out.print(_summary_table(f"Account - run {name}", row, "item"))


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
        raise _fail(f"--period {period!r}: expected one of {', '.join(PERIODS)}")
    uow, name = _view_uow(db, get_container().core.settings(), run_name)
    try:
        recs = views.performance(uow, name, period)
    except views.UnknownRun:
        raise _fail("no run in this database yet", 1) from None
    rows = [{"period_start": r.period_start.date().isoformat(), **dict(r.metrics)} for r in recs]
    if limit > 0:
        rows = rows[-limit:]
    if as_json:
        out.print_json(json.dumps({"run_id": name, "period": period,
                                   "rows": [json_row(r) for r in rows]}))
        return
    if period == "all" and rows:
        out.print(_summary_table(f"Performance - {name} (all)", rows[-1]))
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
        raise _fail(f"--format {fmt!r}: expected csv or parquet")
    settings: Settings = get_container().core.settings()
    uow, name = _view_uow(db, settings, run)
    closed = views.trades(uow)
    path = output or settings.exports_dir / f"trades.{fmt}"
    path.parent.mkdir(parents=True, exist_ok=True)
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
    url = _view_url(db, get_container().core.settings())
    named.show_runs(_uow(url), as_json, url)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
