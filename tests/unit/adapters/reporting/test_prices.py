"""The report's closes and benchmark computed a column at a time equal the row-by-row ones
(:func:`closes_from_frame` and :func:`benchmark_series`, which the dashboard uses)."""

from __future__ import annotations

import pandas as pd
from hypothesis import example, given, settings
from hypothesis import strategies as st

from adapters.reporting.prices import (
    benchmark_from_series,
    benchmark_series,
    close_series,
    closes_from_frame,
)

_DAYS = pd.bdate_range("2021-01-04", periods=40)


@st.composite
def _frames(draw: st.DrawFn) -> tuple[pd.DataFrame, pd.Series]:
    rows = []
    for t in draw(st.lists(st.sampled_from(["AAA", "BBB", "CCC", "SPY"]), min_size=1,
                           max_size=4, unique=True)):
        for d in draw(st.lists(st.integers(0, 39), min_size=1, max_size=25)):  # dups allowed
            px = draw(st.one_of(st.floats(0.5, 500, allow_nan=False), st.just(0.0),
                                st.just(-1.0)))
            rows.append({"date": _DAYS[d], "ticker": t, "close": px})
    df = pd.DataFrame(rows)
    lo = draw(st.integers(0, 39))
    hi = draw(st.integers(lo, 39))
    eq = pd.Series([draw(st.floats(1_000, 200_000, allow_nan=False))
                    for _ in range(hi - lo + 1)], index=_DAYS[lo:hi + 1], dtype=float)
    return df, eq


@settings(max_examples=150, deadline=None)
@given(_frames())
@example((pd.DataFrame({"date": [_DAYS[2], _DAYS[2], _DAYS[1]], "ticker": ["A", "A", "B"],
                        "close": [10.0, 12.0, 3.0]}),
          pd.Series([100.0, 101.0, 99.5], index=_DAYS[0:3])))
def test_benchmark_from_series_when_any_closes_then_equal_to_row_by_row(
        case: tuple[pd.DataFrame, pd.Series]) -> None:
    df, equity = case
    rows = closes_from_frame(df)
    series = close_series(df)
    assert list(series) == list(rows)
    for t, pts in rows.items():
        assert [(d, px) for d, px in pts] == [
            (ts.to_pydatetime(), px)
            for ts, px in series[t].items()]
    want = benchmark_series(rows, equity)
    got = benchmark_from_series(series, equity)
    assert list(got.index) == list(want.index)
    assert got.tolist() == want.tolist()  # the same floats, not merely close ones
