"""The simulated exchange's prices: the last bar and the kept bars of every ticker.

:class:`PriceHistory` is the :class:`~application.ports.PriceFeedPort` half of
:class:`~adapters.simulated.exchange.SimulatedExchange` (the exchange's ``on_bar`` fills
``_last`` and ``_hist``), plus the float equity the per-bar curves use.
"""

from __future__ import annotations

from collections import deque
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from adapters.simulated.order import _d
from adapters.simulated.sessions import dt_from_ns, ns_from_dt
from domain.market import Bar, parse_timeframe

__all__ = ["PriceHistory"]

#: the proleptic ordinal of 1970-01-01 (the day of nanosecond 0, UTC)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


class PriceHistory:
    """Last bar per ticker, ``config.history`` kept bars per ticker, float equity."""

    cash_f: float
    pos_f: dict[str, float]
    _last: dict[str, tuple[int, float, float, float, float, float]]
    _hist: dict[str, deque[tuple[int, float, float, float, float, float]]]
    _unordered: set[str]
    config: Any
    #: the domain bars already built from kept rows, per ticker (bars are immutable, and the
    #: risk checks and sizing ask for the same recent bars again and again)
    _bars: dict[str, dict[tuple[int, float, float, float, float, float], Bar]]

    def _bar(self, ticker: str, r: tuple[int, float, float, float, float, float]) -> Bar:
        cache = self._bars.get(ticker)
        if cache is None:
            cache = self._bars[ticker] = {}
        bar = cache.get(r)
        if bar is None:
            if len(cache) > 2 * self.config.history + 64:
                cache.clear()  # bounded: at most about twice the kept bars per ticker
            bar = cache[r] = Bar(ticker=ticker, ts=dt_from_ns(r[0]), open=r[1], high=r[2],
                                 low=r[3], close=r[4], volume=r[5])
        return bar

    @property
    def marks(self) -> dict[str, float]:
        """Return the last close of every ticker seen (floats)."""
        return {t: r[4] for t, r in self._last.items()}

    def equity_f(self) -> float:
        """Return equity at the last closes in floats (for per-bar equity curves)."""
        eq = self.cash_f
        last = self._last
        for t, q in self.pos_f.items():
            if q:
                eq += q * last[t][4]
        return eq

    def _price_dec(self, ticker: str) -> Decimal | None:
        last = self._last.get(ticker)
        return _d(last[4]) if last is not None else None

    def latest_price(self, ticker: str) -> Decimal | None:
        """Return the last close of ``ticker``."""
        return self._price_dec(ticker)

    def latest_bar(self, ticker: str) -> Bar | None:
        """Return the last bar of ``ticker``."""
        r = self._last.get(ticker)
        if r is None:
            return None
        return self._bar(ticker, r)

    def get_bars(self, ticker: str, start: datetime, end: datetime,
                 timeframe: str = "1Day") -> list[Bar]:
        """Return the kept bars (``config.history`` per ticker) with ``start <= ts <= end``.

        The exchange keeps the bars it was fed, whatever their size; ``timeframe`` is checked
        (a misspelt bar size is refused like every feed refuses it) but not resampled.
        """
        parse_timeframe(timeframe)
        return [self._bar(ticker, r) for r in self._rows(ticker, start, end)]

    def daily_closes(self, ticker: str, start: datetime, end: datetime,
                     ) -> list[tuple[date, float]]:
        """Return ``(bar.ts.date(), bar.close)`` of :meth:`get_bars`' bars, in the same order,
        without building the bars (the risk checks' market view needs only these)."""
        epoch = _EPOCH_ORDINAL
        return [(date.fromordinal(epoch + r[0] // 1_000_000_000 // 86_400), r[4])
                for r in self._rows(ticker, start, end)]

    def daily_hlc(self, ticker: str, start: datetime, end: datetime,
                  ) -> tuple[list[float], list[float], list[float]]:
        """Return the highs, lows and closes of :meth:`get_bars`' bars, in the same order,
        without building the bars (sizing's ATR needs only these)."""
        rows = self._rows(ticker, start, end)
        return [r[2] for r in rows], [r[3] for r in rows], [r[4] for r in rows]

    def _rows(self, ticker: str, start: datetime, end: datetime,
              ) -> list[tuple[int, float, float, float, float, float]]:
        # the kept rows with start <= ts <= end, oldest first
        a, b = ns_from_dt(start), ns_from_dt(end)
        rows = []
        for r in reversed(self._hist.get(ticker, ())):  # time-ordered: walk back from the end
            if r[0] < a:
                if ticker in self._unordered:
                    continue
                break
            if r[0] <= b:
                rows.append(r)
        rows.reverse()
        return rows
