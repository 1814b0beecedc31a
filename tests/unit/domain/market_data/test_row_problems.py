"""The whole-column check of ``row_problems`` agrees with the row-by-row check."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from domain.market_data.validation import Problem, row_by_row, row_problems, rows_clean

_GOOD = (10.0, 12.0, 9.0, 11.0, 1000.0)  # open, high, low, close, volume
_BAD_VALUES = (float("nan"), float("inf"), -float("inf"), 0.0, -1.0, 1e-9, 8.0, 13.0)


@st.composite
def panels(draw: st.DrawFn) -> tuple[np.ndarray, ...]:
    n = draw(st.integers(1, 40))
    tickers = np.array([draw(st.sampled_from(["A", "B", "C"])) for _ in range(n)], dtype=object)
    if draw(st.integers(0, 9)) == 0:  # a missing ticker, as a reader hands it over
        tickers[draw(st.integers(0, n - 1))] = draw(st.sampled_from([None, float("nan"), "", " "]))
    start = np.datetime64("2021-01-04", "D")  # a Monday
    offsets = draw(st.lists(st.integers(0, 30), min_size=n, max_size=n))
    if draw(st.booleans()):  # mostly weekdays, so that clean panels occur
        offsets = [o - o % 7 + min(o % 7, 4) for o in offsets]
    days = start + np.array(offsets, dtype="timedelta64[D]")
    if draw(st.integers(0, 9)) == 0:
        days[draw(st.integers(0, n - 1))] = np.datetime64("1980-01-02", "D")
    cols = [np.full(n, v) for v in _GOOD]
    for _ in range(draw(st.integers(0, 2))):
        cols[draw(st.integers(0, 4))][draw(st.integers(0, n - 1))] = draw(
            st.sampled_from(_BAD_VALUES))
    return (days.astype("datetime64[ns]"), tickers, *cols)


@settings(max_examples=300)
@given(panels())
def test_row_problems_when_compared_with_row_by_row_then_same(panel: tuple[np.ndarray, ...]
                                                               ) -> None:
    dates, tickers, o, h, lo, c, v = panel
    days = dates.astype("datetime64[D]")
    weekday = (days.astype(np.int64) + 3) % 7
    assert row_problems(dates, tickers, o, h, lo, c, v) == row_by_row(
        days, weekday, tickers, o, h, lo, c, v)


@settings(max_examples=300)
@given(panels())
def test_rows_clean_when_compared_with_row_by_row_then_true_exactly_when_nothing_found(
        panel: tuple[np.ndarray, ...]) -> None:
    dates, tickers, o, h, lo, c, v = panel
    # a reader codes only named tickers (it hands a batch with a missing one to row_problems)
    assume(all(isinstance(t, str) and t.strip() for t in tickers))
    days = dates.astype("datetime64[D]")
    weekday = (days.astype(np.int64) + 3) % 7
    names, code = np.unique(tickers.astype(str), return_inverse=True)
    day_n = days.astype(np.int64)
    expected = row_by_row(days, weekday, tickers, o, h, lo, c, v) == []
    assert rows_clean(day_n, code.astype(np.int64), o, h, lo, c, v) is expected
    order = np.lexsort((code, day_n))  # sorted rows take the shortcut: same answer
    assert rows_clean(day_n[order], code[order].astype(np.int64), o[order], h[order],
                      lo[order], c[order], v[order]) is expected


def test_rows_clean_when_empty_then_true_and_when_negative_code_then_refused() -> None:
    empty = np.zeros(0)
    assert rows_clean(np.zeros(0, np.int64), np.zeros(0, np.int64), *(empty,) * 5) is True
    one = [np.full(1, x) for x in _GOOD]
    day = np.array([np.datetime64("2021-01-04", "D").astype(np.int64)])
    with pytest.raises(ValueError, match="ticker codes must be >= 0"):
        rows_clean(day, np.array([-1]), *one)


def test_row_problems_when_clean_then_empty_and_when_duplicate_then_named() -> None:
    dates = np.array(["2021-01-04", "2021-01-05"], dtype="datetime64[ns]")
    tickers = np.array(["A", "A"], dtype=object)
    cols = [np.full(2, x) for x in _GOOD]
    assert row_problems(dates, tickers, *cols) == []
    dup = np.array(["2021-01-04", "2021-01-04"], dtype="datetime64[ns]")
    found = row_problems(dup, tickers, *cols)
    assert [(i, p) for i, p, _ in found] == [(1, Problem.DUPLICATE_TIMESTAMP)]


@pytest.mark.parametrize("missing", [None, float("nan"), "", "  "])
def test_row_problems_when_ticker_missing_then_that_row_named(missing: object) -> None:
    dates = np.array(["2021-01-04", "2021-01-05"], dtype="datetime64[ns]")
    tickers = np.array(["A", missing], dtype=object)
    cols = [np.full(2, x) for x in _GOOD]
    assert row_problems(dates, tickers, *cols) == [(1, Problem.NAN, "ticker missing")]
