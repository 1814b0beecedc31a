"""Trade in real time: the wall clock drives, the broker's price feed supplies the bars.

:class:`LiveTrading` is the use case behind ``catalyst run --broker alpaca``. It is given the
ports (broker, price feed, signal source, unit of work, clock, notifier) and factories for the
engine's parts (the entrypoint's container declares them), and

1. checks that the broker answers before anything is started (:func:`check_reachable`:
   an unreachable broker fails at once with :class:`BrokerUnreachable`, naming the cause);
2. warms a bar-aware signal source (trained agents) with the feed's recent history, so its
   first decision is made on a full observation (the entrypoint wraps the agents in
   :class:`CompletedDailyBars`, so that they decide on each completed session's daily bar,
   once, and not on the feed's minute bars);
3. runs the engine under a :class:`~application.engine.WallClockDriver` until the entrypoint
   calls :meth:`LiveTrading.request_stop` (its OS signal handler), ``max_steps`` steps were
   made, or the broker stayed out of reach longer than ``max_outage_s`` (then the run stops
   cleanly, the outage is in :attr:`LiveOutcome.outage` and the caller exits non-zero).

Nothing here reads the wall clock, the environment or OS signals: ``monotonic`` (for the outage
budget) and ``sleep`` come from the entrypoint.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any, cast

import attrs
import structlog

from application.engine import (
    Engine,
    EngineConfig,
    EngineResult,
    MarketStep,
    WallClockDriver,
)
from application.execution.results import ExecutionResult
from application.executor import ExecutorConfig, OrderExecutor
from application.monitor import MonitorConfig, PositionMonitor
from application.ports import BrokerPort, PriceFeedPort, SignalSource, UnitOfWork
from application.reconcile import Reconciler
from application.risk import RiskService
from application.tracker import PortfolioTracker
from domain.clock import Clock
from domain.errors import BrokerError, DomainError
from domain.market import Bar, MarketClock
from domain.risk.sizing import SizingMethod
from domain.values import TimeInForce

log = structlog.get_logger(__name__)

__all__ = ["BrokerUnreachable", "CompletedDailyBars", "LiveConfig", "LiveOutcome", "LiveTrading",
           "OutageGuard", "SessionStamp", "check_reachable"]

#: A bar's time -> ``(its exchange session's date, that session's close)``; the entrypoint
#: supplies it from the exchange calendar.
SessionStamp = Callable[[datetime], tuple[date, datetime]]


class BrokerUnreachable(DomainError):
    """The broker did not answer: at start, or for longer than the outage budget."""


@attrs.frozen(kw_only=True)
class LiveConfig:
    """What one live run trades and how.

    ``max_outage_s`` bounds how long the loop goes on while the broker cannot be reached (its
    market clock fails on every try): past it the run stops, as if asked to. ``warmup_days``
    of daily history are read from the feed before the first step for a source that keeps
    observations (:meth:`warm_up`); 0 reads none.
    """

    run_id: str
    tickers: tuple[str, ...]
    params: Mapping[str, object] = attrs.field(factory=dict)
    threshold: float = 0.7
    sizing: SizingMethod = SizingMethod.CONFIDENCE
    max_hold: timedelta | None = timedelta(days=14)
    interval_s: float = 60.0
    max_idle_s: float = 60.0
    max_steps: int | None = None
    reconcile_interval: timedelta | None = timedelta(minutes=5)
    fill_timeout: timedelta = timedelta(minutes=15)
    max_outage_s: float = 300.0
    warmup_days: int = 0


@attrs.frozen
class LiveOutcome:
    """How a live run ended; ``outage`` says why when the broker went out of reach."""

    result: EngineResult
    outage: str | None = None


class OutageGuard:
    """The broker as the wall-clock driver sees it: a market clock that gives up.

    The driver retries a failing clock every interval for ever; this counts the time since the
    last answer and, past ``max_outage_s`` (on ``monotonic``), records the outage and calls
    ``on_outage`` (the engine's stop request) so the loop ends after its current wait.
    """

    def __init__(self, broker: BrokerPort, max_outage_s: float, on_outage: Callable[[], None],
                 monotonic: Callable[[], float]) -> None:
        self._broker = broker
        self.max_outage_s = max_outage_s
        self._on_outage = on_outage
        self._mono = monotonic
        self._failing_since: float | None = None
        self.outage: str | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._broker, name)

    def get_clock(self) -> MarketClock:
        """Return the broker's market clock; after ``max_outage_s`` of failures, stop."""
        try:
            mc = self._broker.get_clock()
        except BrokerError as exc:
            now = self._mono()
            if self._failing_since is None:
                self._failing_since = now
            down = now - self._failing_since
            if down >= self.max_outage_s and self.outage is None:
                self.outage = (f"the broker has not answered for {down:.0f} s (limit "
                               f"{self.max_outage_s:g} s): {exc}")
                log.error("live.broker_unreachable", seconds=round(down, 1), error=str(exc))
                self._on_outage()
            raise
        self._failing_since = None
        return mc


class CompletedDailyBars:
    """A source that decides on daily bars, on a live feed: each completed session once.

    A live feed's latest bar is a minute bar (Alpaca's), so a source trained on daily bars
    (the agents) would decide on the first minute of each session. This wraps such a source
    (one with ``observe`` and ``warm_up``) and hands it, instead of the step's bars, the daily
    bars (``feed.get_bars(..., "1Day")``) of the sessions that closed since the last one it
    was given, each exactly once, oldest first: a session is complete when the broker's
    market clock says so (its date is before the session that is open now, or before the
    next one to open when the market is closed), so the in-progress daily bar a feed serves
    during a session is never handed. Each bar is stamped at its session's close (a
    :class:`~domain.market.Bar`'s time is its close; Alpaca labels a daily bar with its
    date's midnight).

    The warm-up's bars are cut the same way; the last one of each ticker is handed again at
    the first step (the source decides on it once: it is the latest completed session when
    the run starts). A clock or feed that fails leaves the sessions for a later step: none is
    skipped. Anything else is delegated to the wrapped source.
    """

    def __init__(self, inner: Any, feed: PriceFeedPort, broker: BrokerPort,
                 tickers: Sequence[str], stamp: SessionStamp, *,
                 lookback: timedelta = timedelta(days=10)) -> None:
        self._inner = inner
        self._feed = feed
        self._broker = broker
        self.tickers = [t.upper() for t in tickers]
        self._stamp = stamp
        self.lookback = lookback
        #: the last session handed (or warmed up with) per ticker, and its close
        self._last: dict[str, tuple[date, datetime]] = {}
        #: the warm-up's last bar per ticker, handed again at the first step
        self._again: dict[str, Bar] = {}
        #: every bar handed by :meth:`observe`, in order (the run's record)
        self.handed: list[Bar] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def _cutoff(self, mc: MarketClock) -> date:
        """Return the first session that is not complete by ``mc``'s time."""
        return self._stamp(mc.next_close if mc.is_open else mc.next_open)[0]

    def _completed(self, bars: Sequence[Bar], cutoff: date) -> list[Bar]:
        """Return ``bars``' completed sessions after the last handed, stamped at their close,
        one per ticker and session (the first served), oldest first."""
        out: dict[tuple[str, date], Bar] = {}
        for b in bars:
            day, close = self._stamp(b.ts)
            last = self._last.get(b.ticker)
            if day >= cutoff or (last is not None and day <= last[0]):
                continue
            out.setdefault((b.ticker, day), attrs.evolve(b, ts=close))
        return sorted(out.values(), key=lambda b: (b.ts, b.ticker))

    def warm_up(self, bars: Sequence[Bar]) -> None:
        """Hand the wrapped source the completed sessions of ``bars`` (a session in progress
        is left out)."""
        try:
            cutoff = self._cutoff(self._broker.get_clock())
        except DomainError as exc:  # no clock: every bar up to today counts as in progress
            log.warning("live.daily_bars_unavailable", step="warm-up", error=str(exc))
            return
        done = self._completed(bars, cutoff)
        for b in done:
            self._last[b.ticker] = self._stamp(b.ts)[0], b.ts
            self._again[b.ticker] = b
        self._inner.warm_up(done)

    def observe(self, bars: Mapping[str, Bar]) -> None:
        """Hand the wrapped source the sessions completed since the last step (the step's own
        bars, intraday on a live feed, are not used), one ``observe`` per session."""
        batch = sorted(self._again.values(), key=lambda b: (b.ts, b.ticker))
        self._again = {}
        try:
            mc = self._broker.get_clock()
            cutoff = self._cutoff(mc)
            fetched: list[Bar] = []
            for t in self.tickers:
                last = self._last.get(t)
                start = last[1] + timedelta(seconds=1) if last is not None \
                    else mc.timestamp - self.lookback
                fetched.extend(self._feed.get_bars(t, start, mc.timestamp, "1Day"))
            new = self._completed(fetched, cutoff)
        except DomainError as exc:  # tried again at the next step: nothing is skipped
            log.warning("live.daily_bars_unavailable", error=str(exc))
            new = []
        for b in new:
            self._last[b.ticker] = self._stamp(b.ts)[0], b.ts
        groups: dict[datetime, dict[str, Bar]] = {}
        for b in batch + new:
            groups.setdefault(b.ts, {})[b.ticker] = b
        if not groups:
            self._inner.observe({})
        for ts in sorted(groups):
            self.handed.extend(groups[ts][t] for t in sorted(groups[ts]))
            self._inner.observe(groups[ts])


def check_reachable(broker: BrokerPort) -> None:
    """Ask ``broker`` for the account and the market clock once (its own bounded retries
    apply); raise :class:`BrokerUnreachable` naming the failure when it cannot answer."""
    for what, ask in (("the broker's account", broker.get_account),
                      ("the broker's market clock", broker.get_clock)):
        try:
            ask()
        except BrokerError as exc:
            raise BrokerUnreachable(f"{what}: {exc}") from None


class LiveTrading:
    """Wire one live run from ports and the engine's factories, check the broker, run it.

    Parameters
    ----------
    uow, broker, feed, source, clock
        The run's unit of work, the broker it trades through, the price feed, the signal
        source and the clock.
    config
        The run (:class:`LiveConfig`).
    new_risk, new_executor, new_monitor, new_tracker, new_reconciler, new_engine
        Factories of the engine's parts (keyword arguments as their classes take them); the
        entrypoint's container supplies them with their shared dependencies bound.
    monotonic, sleep
        Elapsed time for the outage budget and the driver's wait between steps.
    after_step
        Called after each step with its execution results (the CLI logs refusals).
    """

    def __init__(
        self,
        *,
        uow: UnitOfWork,
        broker: BrokerPort,
        feed: PriceFeedPort,
        source: SignalSource,
        clock: Clock,
        config: LiveConfig,
        new_risk: Callable[..., RiskService],
        new_executor: Callable[..., OrderExecutor],
        new_monitor: Callable[..., PositionMonitor],
        new_tracker: Callable[..., PortfolioTracker],
        new_reconciler: Callable[..., Reconciler],
        new_engine: Callable[..., Engine],
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        after_step: Callable[[MarketStep, Sequence[ExecutionResult]], None] | None = None,
    ) -> None:
        self.config = config
        self.uow, self.broker, self.feed, self.source, self.clock = (uow, broker, feed, source,
                                                                     clock)
        self.risk = new_risk(uow=uow, broker=broker, clock=clock)
        self.executor = new_executor(
            broker=broker, feed=feed, risk=self.risk, config=ExecutorConfig(
                threshold=config.threshold, sizing_method=config.sizing,
                time_in_force=TimeInForce.DAY, fill_timeout=config.fill_timeout))
        monitor = new_monitor(executor=self.executor,
                              config=MonitorConfig(max_hold=config.max_hold))
        self.engine = new_engine(
            uow=uow, broker=broker, feed=feed, source=source, executor=self.executor,
            monitor=monitor, tracker=new_tracker(run_id=config.run_id), clock=clock,
            risk=self.risk, config=EngineConfig(run_id=config.run_id, kind="live",
                                                params=dict(config.params),
                                                reconcile_interval=config.reconcile_interval),
            reconciler=new_reconciler(uow=uow, broker=broker, clock=clock))
        self.guard = OutageGuard(broker, config.max_outage_s, self.engine.request_stop,
                                 monotonic)
        self._sleep = sleep
        self._after_step = after_step

    def request_stop(self) -> None:
        """Finish the current step and stop (the entrypoint's signal handler calls this)."""
        self.engine.request_stop()

    @property
    def stopping(self) -> bool:
        """Return True once a stop was requested."""
        return self.engine.stopping

    def check_reachable(self) -> None:
        """Raise :class:`BrokerUnreachable` when the broker cannot answer
        (:func:`check_reachable`)."""
        check_reachable(self.broker)

    def warm_up(self) -> int:
        """Hand the feed's last ``warmup_days`` of daily bars to a source that keeps
        observations (one with ``warm_up``); return how many bars it was given."""
        take: Callable[[Sequence[Bar]], object] | None = getattr(self.source, "warm_up", None)
        days = self.config.warmup_days
        if take is None or days <= 0:
            return 0
        now = self.clock.now()
        bars: list[Bar] = []
        for t in self.config.tickers:
            bars.extend(self.feed.get_bars(t, now - timedelta(days=days), now, "1Day"))
        bars.sort(key=lambda b: (b.ts, b.ticker))
        take(bars)
        log.info("live.warm_up", bars=len(bars), tickers=len(self.config.tickers))
        return len(bars)

    def run(self) -> LiveOutcome:
        """Check the broker, warm the source, then run until stopped (see the module doc)."""
        self.check_reachable()
        self.warm_up()
        cfg = self.config
        driver = WallClockDriver(self.feed, cast(BrokerPort, self.guard), self.clock, list(cfg.tickers),
                                 interval=cfg.interval_s, max_idle=cfg.max_idle_s,
                                 stop=lambda: self.engine.stopping, sleep=self._sleep,
                                 max_steps=cfg.max_steps)
        after = self._after_step
        if after is not None:
            engine_step = self.engine.step

            def step(s: MarketStep) -> tuple[int, list[ExecutionResult]]:
                n, results = engine_step(s)
                after(s, results)
                return n, results

            self.engine.step = step  # type: ignore[method-assign,assignment]
        result = self.engine.run(driver)
        return LiveOutcome(result, self.guard.outage)

