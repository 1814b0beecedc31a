"""Harnesses of the PriceFeedPort contract: each pushes bars into one implementation.

* ``memory`` -- :class:`InMemoryPriceFeed`, bars pushed directly;
* ``simulated`` -- :class:`SimulatedExchange` (the exchange is the backtest's price feed);
* ``alpaca`` -- :class:`AlpacaPriceFeed` through the real alpaca-py SDK against the loopback
  :class:`AlpacaCompatServer`, which serves the bars it was given on Alpaca's market-data routes.

The loopback server is started once per test module (see ``alpaca_server`` in the suite); its
bars accumulate, so every harness hands out ticker names through :meth:`FeedHarness.sym`, which
the Alpaca harness makes unique per test.
"""

from __future__ import annotations

import itertools
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from adapters.alpaca import AlpacaConfig
from adapters.alpaca.feed import AlpacaPriceFeed
from adapters.alpaca_server import AlpacaCompatServer
from adapters.memory.feed import InMemoryPriceFeed
from adapters.simulated import ExchangeConfig, SimulatedExchange
from application.ports import PriceFeedPort
from domain.clock import TestClock
from domain.market import Bar
from tests.contract.harness_alpaca import TEST_KEY, TEST_SECRET


class FeedHarness(Protocol):
    """A price feed under test and the way to give it bars."""

    feed: PriceFeedPort

    def sym(self, name: str) -> str:
        """Return the ticker this test uses for ``name``."""
        ...

    def push(self, bar: Bar) -> None:
        """Make ``bar`` known to the feed (bars of one ticker arrive in time order)."""
        ...


class MemoryFeedHarness:
    """The in-memory fake."""

    def __init__(self) -> None:
        self.feed = InMemoryPriceFeed()

    def sym(self, name: str) -> str:
        return name

    def push(self, bar: Bar) -> None:
        self.feed.push(bar)


class SimulatedFeedHarness:
    """The simulated exchange, which serves the prices it matched orders against."""

    def __init__(self, start: datetime) -> None:
        self.exchange = SimulatedExchange(ExchangeConfig(starting_cash=Decimal(100_000)),
                                          clock=TestClock(start))
        self.feed = self.exchange

    def sym(self, name: str) -> str:
        return name

    def push(self, bar: Bar) -> None:
        self.exchange.push_bar(bar)


_serial = itertools.count(1)


class AlpacaFeedHarness:
    """AlpacaPriceFeed -> alpaca-py -> loopback server (shared by the module's tests)."""

    def __init__(self, server: AlpacaCompatServer) -> None:
        self.server = server
        self.feed = AlpacaPriceFeed(AlpacaConfig(
            api_key=TEST_KEY, secret_key=TEST_SECRET, base_url=server.base_url,
            data_url=server.base_url, timeout_s=2.0, backoff_base_s=0.0,
            rate_per_minute=1e9, burst=1_000_000, max_read_attempts=1))
        self._suffix = f"X{next(_serial)}"

    def sym(self, name: str) -> str:
        return f"{name}{self._suffix}"

    def push(self, bar: Bar) -> None:
        self.server.bar(bar.ticker, bar.open, bar.high, bar.low, bar.close, bar.volume,
                        ts=bar.ts)
