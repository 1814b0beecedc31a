"""The engine: one event loop for replay (clock driven by the data) and real time.

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
import inspect
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, runtime_checkable

import attrs
import structlog

from application.executor import ExecutionResult, OrderExecutor
from application.monitor import PositionMonitor
from application.ports import BrokerPort, Clock, PriceFeedPort, SignalSource, UnitOfWork
from application.reconcile import PeriodicReconciler, Reconciler, ReconcileReport, RepairKind
from application.risk import RiskService, market_view
from application.tracker import PortfolioTracker
from domain.audit import RunRecord
from domain.errors import BrokerError
from domain.market import Bar
from domain.signal import Signal

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


@attrs.frozen
class MarketStep:
    """One timestamp of market data: the bars that completed at ``ts``."""

    ts: datetime
    bars: Mapping[str, Bar]


class MarketDriver(Protocol):
    """Moves the market: pushes bars into the broker and the feed, sets the clock."""

    def prime(self, until: datetime | None) -> None:
        """Replay history up to ``until`` into the price feed only (resume)."""
        ...

    def steps(self, after: datetime | None) -> Iterator[MarketStep]:
        """Yield the steps after ``after``, each applied to broker and feed before it is
        yielded."""
        ...


@runtime_checkable
class Stateful(Protocol):
    """A signal source whose position survives restarts."""

    def dump_state(self) -> str: ...

    def load_state(self, raw: str | None) -> None: ...


@runtime_checkable
class BarObserver(Protocol):
    """A signal source that wants to see every bar (strategies, agents)."""

    def observe(self, bars: Mapping[str, Bar]) -> None: ...


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)

Row = tuple[str, float, float, float, float, float]


class EngineBarView:
    """The bar an engine-run strategy sees: one reused object, updated in place per bar.

    Attributes ``ticker, ts_ns, open, high, low, close, volume, index`` are plain values;
    :attr:`ts` and :meth:`to_bar` build objects on demand (the same surface as the
    simulator's ``BarView``).
    """

    __slots__ = ("close", "high", "index", "low", "open", "ticker", "ts_ns", "volume")

    def __init__(self) -> None:
        self.ticker = ""
        self.ts_ns = 0
        self.open = self.high = self.low = self.close = self.volume = 0.0
        self.index = -1

    @property
    def ts(self) -> datetime:
        """Return the bar's end time."""
        return _EPOCH + timedelta(microseconds=self.ts_ns // 1000)

    def to_bar(self) -> Bar:
        """Return a domain :class:`Bar` copy."""
        return Bar(self.ticker, self.ts, self.open, self.high, self.low, self.close,
                   self.volume)


class SignalContext:
    """The strategy context inside the engine: order helpers become signals.

    ``ctx.buy(ticker, qty)`` emits a BUY signal and ``ctx.sell`` / ``ctx.close`` a SELL
    signal for the bar being shown; the engine then sizes them and runs them through the
    risk rules, so the quantity (and order keywords such as ``time_in_force``) are not used
    here: they matter to the simulator's direct-order context only. ``ctx.signal(ticker,
    action, confidence=1.0, size_hint=None)`` emits any signal. ``position``, ``cash`` and
    ``equity`` read the callables given (the CLI passes none: reading them then raises an
    error that says so).
    """

    def __init__(self, view: EngineBarView, name: str = "strategy", *,
                 position: Callable[[str], float] | None = None,
                 cash: Callable[[], float] | None = None,
                 equity: Callable[[], float] | None = None) -> None:
        self.view = view
        self.name = name
        self._position, self._cash, self._equity = position, cash, equity
        self.emitted: list[Signal] = []
        self._seen: set[str] = set()

    def signal(self, ticker: str, action: str, confidence: float = 1.0,
               size_hint: float | None = None) -> Signal:
        """Emit a signal for ``ticker`` stamped with the current bar's time."""
        view = self.view
        base = f"{self.name}:{ticker}:{view.ts_ns}:{action.lower()}"
        sid, n = base, 1
        while sid in self._seen:  # a second signal of the same kind on the same bar
            n += 1
            sid = f"{base}:{n}"
        self._seen.add(sid)
        sig = Signal(signal_id=sid, ticker=ticker, action=action, confidence=confidence,
                     ts=view.ts, size_hint=size_hint, strategy=self.name)
        self.emitted.append(sig)
        return sig

    def buy(self, ticker: str, quantity: float | None = None, **_order_kw: Any) -> str:
        """Emit a BUY signal (the engine sizes it); return its signal id."""
        return self.signal(ticker, "buy").signal_id

    def sell(self, ticker: str, quantity: float | None = None, **_order_kw: Any) -> str:
        """Emit a SELL signal (the engine closes the position); return its signal id."""
        return self.signal(ticker, "sell").signal_id

    def close(self, ticker: str, **_order_kw: Any) -> str:
        """Emit a SELL signal that closes ``ticker``; return its signal id."""
        return self.signal(ticker, "sell").signal_id

    def position(self, ticker: str) -> float:
        """Return the signed quantity held, when the runner provides it."""
        if self._position is None:
            raise RuntimeError("ctx.position is not available in this runner")
        return self._position(ticker)

    @property
    def cash(self) -> float:
        """Return cash, when the runner provides it."""
        if self._cash is None:
            raise RuntimeError("ctx.cash is not available in this runner; give the "
                               "strategy a fixed quantity")
        return self._cash()

    @property
    def equity(self) -> float:
        """Return equity, when the runner provides it."""
        if self._equity is None:
            raise RuntimeError("ctx.equity is not available in this runner")
        return self._equity()


def takes_context(strategy: Any) -> bool:
    """Return whether ``strategy`` (or its ``on_bar``) takes ``(bar, ctx)``, not ``(bar)``."""
    fn = getattr(strategy, "on_bar", strategy)
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return False
    positional = [p for p in params
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if inspect.isclass(strategy):  # the unbound on_bar also takes self
        positional = positional[1:]
    return len(positional) >= 2 or any(p.kind is p.VAR_POSITIONAL for p in params)


class StrategySignalSource:
    """The one :class:`SignalSource` over a bar-driven strategy, for every replay.

    The strategy protocol is ``on_bar(bar, ctx) -> signals | None`` (an object with that
    method, or a plain callable): ``bar`` is one reused view updated in place for every bar
    (attributes ``ticker, ts_ns, open, high, low, close, volume, index``; ``ts`` and
    ``to_bar()`` on demand), so no object is built per bar; ``ctx`` is a
    :class:`SignalContext` (``buy``/``sell``/``close``/``signal`` emit signals) unless a
    ``context`` is given. A strategy taking one domain :class:`Bar` (``on_bar(bar)``, the
    :class:`Strategy` port) is also accepted and gets domain bars. Bars arrive per step either as domain
    bars (:meth:`observe`, the engine) or as plain rows (:meth:`feed`, the array replay);
    tickers of a step are shown in ticker order. :meth:`poll` returns the signals produced
    with ``ts <= now`` that were not returned before.
    """

    def __init__(self, strategy: Any, context: object | None = None,
                 view: Any | None = None, *, name: str = "strategy") -> None:
        fn = getattr(strategy, "on_bar", None)
        self._fn: Callable[..., Iterable[Signal] | None] = fn if fn is not None else strategy
        if context is None and takes_context(strategy):
            view = EngineBarView()
            context = SignalContext(view, name)
        self._ctx = context
        self._view = view
        self._pending: list[Signal] = []

    def observe(self, bars: Mapping[str, Bar]) -> None:
        """Feed one step's domain bars to the strategy (in ticker order)."""
        if self._ctx is None:
            for t in sorted(bars):
                out = self._fn(bars[t])
                if out:
                    self._pending.extend(out)
            return
        rows = [(t, b.open, b.high, b.low, b.close, b.volume)
                for t, b in sorted(bars.items())]
        if rows:
            ts = next(iter(bars.values())).ts
            self.feed((ts - _EPOCH) // _US * 1000, rows)

    def feed(self, ts_ns: int, rows: Iterable[Row]) -> None:
        """Feed one step's plain rows ``(ticker, open, high, low, close, volume)``."""
        fn, ctx, view, pending = self._fn, self._ctx, self._view, self._pending
        if ctx is None or view is None:
            ts = _EPOCH + timedelta(microseconds=ts_ns // 1000)
            for t, o, h, lo, c, v in sorted(rows):
                out = fn(Bar(t, ts, o, h, lo, c, v))
                if out:
                    pending.extend(out)
            return
        for t, o, h, lo, c, v in rows:
            view.ticker, view.ts_ns = t, ts_ns
            view.open, view.high, view.low, view.close, view.volume = o, h, lo, c, v
            view.index += 1
            out = fn(view, ctx)
            if out:
                pending.extend(out)
        emitted = getattr(ctx, "emitted", None)
        if emitted:
            pending.extend(emitted)
            emitted.clear()

    def poll(self, now: datetime) -> Sequence[Signal]:
        """Return the signals with ``ts <= now`` not returned before."""
        ready = [s for s in self._pending if s.ts <= now]
        if ready:
            self._pending = [s for s in self._pending if s.ts > now]
        return ready


class BarReplay:
    """A :class:`MarketDriver` over bars in memory, as fast as possible or paced.

    Parameters
    ----------
    bars
        Every bar, any order (sorted here by time, then ticker).
    sinks
        Called with each step's bars before the step is yielded (the simulated broker's
        matching, the price feed, the clock). A broker sink gets the whole step at once, so
        it can match every ticker's bar before any day order of that session close expires
        (``adapters.sources.market.replay_into`` pushes the bars, then calls the simulated
        exchange's ``advance_to``).
    history_sinks
        Called instead of ``sinks`` while priming (resume): the feed, not the broker.
    speed
        0: as fast as possible; otherwise data seconds per wall second.
    sleep
        Injected sleeper (tests pass a fake).
    """

    def __init__(
        self,
        bars: Iterable[Bar],
        sinks: Sequence[Callable[[MarketStep], None]],
        history_sinks: Sequence[Callable[[MarketStep], None]] = (),
        *,
        speed: float = 0.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        by_ts: dict[datetime, dict[str, Bar]] = {}
        for b in bars:
            by_ts.setdefault(b.ts, {})[b.ticker] = b
        self._steps = [MarketStep(ts, dict(sorted(by_ts[ts].items()))) for ts in sorted(by_ts)]
        self.sinks = list(sinks)
        self.history_sinks = list(history_sinks)
        self.speed = speed
        self._sleep = sleep

    def __len__(self) -> int:
        return len(self._steps)

    @property
    def tickers(self) -> list[str]:
        """Return every ticker with data."""
        return sorted({t for s in self._steps for t in s.bars})

    @property
    def first_ts(self) -> datetime | None:
        """Return the first step's time."""
        return self._steps[0].ts if self._steps else None

    @property
    def last_ts(self) -> datetime | None:
        """Return the last step's time."""
        return self._steps[-1].ts if self._steps else None

    def remaining(self, after: datetime | None) -> int:
        """Return how many steps lie after ``after``."""
        return sum(1 for s in self._steps if after is None or s.ts > after)

    def prime(self, until: datetime | None) -> None:
        """Push every step up to ``until`` into the history sinks."""
        if until is None:
            return
        for s in self._steps:
            if s.ts > until:
                break
            for sink in self.history_sinks:
                sink(s)

    def steps(self, after: datetime | None) -> Iterator[MarketStep]:
        """Yield the steps after ``after``, paced by ``speed``."""
        prev: datetime | None = None
        for s in self._steps:
            if after is not None and s.ts <= after:
                continue
            if self.speed > 0 and prev is not None:
                self._sleep(max(0.0, (s.ts - prev).total_seconds() / self.speed))
            prev = s.ts
            for sink in self.sinks:
                sink(s)
            yield s


class WallClockDriver:
    """A :class:`MarketDriver` for real time: the wall clock drives, the feed supplies bars.

    Every ``interval`` seconds while the market is open (``broker.get_clock()``), the latest
    bar of each ticker is read from the price feed; a step is yielded with the bars that are
    new since the last step (the step's time is the wall clock's). While the market is closed
    the driver sleeps until the next open (at most ``max_idle`` seconds at a time, so a stop
    request is noticed). ``stop`` (the engine's ``stopping``) ends the iteration.
    """

    def __init__(
        self,
        feed: PriceFeedPort,
        broker: BrokerPort,
        clock: Clock,
        tickers: Sequence[str],
        *,
        interval: float = 60.0,
        max_idle: float = 60.0,
        stop: Callable[[], bool] = lambda: False,
        sleep: Callable[[float], None] = time.sleep,
        max_steps: int | None = None,
    ) -> None:
        self.feed = feed
        self.broker = broker
        self.clock = clock
        self.tickers = list(tickers)
        self.interval = interval
        self.max_idle = max_idle
        self.stop = stop
        self._sleep = sleep
        self.max_steps = max_steps
        self._seen: dict[str, datetime] = {}

    def prime(self, until: datetime | None) -> None:
        """Nothing to replay: a live feed serves history itself."""

    def steps(self, after: datetime | None) -> Iterator[MarketStep]:
        """Yield one step per interval with the bars that completed since the last one."""
        n = 0
        while not self.stop() and (self.max_steps is None or n < self.max_steps):
            try:
                mc = self.broker.get_clock()
            except BrokerError as exc:
                log.warning("engine.clock_unavailable", error=str(exc))
                self._sleep(self.interval)
                continue
            if not mc.is_open:
                wait = (mc.next_open - self.clock.now()).total_seconds()
                self._sleep(min(max(wait, 1.0), self.max_idle))
                continue
            bars: dict[str, Bar] = {}
            for t in self.tickers:
                b = self.feed.latest_bar(t)
                if b is not None and (t not in self._seen or b.ts > self._seen[t]):
                    self._seen[t] = b.ts
                    bars[t] = b
            now = self.clock.now()
            if after is None or now > after:
                n += 1
                yield MarketStep(now, bars)
            self._sleep(self.interval)


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
                mv = market_view(self.feed, [p.ticker for p in positions], now, lookback=1)
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
