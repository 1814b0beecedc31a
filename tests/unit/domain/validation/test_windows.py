"""Walk-forward windows: no test window overlaps its train window or the embargo, and the
windows tile the data as the scheme says."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from domain.validation.windows import Span, last_windows, parse_span, walk_forward_windows


@given(
    n=st.integers(10, 2000),
    train=st.integers(1, 400),
    test=st.integers(1, 200),
    step=st.one_of(st.none(), st.integers(1, 200)),
    embargo=st.integers(0, 20),
    scheme=st.sampled_from(["rolling", "anchored"]),
)
@example(n=10, train=5, test=5, step=None, embargo=0, scheme="rolling")
def test_windows_never_overlap_and_follow_the_scheme(
    n: int, train: int, test: int, step: int | None, embargo: int, scheme: str
) -> None:
    try:
        ws = walk_forward_windows(
            n, train=Span(train), test=Span(test), step=None if step is None else Span(step),
            scheme=scheme, embargo=embargo,
        )
    except ValueError:
        assert train + embargo + test > n
        return
    s = step if step is not None else test
    for k, w in enumerate(ws):
        assert w.index == k
        assert 0 <= w.train_start < w.train_stop
        # The embargo separates train and test: nothing of the test window is train or embargo.
        assert w.test_start == w.train_stop + embargo
        assert w.test_stop <= n
        assert w.test_bars == test
        if scheme == "rolling":
            assert w.train_bars == train
            assert w.train_start == k * s
        else:
            assert w.train_start == 0
            assert w.train_stop == train + k * s
    # Windows continue while a whole one fits: the next one would run past the data.
    assert ws[-1].test_stop + s > n
    if step is None or step == test:
        for a, b in itertools.pairwise(ws):
            assert b.test_start == a.test_stop  # the test windows tile without gap or overlap


@given(
    n=st.integers(20, 3000),
    windows=st.integers(1, 12),
    train=st.one_of(st.none(), st.integers(1, 300)),
    embargo=st.integers(0, 10),
    scheme=st.sampled_from(["rolling", "anchored"]),
)
def test_last_windows_tile_the_end_of_the_data(
    n: int, windows: int, train: int | None, embargo: int, scheme: str
) -> None:
    try:
        ws = last_windows(n, windows, train=train, scheme=scheme, embargo=embargo)
    except ValueError:
        return
    assert len(ws) == windows
    assert ws[-1].test_stop == n
    sizes = {w.test_bars for w in ws}
    assert len(sizes) == 1 and sizes.pop() >= 1
    for a, b in itertools.pairwise(ws):
        assert b.test_start == a.test_stop
    for w in ws:
        assert w.test_start - w.train_stop == embargo
        assert w.train_start >= 0 and w.train_stop > w.train_start
        if scheme == "anchored":
            assert w.train_start == 0
        elif train is not None and w.train_stop - train >= 0:
            assert w.train_bars == train


def test_durations_resolve_against_the_dates() -> None:
    days = [dt.date(2020, 1, 1) + dt.timedelta(days=i) for i in range(0, 3 * 365)]
    ws = walk_forward_windows(
        len(days), train=parse_span("1y"), test=parse_span("3m"), embargo=5, dates=days
    )
    first = ws[0]
    assert days[first.train_start] == dt.date(2020, 1, 1)
    assert days[first.train_stop] == dt.date(2021, 1, 1)
    assert days[first.test_start] == dt.date(2021, 1, 6)
    assert days[first.test_stop] == dt.date(2021, 4, 6)
    assert days[ws[1].train_start] == dt.date(2020, 4, 1)  # moved on by the 3-month test
    assert all(days[w.test_stop - 1] <= days[-1] for w in ws)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("500", Span(500)), ("90d", Span(90, "d")), ("6W", Span(6, "w")), ("2y", Span(2, "y"))],
)
def test_parse_span(text: str, expected: Span) -> None:
    assert parse_span(text) == expected


@pytest.mark.parametrize("bad", ["", "0", "-5", "3q", "1.5y", "abc"])
def test_parse_span_names_the_field(bad: str) -> None:
    with pytest.raises(ValueError, match=r"--train must be .* got"):
        parse_span(bad, "--train")


def test_errors_name_the_value() -> None:
    with pytest.raises(ValueError, match="scheme must be one of rolling, anchored, got 'x'"):
        walk_forward_windows(100, train=Span(10), test=Span(10), scheme="x")
    with pytest.raises(ValueError, match="too few"):
        walk_forward_windows(15, train=Span(10), test=Span(10))
    with pytest.raises(ValueError, match="embargo must be >= 0"):
        last_windows(100, 2, embargo=-1)
