"""The exchange's (day, close) pairs, highs/lows/closes, and the risk market view and ATR
built from them equal what its bars give (the executor reads these when a feed has them)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.simulated import ExchangeConfig, SimulatedExchange
from application.risk import market_view
from domain.market import Bar
from domain.risk.plan import latest_atr, latest_atr_of

T0 = datetime(2019, 12, 30, 21, tzinfo=UTC)


class _BarsOnly:
    """The same feed seen through the port's two methods only (no ``daily_closes``)."""

    def __init__(self, ex: SimulatedExchange) -> None:
        self._ex = ex

    def latest_bar(self, ticker: str) -> Bar | None:
        return self._ex.latest_bar(ticker)

    def get_bars(self, ticker: str, start: datetime, end: datetime,
                 timeframe: str = "1Day") -> list[Bar]:
        return self._ex.get_bars(ticker, start, end, timeframe)


@st.composite
def _exchanges(draw: st.DrawFn) -> SimulatedExchange:
    ex = SimulatedExchange(ExchangeConfig(history=draw(st.integers(1, 40))))
    # minutes before midnight and after it, days out of order now and then, gaps, repeats
    for _ in range(draw(st.integers(0, 60))):
        t = draw(st.sampled_from(["AAA", "BBB", "CCC"]))
        ts = T0 + timedelta(days=draw(st.integers(-5, 45)),
                            minutes=draw(st.sampled_from([-1, 0, 179, 181, 0])))
        px = draw(st.floats(0.5, 300, allow_nan=False))
        ex.push_bar(Bar(ticker=t, ts=ts, open=px, high=px * 1.01, low=px * 0.99, close=px,
                        volume=1000.0))
    return ex


@settings(max_examples=150, deadline=None)
@given(_exchanges(), st.integers(-10, 50), st.integers(0, 60), st.integers(1, 30))
def test_daily_closes_when_any_kept_bars_then_equal_to_the_bars_days_and_closes(
        ex: SimulatedExchange, start_day: int, span: int, lookback: int) -> None:
    start = T0 + timedelta(days=start_day)
    end = start + timedelta(days=span)
    for t in ("AAA", "BBB", "CCC", "ZZZ"):
        assert ex.daily_closes(t, start, end) == [
            (b.ts.date(), b.close) for b in ex.get_bars(t, start, end)]
        bars = ex.get_bars(t, start, end)
        assert ex.daily_hlc(t, start, end) == (
            [b.high for b in bars], [b.low for b in bars], [b.close for b in bars])
        for period in (1, 3, 14):  # the ATR of the pairs is the bars' ATR
            assert latest_atr_of(*ex.daily_hlc(t, start, end), period) == latest_atr(bars,
                                                                                      period)
    tickers = ["AAA", "BBB", "CCC", "ZZZ"]
    fast = market_view(ex, tickers, end, lookback=lookback)
    slow = market_view(_BarsOnly(ex), tickers, end, lookback=lookback)
    assert fast.quotes == slow.quotes
    assert list(fast.returns) == list(slow.returns)
    for t, r in slow.returns.items():  # NaN where a ticker has no bar: equal as arrays
        np.testing.assert_array_equal(fast.returns[t], r)
