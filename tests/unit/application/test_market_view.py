"""The risk market view with ``lookback=0``: the same quotes, no returns."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import numpy as np
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


def _returns_pairwise(closes: dict[str, dict[object, float]], lookback: int
                      ) -> dict[str, list[float]]:
    # the definition, pair by pair: close to close on the union of days, NaN without two
    # positive closes
    days = sorted({d for s in closes.values() for d in s})[-(lookback + 1):]
    out: dict[str, list[float]] = {}
    for t, s in closes.items():
        r = []
        for prev, cur in itertools.pairwise(days):
            a, b = s.get(prev), s.get(cur)
            r.append(b / a - 1 if a and b and a > 0 else float("nan"))
        if r:
            out[t] = r
    return out


_PX = st.one_of(st.floats(0.5, 300, allow_nan=False), st.sampled_from([0.0, -1.0]))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["AAA", "BBB", "CCC"]), st.integers(0, 40), _PX),
                max_size=60),
       st.integers(1, 30))
def test_market_view_when_returns_then_equal_to_the_pairwise_definition(
        bars: list[tuple[str, int, float]], lookback: int) -> None:
    ex = SimulatedExchange(ExchangeConfig(history=80))
    for t, d, px in sorted(bars, key=lambda b: b[1]):
        ex.push_bar(Bar(ticker=t, ts=T0 + timedelta(days=d), open=abs(px) or 1.0,
                        high=abs(px) or 1.0, low=abs(px) or 1.0, close=px, volume=1000.0))
    now = T0 + timedelta(days=41)
    start = now - timedelta(days=int(lookback * 1.6) + 10)
    mv = market_view(ex, ["AAA", "BBB", "CCC"], now, lookback=lookback)
    want = _returns_pairwise({t: dict(ex.daily_closes(t, start, now))
                              for t in ("AAA", "BBB", "CCC")}, lookback)
    assert set(mv.returns) == set(want)
    for t, r in want.items():
        np.testing.assert_array_equal(mv.returns[t], np.array(r))
