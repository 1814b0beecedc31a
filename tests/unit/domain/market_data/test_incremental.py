"""The incremental EMA and Wilder states repeat the vectorised indicators bit for bit."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from domain import indicators as ind
from domain.market_data.incremental import EmaState, IncrementalFeatures, WilderState

prices = st.lists(st.floats(min_value=0.01, max_value=1e5, allow_nan=False), min_size=1,
                  max_size=300)


@settings(max_examples=60, deadline=None)
@given(prices, st.integers(min_value=1, max_value=60))
def test_ema_state_equals_the_vectorised_ema(xs: list[float], n: int) -> None:
    e = EmaState(n, n - 1)
    got = np.array([e.push(x) for x in xs])
    want = ind.ema(np.array(xs), n)
    assert got.tobytes() == want.tobytes()


@settings(max_examples=60, deadline=None)
@given(prices, st.integers(min_value=1, max_value=30), st.integers(min_value=0, max_value=3))
def test_wilder_state_equals_the_vectorised_smoothing(xs: list[float], n: int,
                                                      first: int) -> None:
    w = WilderState(n, first)
    got = np.array([w.push(x) for x in xs])
    want = ind._wilder(np.array(xs), n, first)
    assert got.tobytes() == want.tobytes()


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(min_value=1.0, max_value=500.0), min_size=2, max_size=150))
def test_rsi_atr_macd_ema_state_equals_the_indicators(closes: list[float]) -> None:
    c = np.array(closes)
    h, lo, v = c * 1.01, c * 0.99, np.full(len(c), 1e6)
    inc = IncrementalFeatures(with_benchmark=False, tail=62)
    recs = []
    for i in range(len(c)):
        inc.push(c[i], h[i], lo[i], c[i], v[i], float("nan"), i, i + 1)
        recs.append(dict(inc._rec))
    m, s, hist = ind.macd(c, 12, 26, 9)
    want = {"ema_50": ind.ema(c, 50), "rsi": ind.rsi(c, 14), "atr": ind.atr(h, lo, c, 14),
            "macd": m, "macd_signal": s, "macd_hist": hist}
    for k, arr in want.items():
        assert np.array([r[k] for r in recs]).tobytes() == arr.tobytes(), k


def test_tail_shorter_than_the_windows_is_refused() -> None:
    import pytest

    with pytest.raises(ValueError, match="tail 30"):
        IncrementalFeatures(tail=30)


def test_the_rebuilt_columns_are_exactly_the_feature_files_indicators() -> None:
    from domain.market_data.features import INDICATOR_COLUMNS
    from domain.market_data.incremental import RECURSIVE_COLUMNS, WINDOWED_COLUMNS

    assert sorted(RECURSIVE_COLUMNS + WINDOWED_COLUMNS) == sorted(INDICATOR_COLUMNS)
