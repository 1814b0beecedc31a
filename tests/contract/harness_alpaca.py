"""Harness of the Alpaca adapter: the real alpaca-py SDK -> loopback server -> SimulatedExchange."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from adapters.alpaca import AlpacaBroker, AlpacaConfig
from adapters.alpaca_server import AlpacaCompatServer
from adapters.alpaca_server.server import default_exchange
from tests.contract.harness import STARTING_CASH

TEST_KEY = "PKTESTKEY0000000000001"
TEST_SECRET = "sEcReT-TeSt-0000000000000000000000000001"  # noqa: S105 - a fake test credential


class AlpacaHarness:
    """AlpacaBroker (real SDK, stream on, polling every call) -> loopback AlpacaCompatServer."""

    capabilities: frozenset[str] = frozenset()

    def __init__(self, *, faults: str | None = None, use_stream: bool = True,
                 **config: object) -> None:
        self.server = AlpacaCompatServer(default_exchange(Decimal(STARTING_CASH)), faults,
                                         api_key=TEST_KEY, secret_key=TEST_SECRET)
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
        self._day += 1
        self.server.bar(ticker, open_, high, low, close, volume,
                        ts=datetime(2024, 1, 2, 21, tzinfo=UTC) + timedelta(days=self._day))

    def close(self) -> None:
        self.broker.close()
        self.server.stop()


def make_harness() -> AlpacaHarness:
    """Return a fresh harness (one server per test)."""
    return AlpacaHarness()
