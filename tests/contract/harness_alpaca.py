"""Harness of the Alpaca adapter: the real alpaca-py SDK -> loopback server -> SimulatedExchange.

Like the simulated harness, daily bars are stamped at real XNYS session closes, so the
calendar, partial-fill, bracket, stop-limit and trailing cases run through the whole stack.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from adapters.alpaca import AlpacaBroker, AlpacaConfig
from adapters.alpaca_server import AlpacaCompatServer
from adapters.alpaca_server.server import default_exchange
from adapters.simulated.sessions import dt_from_ns, ns_from_dt, sessions_for
from tests.contract.harness import STARTING_CASH

TEST_KEY = "PKTESTKEY0000000000001"
TEST_SECRET = "sEcReT-TeSt-0000000000000000000000000001"  # noqa: S105 - a fake test credential


class AlpacaHarness:
    """AlpacaBroker (real SDK, stream on, polling every call) -> loopback AlpacaCompatServer."""

    capabilities: frozenset[str] = frozenset(
        {"bracket", "trailing", "stop_limit", "partial", "calendar"}
    )

    def __init__(self, *, faults: str | None = None, use_stream: bool = True,
                 calendar: bool = False, **config: object) -> None:
        """``calendar=True`` (the contract suite) uses XNYS sessions and a 10 % volume cap."""
        self._sessions = sessions_for("XNYS") if calendar else None
        if self._sessions is not None:
            start = ns_from_dt(datetime(2024, 1, 2, 12, tzinfo=UTC))
            self._i = self._sessions.next_index(start)
            begin = dt_from_ns(int(self._sessions.closes[self._i - 1]))
            exchange = default_exchange(Decimal(STARTING_CASH), calendar="XNYS", start=begin,
                                        participation=0.1)
        else:
            self.capabilities = frozenset({"bracket", "trailing", "stop_limit"})
            exchange = default_exchange(Decimal(STARTING_CASH))
        self.server = AlpacaCompatServer(exchange, faults, api_key=TEST_KEY,
                                         secret_key=TEST_SECRET)
        self.server.start()
        opts: dict[str, object] = {"timeout_s": 2.0, "poll_interval_s": 0.0,
                                   "backoff_base_s": 0.0, "rate_per_minute": 1e9,
                                   "burst": 1_000_000, "use_stream": use_stream}
        opts.update(config)
        self.config = AlpacaConfig(api_key=TEST_KEY, secret_key=TEST_SECRET,
                                   base_url=self.server.base_url,
                                   stream_url=self.server.stream_url, **opts)  # type: ignore[arg-type]
        self.broker = AlpacaBroker(self.config)
        self._day = 0

    def bar(self, ticker: str, open_: float, high: float, low: float, close: float,
            volume: float = 1_000_000) -> None:
        if self._sessions is not None:
            ts = dt_from_ns(int(self._sessions.closes[self._i]))
            self._i += 1
        else:
            self._day += 1
            ts = datetime(2024, 1, 2, 21, tzinfo=UTC) + timedelta(days=self._day)
        self.server.bar(ticker, open_, high, low, close, volume, ts=ts)

    def set_time(self, ts: datetime) -> None:
        """Move the exchange's clock without a bar (the calendar cases)."""
        self.server.set_time(ts)

    def close(self) -> None:
        self.broker.close()
        self.server.stop()


def make_harness() -> AlpacaHarness:
    """Return a fresh harness (one server per test) with the exchange calendar."""
    return AlpacaHarness(calendar=True)
