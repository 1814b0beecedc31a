"""A price feed over bars held in memory."""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from domain.market import Bar, parse_timeframe
from domain.values import dec


class InMemoryPriceFeed:
    """Serves bars that were pushed to it; ``latest_*`` see only what was pushed so far."""

    def __init__(self, bars: Iterable[Bar] = ()) -> None:
        self._bars: dict[str, list[Bar]] = {}
        for b in bars:
            self.push(b)

    def push(self, bar: Bar) -> None:
        """Append a bar (bars of one ticker must arrive in time order)."""
        series = self._bars.setdefault(bar.ticker, [])
        if series and bar.ts <= series[-1].ts:
            raise ValueError(f"bar for {bar.ticker} at {bar.ts} is not after {series[-1].ts}")
        series.append(bar)

    def latest_price(self, ticker: str) -> Decimal | None:
        """Return the close of the last bar of ``ticker``."""
        b = self.latest_bar(ticker)
        return dec(b.close, "close") if b is not None else None

    def latest_bar(self, ticker: str) -> Bar | None:
        """Return the last bar of ``ticker``."""
        s = self._bars.get(ticker)
        return s[-1] if s else None

    def get_bars(
        self, ticker: str, start: datetime, end: datetime, timeframe: str = "1Day"
    ) -> list[Bar]:
        """Return bars of ``ticker`` with ``start <= ts <= end`` (as stored: not resampled)."""
        parse_timeframe(timeframe)
        s = self._bars.get(ticker, [])
        keys = [b.ts for b in s]
        return s[bisect.bisect_left(keys, start): bisect.bisect_right(keys, end)]
