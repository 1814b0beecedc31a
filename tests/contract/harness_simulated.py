"""Contract harness of the simulated exchange: daily bars at real XNYS session closes."""

from __future__ import annotations

from adapters.simulated import ExchangeConfig, SimulatedExchange
from adapters.simulated.sessions import dt_from_ns, ns_from_dt, sessions_for
from domain.clock import TestClock
from tests.contract.harness import STARTING_CASH

_START = "2024-01-02"


class SimulatedHarness:
    """Push one daily bar per XNYS session (2024-01-02 onwards), stamped at its close."""

    capabilities: frozenset[str] = frozenset(
        {"bracket", "trailing", "stop_limit", "partial", "calendar"}
    )

    def __init__(self, **config: object) -> None:
        self.sessions = sessions_for("XNYS")
        from datetime import UTC, datetime

        start = ns_from_dt(datetime(2024, 1, 2, 12, tzinfo=UTC))
        self._i = self.sessions.next_index(start)
        # the clock starts at the close of the session before the first bar
        self.clock = TestClock(dt_from_ns(int(self.sessions.closes[self._i - 1])))
        self.broker = SimulatedExchange(
            ExchangeConfig(starting_cash=STARTING_CASH, **config),  # type: ignore[arg-type]
            clock=self.clock,
        )

    def bar(self, ticker: str, open_: float, high: float, low: float, close: float,
            volume: float = 1_000_000) -> None:
        ts_ns = int(self.sessions.closes[self._i])
        self._i += 1
        self.clock.set(dt_from_ns(ts_ns))
        self.broker.on_bar(ticker, ts_ns, open_, high, low, close, volume)

    def set_time(self, ts: object) -> None:
        """Move the clock (and the exchange's time) to ``ts`` without a bar."""
        from datetime import datetime

        assert isinstance(ts, datetime)
        self.clock.set(ts)
        self.broker.advance_to(ts)
        n = ns_from_dt(ts)
        while self._i < len(self.sessions.closes) and self.sessions.closes[self._i] <= n:
            self._i += 1

    def close(self) -> None:
        pass


def make_harness() -> SimulatedHarness:
    """Return a fresh harness with the default configuration (zero costs)."""
    return SimulatedHarness()
