"""The live use case on fakes: the reachability check, the outage budget, the warm-up."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from adapters.memory.broker import FakeBroker
from adapters.memory.feed import InMemoryPriceFeed
from adapters.memory.notifier import RecordingNotifier
from adapters.memory.signals import ListSignalSource
from adapters.memory.uow import InMemoryUnitOfWork
from application.engine import Engine
from application.executor import OrderExecutor
from application.live import BrokerUnreachable, LiveConfig, LiveTrading, OutageGuard
from application.monitor import PositionMonitor
from application.reconcile import Reconciler
from application.risk import RiskService
from application.tracker import PortfolioTracker
from domain.clock import TestClock
from domain.errors import BrokerUnavailable
from domain.market import Bar, MarketClock
from domain.risk.config import RiskConfig
from domain.signal import Signal

NOW = datetime(2024, 6, 3, 15, tzinfo=UTC)


class FlakyBroker(FakeBroker):
    """A fake broker whose account and clock stop answering on demand."""

    def __init__(self, clock: TestClock) -> None:
        super().__init__(Decimal(100_000), clock=clock)
        self.down = False
        self.clock_calls = 0

    def get_clock(self) -> MarketClock:
        self.clock_calls += 1
        if self.down:
            raise BrokerUnavailable("Alpaca get clock: connection failed")
        return MarketClock(timestamp=NOW, is_open=True, next_open=NOW + timedelta(days=1),
                           next_close=NOW + timedelta(hours=1))

    def get_account(self) -> Any:
        if self.down:
            raise BrokerUnavailable("Alpaca get account: connection failed")
        return super().get_account()


class Ticks:
    """A monotonic clock that moves one second per reading."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        self.t += 1.0
        return self.t


class WarmSource(ListSignalSource):
    """A signal source that records the history it was warmed with."""

    def __init__(self) -> None:
        super().__init__([])
        self.warmed: list[Bar] = []

    def warm_up(self, bars: Sequence[Bar]) -> None:
        self.warmed.extend(bars)


def _trading(broker: FlakyBroker, clock: TestClock, feed: InMemoryPriceFeed, *,
             source: Any = None, sleep: Any = None, after_step: Any = None,
             **cfg: Any) -> LiveTrading:
    notifier = RecordingNotifier()

    def new_risk(**kw: Any) -> RiskService:
        return RiskService(kw["uow"], kw["broker"], notifier, kw["clock"],
                           RiskConfig(max_price_age_s=5 * 86400))

    def new_reconciler(**kw: Any) -> Reconciler:
        return Reconciler(notifier=notifier, **kw)

    steps = {"max_steps": 3, "interval_s": 0.0}
    return LiveTrading(
        uow=InMemoryUnitOfWork(), broker=broker, feed=feed,
        source=source if source is not None else ListSignalSource([]), clock=clock,
        config=LiveConfig(run_id="live", tickers=("AAPL",), **{**steps, **cfg}),
        new_risk=new_risk, new_executor=OrderExecutor, new_monitor=PositionMonitor,
        new_tracker=PortfolioTracker, new_reconciler=new_reconciler, new_engine=Engine,
        monotonic=Ticks(), sleep=sleep or (lambda s: None), after_step=after_step)


def _feed() -> InMemoryPriceFeed:
    feed = InMemoryPriceFeed()
    for i in range(10, -1, -1):
        feed.push(Bar("AAPL", NOW - timedelta(days=i), 100, 101, 99, 100, 1e6))
    return feed


def test_run_when_broker_answers_then_steps_to_max_steps_and_finishes() -> None:
    clock = TestClock(NOW)
    broker = FlakyBroker(clock)
    outcome = _trading(broker, clock, _feed()).run()
    assert outcome.outage is None
    assert outcome.result.status == "finished" and outcome.result.steps == 3


def test_run_when_broker_down_at_start_then_unreachable_raised_before_any_step() -> None:
    clock = TestClock(NOW)
    broker = FlakyBroker(clock)
    broker.down = True
    trading = _trading(broker, clock, _feed())
    with pytest.raises(BrokerUnreachable, match="account: Alpaca get account: connection"):
        trading.run()
    assert broker.clock_calls == 0


def test_run_when_broker_goes_away_then_stops_after_outage_budget() -> None:
    clock = TestClock(NOW)
    broker = FlakyBroker(clock)
    naps: list[float] = []

    def sleep(s: float) -> None:  # the broker goes away after the first step
        naps.append(s)
        broker.down = True

    outcome = _trading(broker, clock, _feed(), sleep=sleep, max_steps=None,
                       max_outage_s=5.0).run()
    assert outcome.result.status == "interrupted" and outcome.result.steps == 1
    assert outcome.outage is not None and "has not answered for 5 s" in outcome.outage
    assert "limit 5 s" in outcome.outage
    assert len(naps) < 20  # it gave up instead of retrying for ever


def test_outage_guard_when_broker_answers_again_then_budget_starts_over() -> None:
    clock = TestClock(NOW)
    broker = FlakyBroker(clock)
    stops: list[int] = []
    guard = OutageGuard(broker, 3.0, lambda: stops.append(1), Ticks())
    for _ in range(2):
        broker.down = True
        for _ in range(3):
            with pytest.raises(BrokerUnavailable):
                guard.get_clock()
        broker.down = False
        guard.get_clock()
    assert stops == [] and guard.outage is None
    broker.down = True
    for _ in range(4):
        with pytest.raises(BrokerUnavailable):
            guard.get_clock()
    assert stops == [1] and guard.outage is not None


def test_warm_up_when_source_keeps_observations_then_given_feed_history_in_order() -> None:
    clock = TestClock(NOW)
    source = WarmSource()
    trading = _trading(FlakyBroker(clock), clock, _feed(), source=source, warmup_days=5)
    assert trading.warm_up() == 6
    assert [b.ts for b in source.warmed] == [NOW - timedelta(days=i) for i in range(5, -1, -1)]


def test_after_step_when_given_then_called_with_each_step_results() -> None:
    clock = TestClock(NOW)
    broker = FlakyBroker(clock)
    broker.set_price("AAPL", Decimal(100))
    seen: list[list[str]] = []
    sig = Signal(signal_id="s1", ticker="AAPL", action="buy", confidence=0.9, ts=NOW,
                 strategy="t")
    outcome = _trading(broker, clock, _feed(), source=ListSignalSource([sig]),
                       after_step=lambda step, results: seen.append(
                           [r.signal_id for r in results])).run()
    assert len(seen) == outcome.result.steps == 3
    assert seen[0] == ["s1"] and seen[1:] == [[], []]
