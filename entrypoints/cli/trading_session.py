"""One replay (``backtest``, ``run --broker sim``) wired from the CLI's container: :class:`Session`."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from adapters.data.sample import sample_paths
from adapters.sources.files import NotAlertsError, open_feed
from adapters.sources.parse import AlertIssue
from application.backtest import remaining_steps, run_replay
from application.engine import Engine, EngineConfig, MarketStep, StrategySignalSource
from application.executor import ExecutorConfig, OrderExecutor
from application.monitor import MonitorConfig, PositionMonitor
from application.ports import DEFAULT_RUN, SignalSource, UnitOfWork
from application.risk import RiskService
from application.router import AlertSignalSource, RouterConfig
from application.tracker import PortfolioTracker
from domain.audit import Severity
from domain.clock import TestClock
from domain.costs import CostModel
from domain.errors import DomainError
from domain.risk.config import RiskConfig
from domain.risk.sizing import SizingMethod
from entrypoints.cli import runs as named
from entrypoints.cli.container import Container
from entrypoints.cli.lease import take_run_lease, warn_bad_bars
from entrypoints.cli.outcome import (
    risk_overrides,
)
from entrypoints.cli.trading_options import (
    DAILY_PRICE_AGE_S,
    DEFAULT_RISK,
    data_path,
    err,
    fail,
    file_digest,
    issue_printer,
    settings_risk_config,
    sqlite_file,
)
from entrypoints.gc_policy import setup_frozen
from entrypoints.settings import mask_url
from entrypoints.signals import stop_on_signals

if TYPE_CHECKING:
    from adapters.simulated import SimulatedExchange
    from adapters.sources.market import DailyBars
    from adapters.sqlalchemy.lease import RunLease


def load_strategy(spec: str) -> SignalSource:
    """Import ``module:callable`` (the current folder importable) as a signal source.

    A class is made once per ticker (strategies keep per-series state); an object with
    ``poll`` is a signal source already; anything else is a strategy ``on_bar(bar, ctx)``
    (or the one-argument ``on_bar(bar)`` form) run by :class:`StrategySignalSource`.
    """
    import os

    from adapters.simulated.replay import PerTicker
    from application.strategy_source import takes_context

    mod_name, _, attr = spec.partition(":")
    if not mod_name or not attr:
        raise fail(f"--strategy {spec!r}: expected module:callable (e.g. "
                    "adapters.simulated.examples:SmaCross)")
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)
    try:
        obj: Any = getattr(importlib.import_module(mod_name), attr)
    except (ImportError, AttributeError) as exc:
        raise fail(f"--strategy {spec!r}: cannot import ({exc})") from None
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
    raise fail(f"--strategy {spec!r}: expected a strategy (on_bar(bar, ctx) or a callable "
                "(bar, ctx) -> signals) or a signal source with poll")


#: replay steps per durable commit when nothing else writes the database meanwhile (a crash
#: loses at most this many steps, which the resume replays; a kill written by another process
#: is seen at the next durable commit: a fraction of a second of a replay as fast as possible)
REPLAY_COMMIT_EVERY = 128


class Session:
    """Everything one replay needs, from the CLI's container: the bars, the simulated exchange,
    the run's unit of work, the risk service, executor, monitor, tracker, reconciler, engine
    and the replay driver. The session only decides what differs per run (the signal source,
    the thresholds, the costs, the replay's clock)."""

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
        from adapters.sqlalchemy import PersistenceError

        try:  # bad bars: set aside and quarantined, or the file refused (strict_bars)
            self.data: DailyBars = container.gateways.daily_bars(
                data, ticker=ticker, strict=container.core.settings().strict_bars)
        except DataError as exc:
            raise fail(f"--data {str(data)!r}: {exc}") from None
        warn_bad_bars(self.data.bad_bars)
        if not self.data.rows:
            raise fail(f"--data {str(data)!r}: no valid bars")
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
            from entrypoints.cli.agents import agent_source, served_bars

            # the bars the replay serves (bad bars set aside): the agents' benchmark and
            # feature statistics are built from them, and their observations rebuilt from
            # them when a run resumes
            source = agent_source(agents, data, alerts, tickers, float(cash),
                                  run_id or (named.BACKTEST_RUN if kind == "backtest"
                                             else DEFAULT_RUN),
                                  notifier=container.gateways.notifier(),
                                  bars=served_bars(self.data))
            params_src = "agents:" + ",".join(agents)
        elif strategy:
            source = load_strategy(strategy)
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
                raise fail(f"--alerts {spec!r}: {exc}") from None
            self.feed_counts = feed.issues
            self.alerts_spec = spec
            router = container.services.signal_router(
                config=RouterConfig(threshold=threshold))
            source = AlertSignalSource(feed, router)
            params_src = spec if spec == "-" else f"{spec}#{file_digest(Path(spec))}" \
                if Path(spec).is_file() else spec
        self.source = source
        try:
            method = SizingMethod(sizing)
        except ValueError:
            raise fail(f"--sizing {sizing!r}: expected one of "
                        f"{', '.join(m.value for m in SizingMethod)}") from None
        params = {"data": f"{data}#{file_digest(data)}", "signals": params_src,
                  "cash": str(cash), "threshold": threshold, "sizing": method.value,
                  "max_hold_days": max_hold_days, "costs": self.costs.to_dict()}
        overrides = risk_overrides(self.risk_config, DEFAULT_RISK)
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
        try:
            self.uow: UnitOfWork = container.gateways.run_uow(db_url, run_id=self.run_id)
        except PersistenceError as exc:
            raise fail(f"database {mask_url(db_url)!r}: {exc}") from None
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
        self.driver = container.gateways.replay_driver(self.data, self.exchange, self.clock,
                                                       speed=speed)
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



def replace_unusable(db: str) -> None:
    # a SQLite backtest file this version cannot use (an older schema, damage) is replaced
    from adapters.sqlalchemy import PersistenceError, make_engine

    path = sqlite_file(db)
    if path is None or not path.exists():
        return
    try:
        make_engine(db, synchronous="NORMAL").dispose()
        return
    except PersistenceError:
        pass
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(str(path) + suffix).unlink(missing_ok=True)


def open_session(kind: str, data: Path | None, alerts: str | None, strategy: str | None, db: str,
             run_id: str | None, speed: float, cash: float, threshold: float, sizing: str,
             max_hold_days: float, as_json: bool, reconcile_steps: int | None = None, *,
             costs: CostModel, ticker: str | None = None, auto_resume: bool = False,
             container: Container, agents: list[str] | None = None) -> Session:
    if alerts and strategy:
        raise fail("--alerts and --strategy: give one signal source, not both")
    if agents and strategy:
        raise fail("--agent and --strategy: give one signal source, not both")
    session = Session(data=data_path(data), alerts=alerts, strategy=strategy, db_url=db, kind=kind,
                   run_id=run_id, speed=speed, cash=Decimal(repr(cash)), threshold=threshold,
                   sizing=sizing, max_hold_days=max_hold_days,
                   issue_sink=issue_printer(), reconcile_steps=reconcile_steps, costs=costs,
                   risk_config=settings_risk_config(container.core.settings()), ticker=ticker,
                   ignore_kill_flag=kind == "backtest", auto_resume=auto_resume,
                   container=container, agents=agents)
    # one process per run: refused here, before anything of the run is touched
    session.lease = take_run_lease(session.uow, session.run_id, session.engine.request_stop)
    return session


def run_session(session: Session, progress: bool) -> Any:
    try:
        # SIGINT/SIGTERM: stop cleanly; the setup is left out of the collector's scans
        with stop_on_signals(session.engine.request_stop), setup_frozen():
            return session.run(progress)
    except DomainError as exc:
        raise fail(f"run {session.run_id} stopped: {exc}", 1) from None
    finally:
        if session.lease is not None:
            session.lease.release()

