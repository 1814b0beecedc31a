"""Fakes wired together for the pipeline's unit tests (no mocks of our own code)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from adapters.memory.broker import FakeBroker
from adapters.memory.feed import InMemoryPriceFeed
from adapters.memory.notifier import RecordingNotifier
from adapters.memory.uow import InMemoryUnitOfWork
from application.executor import ExecutorConfig, OrderExecutor
from application.monitor import PositionMonitor
from application.risk import RiskService
from domain.clock import TestClock
from domain.market import Bar
from domain.risk.config import RiskConfig

T0 = datetime(2024, 1, 2, 21, tzinfo=UTC)


class World:
    """A fake broker, a feed, a unit of work, risk and an executor over the same clock."""

    def __init__(self, cash: Decimal = Decimal(100_000), **executor_kw: object) -> None:
        self.clock = TestClock(T0)
        self.broker = FakeBroker(cash, clock=self.clock)
        self.feed = InMemoryPriceFeed()
        self.uow = InMemoryUnitOfWork()
        self.notifier = RecordingNotifier()
        self.risk = RiskService(self.uow, self.broker, self.notifier, self.clock,
                                RiskConfig(max_price_age_s=5 * 86400))
        self.executor = OrderExecutor(self.broker, self.feed, self.risk,
                                      ExecutorConfig(**executor_kw))  # type: ignore[arg-type]
        self.monitor = PositionMonitor(self.executor)

    def bar(self, ticker: str, o: float, h: float, lo: float, c: float,
            ts: datetime | None = None) -> Bar:
        """Advance one day (unless ``ts``) and push the bar to broker and feed."""
        if ts is None:
            ts = self.clock.now() + timedelta(days=1)
        self.clock.set(ts)
        b = Bar(ticker, ts, o, h, lo, c, 1_000_000)
        self.broker.bar(ticker, o, h, lo, c, ts=ts)
        self.feed.push(b)
        return b

    def history(self, ticker: str, n: int = 30, price: float = 100.0) -> None:
        """Push ``n`` quiet daily bars (range 2 %) ending at the clock's time."""
        start = self.clock.now() - timedelta(days=n)
        for i in range(n):
            ts = start + timedelta(days=i + 1)
            b = Bar(ticker, ts, price, price * 1.01, price * 0.99, price, 1_000_000)
            self.feed.push(b)
        self.broker.set_price(ticker, Decimal(repr(price)))

    def events(self) -> None:
        """Apply the broker's pending events in a committed transaction."""
        with self.uow as u:
            self.executor.apply_events(self.broker.poll_events(), u, self.clock.now())
            u.commit()


@pytest.fixture
def world() -> Iterator[World]:
    yield World()
