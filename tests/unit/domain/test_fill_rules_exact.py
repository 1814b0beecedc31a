"""Fill rules of one bar: exact prices at the boundaries, with and without slippage."""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from domain.fill_rules import (
    clamp,
    limit_price,
    market_price,
    participation_cap,
    stop_limit_price,
    stop_price,
    stop_trigger,
    trailing_level,
    trailing_step,
)

approx = pytest.approx


def test_clamp() -> None:
    assert [clamp(p, 10.0, 20.0) for p in (9.99, 10.0, 15.0, 20.0, 20.01)] == [10.0, 10.0, 15.0,
                                                                              20.0, 20.0]


@pytest.mark.parametrize(("side", "open_", "expected"), [
    (1, 100.0, 100.1), (-1, 100.0, 99.9),  # 10 bps against the taker
    (1, 100.95, 101.0), (-1, 99.05, 99.0),  # clamped to the bar
])
def test_market_price(side: int, open_: float, expected: float) -> None:
    assert market_price(side, open_, 101.0, 99.0, 10.0) == approx(expected, rel=1e-12)


@given(st.integers(1, 10_000), st.integers(0, 300), st.integers(0, 300), st.integers(0, 100),
       st.sampled_from([1, -1]))
def test_market_price_is_the_slipped_open_or_the_bar_edge_it_hit(
    open_c: int, up: int, down: int, slip: int, side: int,
) -> None:
    open_ = open_c / 100
    high, low = open_ + up / 100, max(open_ - down / 100, 0.001)
    p = market_price(side, open_, high, low, float(slip))
    slipped = open_ * (1 + side * slip * 1e-4)
    assert low <= p <= high
    if low <= slipped <= high:
        assert p == approx(slipped, rel=1e-12)
    else:
        assert p == (high if slipped > high else low)


@pytest.mark.parametrize(("side", "limit", "bar", "expected"), [
    (1, 100.0, (99.0, 101.0, 98.0), 99.0),  # opens below the limit: fills at the open
    (1, 100.0, (100.0, 101.0, 99.0), 100.0),  # opens at the limit, trades below
    (1, 100.0, (101.0, 102.0, 99.0), 100.0),  # trades down through the limit
    (1, 100.0, (101.0, 102.0, 100.0), None),  # only touches it: the queue takes the touch
    (1, 100.0, (100.0, 101.0, 100.0), None),
    (-1, 100.0, (101.0, 102.0, 99.0), 101.0),
    (-1, 100.0, (100.0, 101.0, 99.0), 100.0),
    (-1, 100.0, (99.0, 101.0, 98.0), 100.0),
    (-1, 100.0, (99.0, 100.0, 98.0), None),
    (-1, 100.0, (100.0, 100.0, 99.0), None),
])
def test_limit_price(side: int, limit: float, bar: tuple[float, float, float],
                     expected: float | None) -> None:
    open_, high, low = bar
    assert limit_price(side, limit, open_, high, low) == expected


@pytest.mark.parametrize(("side", "bar", "expected"), [
    (1, (99.0, 100.0, 98.0), 100.0),  # the high touches the stop exactly
    (1, (99.0, 99.99, 98.0), None),
    (1, (101.0, 102.0, 100.5), 101.0),  # gap above: the open
    (1, (100.0, 101.0, 99.0), 100.0),
    (-1, (101.0, 102.0, 100.0), 100.0),
    (-1, (101.0, 102.0, 100.01), None),
    (-1, (99.0, 99.5, 98.0), 99.0),
    (-1, (100.0, 101.0, 99.0), 100.0),
])
def test_stop_trigger(side: int, bar: tuple[float, float, float], expected: float | None) -> None:
    assert stop_trigger(side, 100.0, *bar) == expected


@pytest.mark.parametrize(("side", "bar", "expected"), [
    (1, (99.0, 102.0, 98.0), 100.1),  # triggered at 100, 10 bps worse
    (1, (101.0, 103.0, 100.5), 101.101),  # gap: the open, 10 bps worse
    (1, (99.0, 100.05, 98.0), 100.05),  # slippage clamped to the high
    (-1, (101.0, 102.0, 98.0), 99.9),
    (-1, (99.0, 99.5, 98.0), 98.901),
    (-1, (101.0, 102.0, 99.95), 99.95),
    (1, (99.0, 99.5, 98.0), None),
])
def test_stop_price_with_slippage(side: int, bar: tuple[float, float, float],
                                  expected: float | None) -> None:
    got = stop_price(side, 100.0, *bar, 10.0)
    assert (got is None) == (expected is None)
    if expected is not None:
        assert got == approx(expected, rel=1e-12)


