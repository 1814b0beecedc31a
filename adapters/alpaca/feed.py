"""PriceFeedPort on alpaca-py's StockHistoricalDataClient (raw JSON, timeout, no blind retries)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from alpaca.data.enums import Adjustment, DataFeed
from alpaca.data.historical.stock import StockHistoricalDataClient
from alpaca.data.requests import StockBarsRequest, StockLatestBarRequest, StockLatestTradeRequest
from alpaca.data.timeframe import TimeFrame, TimeFrameUnit

from adapters.alpaca.broker import AlpacaConfig, harden_client
from adapters.alpaca.errors import CREDENTIAL_FILTER, Redactor, translate
from adapters.alpaca.limits import Backoff, TokenBucket
from adapters.alpaca.mapping import dec, parse_bar
from domain.errors import BrokerError, InvalidInput
from domain.market import Bar
from domain.market import parse_timeframe as domain_timeframe

_UNITS = {"min": TimeFrameUnit.Minute, "hour": TimeFrameUnit.Hour, "day": TimeFrameUnit.Day,
          "week": TimeFrameUnit.Week, "month": TimeFrameUnit.Month}


def parse_timeframe(text: str) -> TimeFrame:
    """Return alpaca-py's TimeFrame for ``1Min``, ``15Min``, ``1Hour``, ``1Day``, ``1Week``..."""
    amount, unit = domain_timeframe(text)
    return TimeFrame(amount, _UNITS[unit])


class AlpacaPriceFeed:
    """Latest trade price, latest bar and historical bars from Alpaca's market-data API."""

    def __init__(self, config: AlpacaConfig, *, sleep: Callable[[float], None] = time.sleep,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self._redact = Redactor([config.api_key, config.secret_key])
        CREDENTIAL_FILTER.protect(config.api_key, config.secret_key)
        self.client = harden_client(
            StockHistoricalDataClient(config.api_key, config.secret_key, raw_data=True,
                                      url_override=config.data_url or config.base_url),
            config.timeout_s)
        self.limiter = TokenBucket(config.rate_per_minute, config.burst, clock=monotonic,
                                   sleep=sleep)
        self.backoff = Backoff(config.backoff_base_s, config.backoff_cap_s, sleep=sleep)

    def _read(self, what: str, fn: Callable[[], Any]) -> Any:
        attempts = max(1, self.config.max_read_attempts)
        for attempt in range(1, attempts + 1):
            self.limiter.acquire()
            try:
                return fn()
            except Exception as exc:  # noqa: BLE001 - translated
                err = translate(exc, what=what, timeout_s=self.config.timeout_s,
                                redact=self._redact)
            if not (isinstance(err, BrokerError) and err.retryable) or attempt == attempts:
                raise err from None
            self.backoff.wait(attempt)
        raise AssertionError("unreachable")

    def latest_price(self, ticker: str) -> Decimal | None:
        """Return the last trade price of ``ticker`` (None when Alpaca has none)."""
        req = StockLatestTradeRequest(symbol_or_symbols=ticker)
        raw = self._read("latest trade", lambda: self.client.get_stock_latest_trade(req))
        trade = (raw or {}).get(ticker)
        return dec(trade.get("p")) if isinstance(trade, dict) else None

    def latest_bar(self, ticker: str) -> Bar | None:
        """Return the latest (minute) bar of ``ticker``."""
        req = StockLatestBarRequest(symbol_or_symbols=ticker)
        raw = self._read("latest bar", lambda: self.client.get_stock_latest_bar(req))
        bar = (raw or {}).get(ticker)
        return parse_bar(ticker, bar) if isinstance(bar, dict) else None

    def get_bars(
        self, ticker: str, start: datetime, end: datetime, timeframe: str = "1Day"
    ) -> list[Bar]:
        """Return bars with ``start <= ts <= end`` in time order (all pages)."""
        try:
            feed, adjustment = DataFeed(self.config.data_feed), Adjustment(self.config.adjustment)
        except ValueError:
            raise InvalidInput(
                "data_feed/adjustment", (self.config.data_feed, self.config.adjustment),
                "a feed in iex, sip, otc and an adjustment in raw, split, dividend, all",
            ) from None
        req = StockBarsRequest(symbol_or_symbols=ticker, timeframe=parse_timeframe(timeframe),
                               start=start, end=end, feed=feed, adjustment=adjustment)
        raw = self._read("bars", lambda: self.client.get_stock_bars(req))
        bars = [parse_bar(ticker, b) for b in (raw or {}).get(ticker, [])]
        return sorted((b for b in bars if start <= b.ts <= end), key=lambda b: b.ts)
