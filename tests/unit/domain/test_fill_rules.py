"""Properties of the pure fill rules (domain.fill_rules) over random bars."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from domain import fill_rules as fr

prices = st.floats(min_value=1.0, max_value=1000.0, allow_nan=False, allow_infinity=False)
sides = st.sampled_from([1, -1])


@st.composite
def bars(draw: st.DrawFn) -> tuple[float, float, float, float]:
    lo = draw(prices)
    hi = lo + draw(st.floats(min_value=0.0, max_value=50.0))
    o = draw(st.floats(min_value=lo, max_value=hi))
    c = draw(st.floats(min_value=lo, max_value=hi))
    return o, hi, lo, c


@given(bars(), sides, st.floats(min_value=0.0, max_value=500.0))
def test_market_fill_when_any_slippage_then_inside_the_bar(bar: tuple[float, ...], side: int,
                                                            slip: float) -> None:
    o, h, lo, _ = bar
    p = fr.market_price(side, o, h, lo, slip)
    assert lo <= p <= h
    assert (p >= o) if side > 0 else (p <= o)  # slippage only ever hurts the taker


@given(bars(), sides, prices)
def test_limit_fill_when_any_bar_then_never_worse_than_limit_nor_outside(
    bar: tuple[float, ...], side: int, limit: float
) -> None:
    o, h, lo, _ = bar
    p = fr.limit_price(side, limit, o, h, lo)
    if p is None:
        assert (lo >= limit) if side > 0 else (h <= limit)
        return
    assert lo <= p <= h
    assert (p <= limit) if side > 0 else (p >= limit)


@given(bars(), sides, prices, st.floats(min_value=0.0, max_value=100.0))
def test_stop_fill_when_triggered_then_at_open_on_gap_else_at_stop(
    bar: tuple[float, ...], side: int, stop: float, slip: float
) -> None:
    o, h, lo, _ = bar
    p = fr.stop_price(side, stop, o, h, lo, slip)
    hit = h >= stop if side > 0 else lo <= stop
    assert (p is not None) == hit
    if p is not None:
        assert lo <= p <= h
        gap = o >= stop if side > 0 else o <= stop
        ref = o if gap else stop
        if slip == 0.0:
            assert p == ref


@given(bars(), sides, prices, prices)
def test_stop_limit_when_filled_then_within_limit(bar: tuple[float, ...], side: int,
                                                  stop: float, limit: float) -> None:
    o, h, lo, _ = bar
    trig, p = fr.stop_limit_price(side, stop, limit, o, h, lo)
    if p is not None:
        assert trig and lo <= p <= h
        assert (p <= limit) if side > 0 else (p >= limit)


@given(bars(), prices, st.floats(min_value=0.1, max_value=50.0))
def test_trailing_sell_when_triggered_then_fill_not_above_level(
    bar: tuple[float, ...], wm: float, pct: float
) -> None:
    o, h, lo, _ = bar
    new_wm, p = fr.trailing_step(-1, wm, 0.0, pct, o, h, lo, 0.0)
    assert new_wm >= max(wm, h) - 1e-9
    level = max(wm, o) * (1 - pct / 100)
    if p is not None:
        assert lo <= p <= h and p <= max(level, lo) + 1e-9


def test_participation_cap_when_off_then_unbounded() -> None:
    assert fr.participation_cap(1000, None) == float("inf")
    assert fr.participation_cap(1000, 0.1) == 100
    assert fr.participation_cap(15, 0.1) == 1


@given(bars(), sides, st.floats(min_value=0.0, max_value=50.0))
def test_market_price_when_slip_stays_in_bar_then_equals_the_rl_env_formula(
    bar: tuple[float, ...], side: int, slip: float
) -> None:
    # the RL env (adapters/rl/env.py) fills at domain.costs.slipped_price(next open); the
    # exchange adds only the clamp to the bar, which binds when slippage leaves the range
    from domain.costs import slipped_price

    o, h, lo, _ = bar
    env_px = slipped_price(side, o, slip)
    if lo <= env_px <= h:
        assert fr.market_price(side, o, h, lo, slip) == env_px