@given(st.integers(1, 10_000), st.integers(0, 300), st.integers(0, 300), st.integers(0, 100),
       st.sampled_from([1, -1]), st.integers(-300, 300))
def test_a_triggered_stop_fills_at_its_slipped_trigger_or_the_bar_edge(
    open_c: int, up: int, down: int, slip: int, side: int, stop_off: int,
) -> None:
    open_ = open_c / 100
    high, low = open_ + up / 100, max(open_ - down / 100, 0.001)
    stop = max(open_ + stop_off / 100, 0.001)
    trigger = stop_trigger(side, stop, open_, high, low)
    assume(trigger is not None)
    assert trigger is not None
    p = stop_price(side, stop, open_, high, low, float(slip))
    assert p is not None and low <= p <= high
    slipped = trigger * (1 + side * slip * 1e-4)
    assert p == approx(min(max(slipped, low), high), rel=1e-12)


@pytest.mark.parametrize(("side", "limit", "bar", "expected"), [
    (1, 101.0, (99.0, 100.5, 98.0), (True, 100.0)),
    (1, 100.0, (99.0, 100.5, 98.0), (True, 100.0)),  # trigger exactly at the limit
    (1, 101.0, (102.0, 103.0, 101.5), (True, None)),  # gapped past the limit: rests
    (1, 101.0, (99.0, 99.5, 98.0), (False, None)),
    (-1, 99.0, (101.0, 102.0, 99.5), (True, 100.0)),
    (-1, 100.0, (101.0, 102.0, 99.5), (True, 100.0)),
    (-1, 99.0, (98.0, 98.5, 97.0), (True, None)),
    (-1, 99.0, (101.0, 102.0, 100.5), (False, None)),
])
def test_stop_limit_price(side: int, limit: float, bar: tuple[float, float, float],
                          expected: tuple[bool, float | None]) -> None:
    assert stop_limit_price(side, 100.0, limit, *bar) == expected


def test_trailing_level() -> None:
    assert trailing_level(-1, 100.0, 0.0, 5.0) == approx(95.0)
    assert trailing_level(1, 100.0, 0.0, 5.0) == approx(105.0)
    assert trailing_level(-1, 100.0, 2.0, 0.0) == 98.0
    assert trailing_level(1, 100.0, 2.0, 0.0) == 102.0


def test_a_sell_trailing_stop_raises_its_watermark_from_the_open_then_from_the_high() -> None:
    # Watermark 100, the bar opens at 103: the level is 101 this bar; the low 101 hits it.
    assert trailing_step(-1, 100.0, 2.0, 0.0, 103.0, 106.0, 101.0, 0.0) == (106.0, 101.0)
    assert trailing_step(-1, 100.0, 2.0, 0.0, 103.0, 106.0, 101.01, 0.0) == (106.0, None)
    # An open below the watermark keeps it; the high below it as well.
    assert trailing_step(-1, 100.0, 2.0, 0.0, 99.0, 99.5, 98.5, 0.0) == (100.0, None)
    wm, px = trailing_step(-1, 100.0, 2.0, 0.0, 99.0, 99.5, 97.0, 10.0)
    assert wm == 100.0 and px == approx(98.0 * 0.999, rel=1e-12)


def test_a_buy_trailing_stop_lowers_its_watermark_from_the_open_then_from_the_low() -> None:
    assert trailing_step(1, 100.0, 2.0, 0.0, 97.0, 99.0, 95.0, 0.0) == (95.0, 99.0)
    assert trailing_step(1, 100.0, 2.0, 0.0, 97.0, 98.99, 95.0, 0.0) == (95.0, None)
    assert trailing_step(1, 100.0, 2.0, 0.0, 101.0, 101.5, 100.5, 0.0) == (100.0, None)
    wm, px = trailing_step(1, 100.0, 0.0, 1.0, 101.0, 103.0, 100.5, 10.0)  # level 101: gap
    assert wm == 100.0 and px == approx(101.0 * 1.001, rel=1e-12)


@pytest.mark.parametrize(("volume", "rate", "cap"), [
    (1000.0, None, math.inf), (1000.0, 0.0, math.inf), (1000.0, -0.1, math.inf),
    (1000.0, 0.1, 100), (1005.0, 0.1, 100), (9.0, 0.1, 0), (1000.0, 1.0, 1000),
])
def test_participation_cap(volume: float, rate: float | None, cap: float) -> None:
    assert participation_cap(volume, rate) == cap
