"""The engine: one event loop for replay (clock driven by the data) and real time.

The market drivers (:class:`BarReplay`, :class:`WallClockDriver`) live in
``application/drivers.py`` and the strategy signal source in ``application/strategy_source.py``;
both are re-exported here.

Each step, in one unit of work committed at its end (batching every row of the step):

1. apply broker events (fills, status changes) to orders and positions;
2. mark positions with the step's bars and fire their exits (:class:`PositionMonitor`);
3. run the risk breakers (:meth:`RiskService.step`; the kill flag is checked first);
4. take the signals that became known (router, strategy, agent) through the executor;
5. cancel orders past their fill timeout, retry orders the broker never saw;
6. snapshot the portfolio, store the cursor and the signal source's position.

Reconciliation (optional, :class:`~application.reconcile.Reconciler`): once at start (after a
resume's order recovery) and then when due (every ``reconcile_every_steps`` steps and/or every
``reconcile_interval`` of clock time, or a :class:`~application.reconcile.PeriodicReconciler`'s
own interval), at the beginning of a step, after the broker's pending events were applied, so
only what the broker knows and we genuinely missed is repaired: missed fills are adopted (and
the adopted position gets its plan's stop and target), orders the broker never saw are marked,
an unexplained position difference halts trading (the risk state the :class:`RiskService`
reads). On an in-process exchange nothing differs, so it changes nothing.

:meth:`Engine.request_stop` (thread-safe; an entrypoint's SIGINT/SIGTERM handler calls it, see
``entrypoints/signals.py``) lets the current step finish and commit, then the run ends as
``interrupted``. The engine itself installs no OS signal handler. Started again with the
same run id, the engine resumes after its cursor: the data before it is replayed into the
price feed only, open orders are reconciled with the broker by client order id, and the signal
source skips what it had already released, so no alert is traded twice.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

import attrs
import structlog

from application.drivers import BarReplay, MarketDriver, MarketStep, WallClockDriver
from application.executor import ExecutionResult, OrderExecutor
from application.monitor import PositionMonitor
from application.ports import BrokerPort, Clock, PriceFeedPort, SignalSource, UnitOfWork
from application.reconcile import PeriodicReconciler, Reconciler, ReconcileReport, RepairKind
from application.risk import RiskService, market_view
from application.strategy_source import (
    EngineBarView,
    SignalContext,
    StrategySignalSource,
)
from application.tracker import PortfolioTracker
from domain.audit import RunRecord
from domain.errors import BrokerError
from domain.market import Bar

log = structlog.get_logger(__name__)

__all__ = [
    "BarReplay",
    "Engine",
    "EngineBarView",
    "EngineConfig",
    "EngineResult",
    "MarketDriver",
    "MarketStep",
    "SignalContext",
    "StrategySignalSource",
    "WallClockDriver",
]


@runtime_checkable
class Stateful(Protocol):
    """A signal source whose position survives restarts."""

    def dump_state(self) -> str: ...

    def load_state(self, raw: str | None) -> None: ...


@runtime_checkable
class BarObserver(Protocol):
    """A signal source that wants to see every bar (strategies, agents)."""

    def observe(self, bars: Mapping[str, Bar]) -> None: ...


@attrs.frozen(kw_only=True)
class EngineConfig:
    """Run identity and behaviour."""

    run_id: str
    kind: str = "backtest"
    params: Mapping[str, object] = attrs.field(factory=dict)
    #: not read: the entrypoint owns OS signals and calls :meth:`Engine.request_stop`
    handle_signals: bool = False
    #: periods whose metrics are computed and stored at the end of a run
    metric_periods: tuple[str, ...] = ("daily", "weekly", "monthly", "all")
    #: with a plain :class:`Reconciler`: reconcile every N steps (0: not by count) ...
    reconcile_every_steps: int = 0
    #: ... and/or every this much clock time (data time in a replay; None: not by time);
    #: with neither, only at start. A :class:`PeriodicReconciler` keeps its own interval.
    reconcile_interval: timedelta | None = None
    #: steps per durable commit, for a unit of work that can group commits (``group_commits``,
    #: the SQL one): 1 commits every step; more keeps the transaction open between the
    #: commits of the steps in between, which a crash loses as if it came at the last durable
    #: commit (the run resumes there). A replay as fast as possible groups its steps.
    commit_every: int = 1


@attrs.frozen
class EngineResult:
    """How a run ended."""

    run_id: str
    status: str  # finished | interrupted
    steps: int
    signals: int
    orders: int
    closed: int
    results: tuple[ExecutionResult, ...] = ()
    resumed_from: datetime | None = None
    reconciliations: int = 0
    repairs: int = 0
    #: the reconciliation reports that found something (clean ones are not kept)
    reports: tuple[ReconcileReport, ...] = ()


class Engine:
    """Drives broker, feed, signals, executor, monitor, risk and tracker step by step."""

    def __init__(
        self,
        uow: UnitOfWork,
        broker: BrokerPort,
        feed: PriceFeedPort,
        source: SignalSource,
        executor: OrderExecutor,
        monitor: PositionMonitor,
        tracker: PortfolioTracker,
        clock: Clock,
        config: EngineConfig,
        risk: RiskService | None = None,
        *,
        on_step: Callable[[MarketStep], None] | None = None,
        reconciler: Reconciler | PeriodicReconciler | None = None,
    ) -> None:
        self.uow = uow
        self.broker = broker
        self.feed = feed
        self.source = source
        self.executor = executor
        self.monitor = monitor
        self.tracker = tracker
        self.clock = clock
        self.config = config
        self.risk = risk
        self.on_step = on_step
        self._stop = threading.Event()
        self.cursor_key = f"engine:{config.run_id}:cursor"
        self.source_key = f"engine:{config.run_id}:source"
        self._source_state: str | None = None
        self.reconciler = reconciler
        self._since_reconcile = 0
        self._last_reconcile: datetime | None = None
        self._reconciliations = 0
        self._reports: list[ReconcileReport] = []
        self._kinds: tuple[object, bool, bool] | None = None

    def _source_kinds(self) -> tuple[bool, bool]:
        # (stateful, observes bars) of the current source: protocol checks are slow, and the
        # source may be replaced after construction (the webhook intake does)
        kinds = self._kinds
        if kinds is None or kinds[0] is not self.source:
            kinds = self._kinds = (self.source, isinstance(self.source, Stateful),
                                   isinstance(self.source, BarObserver))
        return kinds[1], kinds[2]

    def request_stop(self, *_: object) -> None:
        """Finish the current step, persist, and stop (the entrypoint's signal handler, or any
        thread, calls this)."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        """Return True once a stop was requested."""
        return self._stop.is_set()

    def cursor(self) -> datetime | None:
        """Return the last committed step's time, if any."""
        with self.uow as u:
            raw = u.state.get(self.cursor_key)
        return datetime.fromisoformat(raw) if raw else None

    def run(self, driver: MarketDriver,
            on_resume: Callable[[UnitOfWork], None] | None = None) -> EngineResult:
        """Run (or resume) until the data ends or :meth:`request_stop` is called."""
        return self._run(driver, on_resume)

    def _run(self, driver: MarketDriver,
             on_resume: Callable[[UnitOfWork], None] | None) -> EngineResult:
        cfg = self.config
        with self.uow as u:
            raw = u.state.get(self.cursor_key)
            cursor = datetime.fromisoformat(raw) if raw else None
            u.runs.start(RunRecord(run_id=cfg.run_id, kind=cfg.kind, started_at=self.clock.now(),
                                   params=dict(cfg.params)))
            if isinstance(self.source, Stateful):
                self._source_state = u.state.get(self.source_key)
                self.source.load_state(self._source_state)
            u.commit()
        if cursor is not None:
            log.info("engine.resume", run_id=cfg.run_id, cursor=cursor.isoformat())
            driver.prime(cursor)
            with self.uow as u:
                if on_resume is not None:
                    on_resume(u)
                self.executor.recover(u, cursor)
                u.commit()
        if self.reconciler is not None:
            self.reconcile(self.clock.now(), start=True)
        steps = signals = 0
        results: list[ExecutionResult] = []
        group: Callable[[int], None] | None = getattr(self.uow, "group_commits", None) \
            if cfg.commit_every > 1 else None
        if group is not None:
            group(cfg.commit_every)
        try:
            for step in driver.steps(cursor):
                if self._stop.is_set():
                    break
                n, res = self.step(step)
                steps += 1
                signals += n
                results.extend(res)
                if self.on_step is not None:
                    self.on_step(step)
                if self._stop.is_set():
                    break
        finally:
            if group is not None:
                group(1)  # every step so far durable
        status = "interrupted" if self._stop.is_set() else "finished"
        with self.uow as u:
            self.tracker.compute(u, cfg.metric_periods)
            u.runs.finish(cfg.run_id, self.clock.now(), status)
            orders = len(u.orders.list())
            closed = len(u.positions.list_closed())
            u.commit()
        return EngineResult(cfg.run_id, status, steps, signals, orders, closed, tuple(results),
                            cursor, self._reconciliations,
                            sum(len(r.repairs) for r in self._reports), tuple(self._reports))

    # --- reconciliation -----------------------------------------------------------------------
    def _reconcile_due(self, now: datetime) -> bool:
        rec = self.reconciler
        if rec is None:
            return False
        if isinstance(rec, PeriodicReconciler):  # its own schedule (as its tick decides)
            return rec.last is None or now >= rec.last.ts + rec.interval
        cfg = self.config
        if cfg.reconcile_every_steps > 0 and self._since_reconcile >= cfg.reconcile_every_steps:
            return True
        return cfg.reconcile_interval is not None and (
            self._last_reconcile is None or now - self._last_reconcile >= cfg.reconcile_interval)

    def reconcile(self, now: datetime, *, start: bool = False) -> ReconcileReport | None:
        """Reconcile with the broker now (a :class:`PeriodicReconciler` only when it is due,
        except at ``start``); return the report, or None when nothing ran.

        The broker's pending events are applied first, in their own committed transaction, so
        a fill that is merely waiting in the event queue is booked by the executor (with its
        plan) and not adopted as "missed".
        """
        rec = self.reconciler
        if rec is None:
            return None
        with self.uow as u:
            self.executor.resend_deferred(u, now)
            self.executor.apply_events(self.broker.poll_events(), u, now)
            u.commit()
        if isinstance(rec, PeriodicReconciler):
            report = rec.tick()  # its first call always runs
            if report is None and start:
                report = rec.reconciler.run()
        else:
            report = rec.run()
        if report is None:
            return None
        self._reconciliations += 1
        self._since_reconcile = 0
        self._last_reconcile = now
        if report.clean:
            return report
        self._reports.append(report)
        with self.uow as u:
            armed = self.executor.after_reconcile(u, now) \
                if report.count(RepairKind.ADOPTED_FILL) else 0
            self.executor.forget_open_orders()
            u.commit()
        (log.warning if report.halted else log.info)(
            "engine.reconciled", repairs=len(report.repairs), halted=report.halted,
            kinds=sorted({r.kind for r in report.repairs}), armed=armed)
        return report

    def step(self, step: MarketStep) -> tuple[int, list[ExecutionResult]]:
        """Run one step and commit it; return the number of signals and their results."""
        now = step.ts
        risk = self.risk
        if risk is not None and risk.kill_flag_set() and not risk.current().killed:
            risk.kill("kill-flag", "kill flag is set", ts=now)
        stateful, observer = self._source_kinds()
        if observer:
            self.source.observe(step.bars)  # type: ignore[attr-defined]
        self._since_reconcile += 1
        if self._reconcile_due(now):
            self.reconcile(now)
        results: list[ExecutionResult] = []
        with self.uow as u:
            self.executor.resend_deferred(u, now)
            self.executor.apply_events(self.broker.poll_events(), u, now)
            self.monitor.on_bars(step.bars, u, now)
            late = self.broker.poll_events()
            self.executor.apply_events(late, u, now)
            try:
                account = self.broker.get_account()
            except BrokerError as exc:
                log.warning("engine.account_unavailable", error=str(exc))
                account = None
            positions = u.positions.list_open() if late else self.monitor.last_open
            if risk is not None and account is not None:
                mv = market_view(self.feed, [p.ticker for p in positions], now, lookback=0)
                risk.step(account, mv, positions, uow=u)
            signals = self.source.poll(now)
            for sig in signals:
                results.append(self.executor.execute(sig, u, now))
            self.executor.apply_events(self.broker.poll_events(), u, now)
            self.executor.housekeeping(u, now)
            if account is not None:
                with contextlib.suppress(BrokerError):
                    account = self.broker.get_account()
                n_open = len(u.positions.list_open()) if signals or positions else 0
                self.tracker.snapshot(account, now, u, n_open)
            u.state.set(self.cursor_key, now.isoformat())
            if stateful:
                dumped = self.source.dump_state()  # type: ignore[attr-defined]
                if dumped != self._source_state:
                    u.state.set(self.source_key, dumped)
                    self._source_state = dumped
            u.commit()
        return len(signals), results
