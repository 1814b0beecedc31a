"""The risk market view with ``lookback=0``: the same quotes, no returns."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.simulated import ExchangeConfig, SimulatedExchange
from application.risk import market_view
from domain.market import Bar

T0 = datetime(2024, 3, 1, 21, tzinfo=UTC)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["AAA", "BBB"]), st.integers(0, 20),
                          st.floats(0.5, 300, allow_nan=False)), max_size=30),
       st.integers(0, 25))
def test_market_view_when_lookback_zero_then_quotes_only(
        bars: list[tuple[str, int, float]], day: int) -> None:
    ex = SimulatedExchange(ExchangeConfig(history=30))
    for t, d, px in sorted(bars, key=lambda b: b[1]):
        ex.push_bar(Bar(ticker=t, ts=T0 + timedelta(days=d), open=px, high=px * 1.01,
                        low=px * 0.99, close=px, volume=1000.0))
    now = T0 + timedelta(days=day)
    quotes_only = market_view(ex, ["AAA", "BBB", "ZZZ"], now, lookback=0)
    full = market_view(ex, ["AAA", "BBB", "ZZZ"], now, lookback=1)
    assert quotes_only.quotes == full.quotes
    assert quotes_only.returns == {}
    for t in ("AAA", "BBB", "ZZZ"):
        assert quotes_only.age_seconds(t) == full.age_seconds(t)
