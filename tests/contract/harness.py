"""Harnesses let one contract suite drive every BrokerPort implementation.

A harness owns a broker and a way to move its market one bar at a time. To register a new
implementation, write ``tests/contract/harness_<name>.py`` with a ``make_harness()``
function and add its module name to ``BROKER_HARNESS_MODULES`` below.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Protocol

from adapters.memory import FakeBroker
from application.ports import BrokerPort

STARTING_CASH = Decimal(100_000)


class BrokerHarness(Protocol):
    """What the contract suite needs besides the port itself."""

    broker: BrokerPort
    #: optional features: "bracket", "trailing", "stop_limit", "partial", "calendar"
    capabilities: frozenset[str]

    def bar(self, ticker: str, open_: float, high: float, low: float, close: float,
            volume: float = 1_000_000) -> None:
        """Advance ``ticker`` by one daily bar; working orders match against it."""
        ...

    def close(self) -> None:
        """Release resources (servers, threads)."""
        ...


class FakeHarness:
    """Harness of the in-memory FakeBroker."""

    capabilities: frozenset[str] = frozenset()

    def __init__(self) -> None:
        self.broker = FakeBroker(starting_cash=STARTING_CASH)
        self._day = 0

    def bar(self, ticker: str, open_: float, high: float, low: float, close: float,
            volume: float = 1_000_000) -> None:
        self._day += 1
        self.broker.bar(ticker, open_, high, low, close, volume,
                        ts=datetime(2024, 1, 2, 21, tzinfo=UTC) + timedelta(days=self._day))

    def close(self) -> None:
        pass


#: module names (under tests.contract) that define make_harness(); "fake" is built in.
BROKER_HARNESS_MODULES: list[str] = [
    "harness_simulated",
    "harness_alpaca",
]


def harness_factories() -> dict[str, Callable[[], BrokerHarness]]:
    """Return the name -> factory map of every registered harness that can be imported."""
    out: dict[str, Callable[[], BrokerHarness]] = {"fake": FakeHarness}
    for mod in BROKER_HARNESS_MODULES:
        try:
            m = importlib.import_module(f"tests.contract.{mod}")
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.endswith(mod):
                continue  # not written yet
            raise
        out[mod.removeprefix("harness_")] = m.make_harness
    return out
