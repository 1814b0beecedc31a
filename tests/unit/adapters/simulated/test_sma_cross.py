"""``SmaCross`` crosses exactly like backtrader's ``CrossOver`` over ``SMA`` (fsum / period):
a crossing needs the last non-zero difference on the other side, so an exact tie neither
crosses nor resets the side, however the running sums have drifted."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from adapters.simulated.examples import SmaCross
from adapters.simulated.replay import BarView


class RecordingContext:
    """What SmaCross uses of a StrategyContext: records (action, bar index)."""

    cash = 1e9

    def __init__(self) -> None:
        self.i = -1
        self.log: list[tuple[str, int]] = []
        self.kw: list[dict[str, Any]] = []

    def buy(self, ticker: str, quantity: float, **kw: Any) -> str:
        self.log.append(("buy", self.i))
        self.kw.append(kw)
        return "b"

    def close(self, ticker: str, **kw: Any) -> str:
        self.log.append(("close", self.i))
        self.kw.append(kw)
        return "c"


def signals(closes: list[float], fast: int, slow: int, **kw: Any) -> list[tuple[str, int]]:
    """Feed ``closes`` to a SmaCross; return its (action, bar index) signals."""
    strategy = SmaCross(fast, slow, quantity=1, **kw)
    ctx = RecordingContext()
    view = BarView()
    view.ticker = "X"
    for i, c in enumerate(closes):
        ctx.i = i
        view.close = c
        strategy.on_bar(view, ctx)  # type: ignore[arg-type]
    return ctx.log


def backtrader_rule(closes: list[float], fast: int, slow: int) -> list[tuple[str, int]]:
    """backtrader's rule written out: SMA = fsum(window) / period; NonZeroDifference seeded
    with the first difference; up = last non-zero diff < 0 and fast > slow (down mirrored);
    the strategy buys when flat and closes when long."""
    out: list[tuple[str, int]] = []
    nzd: float | None = None
    long = False
    for i in range(slow - 1, len(closes)):
        a = math.fsum(closes[i - fast + 1:i + 1]) / fast
        b = math.fsum(closes[i - slow + 1:i + 1]) / slow
        d = a - b
        if nzd is None:
            nzd = d
            continue
        if a > b and nzd < 0 and not long:
            out.append(("buy", i))
            long = True
        elif a < b and nzd > 0 and long:
            out.append(("close", i))
            long = False
        if d:
            nzd = d
    return out


def running_sum_diffs(closes: list[float], fast: int, slow: int) -> list[float]:
    """The differences plain running sums give (what the crossing must not depend on)."""
    sf = ss = 0.0
    out = []
    for i, c in enumerate(closes):
        sf += c - closes[i - fast] if i >= fast else c
        ss += c - closes[i - slow] if i >= slow else c
        out.append(sf / fast - ss / slow)
    return out


def prefix(mult: int, n: int = 3000) -> list[float]:
    """Cent prices (not exact in binary): running sums over them drift."""
    return [round(100 + 7 * math.sin(i * 0.37) + 0.01 * ((i * 7919 * mult) % 97), 2)
            for i in range(n)]


def test_after_an_exact_tie_the_cross_comes_on_the_bar_the_averages_part() -> None:
    # falling, then 30 flat bars at 50.5 (exact in binary): SMA(10) == SMA(30) exactly on
    # the 30th flat bar (index 3032); the next bar is higher, so backtrader crosses there
    closes = prefix(1) + [60.0, 59.0, 58.0] + [50.5] * 30 + [51.5, 52.5]
    tie = 3032
    drift = running_sum_diffs(closes, 10, 30)
    assert drift[tie] > 0.0  # running sums see a (false) crossing on the tie itself
    got = signals(closes, 10, 30)
    assert ("buy", tie + 1) in got and ("buy", tie) not in got
    assert got == backtrader_rule(closes, 10, 30)


def test_a_tie_that_parts_back_the_same_way_is_no_crossing() -> None:
    closes = prefix(1) + [60.0, 59.0, 58.0] + [50.5] * 30 + [49.5, 48.5]
    got = signals(closes, 10, 30)
    assert not [s for s in got if s[1] >= 3003]
    assert got == backtrader_rule(closes, 10, 30)


@pytest.mark.parametrize("mult", [1, 4])  # running sums exactly 0, and drifted below 0
def test_after_an_exact_tie_the_cross_down_comes_on_the_bar_the_averages_part(
    mult: int,
) -> None:
    # rising into 30 flat bars at 150.5 (long by then), tie on the last, then lower
    closes = prefix(mult) + [150.5] * 30 + [149.5]
    tie = 3029
    drift = running_sum_diffs(closes, 10, 30)
    assert drift[tie] == 0.0 if mult == 1 else drift[tie] < 0.0
    got = signals(closes, 10, 30)
    assert got[-1] == ("close", tie + 1)
    assert got == backtrader_rule(closes, 10, 30)


def test_long_runs_stay_exact_across_the_periodic_resync() -> None:
    closes = prefix(3, 9000)
    for i in range(8990, 9000, 3):  # a few ties late in the run
        closes[i - 29:i + 1] = [75.25] * 30
    assert signals(closes, 10, 30) == backtrader_rule(closes, 10, 30)


@given(
    closes=st.lists(st.sampled_from([10.1, 10.2, 10.3, 10.25, 10.5, 9.9]), min_size=6,
                    max_size=300),
    windows=st.tuples(st.integers(1, 6), st.integers(2, 12)).filter(lambda w: w[0] < w[1]),
)
@example(closes=[10.1, 10.2, 10.1, 10.2, 10.2, 10.1, 10.2, 10.1], windows=(2, 4))
def test_crossings_equal_backtraders_rule_on_series_full_of_ties(
    closes: list[float], windows: tuple[int, int],
) -> None:
    fast, slow = windows
    assert signals(closes, fast, slow) == backtrader_rule(closes, fast, slow)


def test_time_in_force_reaches_both_orders() -> None:
    closes = [10.0, 9.0, 8.0, 9.0, 12.0, 13.0, 9.0, 7.0, 6.0]
    strategy = SmaCross(2, 3, quantity=1, time_in_force="gtc")
    ctx = RecordingContext()
    view = BarView()
    for i, c in enumerate(closes):
        ctx.i, view.close = i, c
        strategy.on_bar(view, ctx)  # type: ignore[arg-type]
    assert [a for a, _ in ctx.log] == ["buy", "close"]
    assert ctx.kw == [{"time_in_force": "gtc"}, {"time_in_force": "gtc"}]


def test_bad_windows_are_refused_naming_both() -> None:
    with pytest.raises(ValueError, match="fast 30, slow 10"):
        SmaCross(30, 10)
