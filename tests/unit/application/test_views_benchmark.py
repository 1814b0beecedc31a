"""The benchmark read model: equal-weight buy-and-hold of a universe's closes."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from application.views import benchmark_curve

T0 = datetime(2020, 1, 1)
prices = st.lists(st.floats(min_value=0.5, max_value=5000, allow_nan=False), min_size=2,
                  max_size=30)


def _series(px: list[float], start: int = 0) -> list[tuple[datetime, float]]:
    return [(T0 + timedelta(days=start + i), p) for i, p in enumerate(px)]


@given(st.lists(prices, min_size=1, max_size=6),
       st.decimals(min_value=1, max_value=10_000_000, places=2))
@example([[10.0, 20.0], [10.0, 5.0]], Decimal("1000"))
def test_benchmark_when_listed_together_then_ends_at_mean_of_growth(
        universe: list[list[float]], start: Decimal) -> None:
    n = min(len(p) for p in universe)
    closes = {f"T{i}": _series(p[:n]) for i, p in enumerate(universe)}
    curve = benchmark_curve(closes, start)
    assert len(curve) == n
    assert float(curve[0].equity) == pytest.approx(float(start), rel=1e-9, abs=1e-6)
    growth = sum(p[n - 1] / p[0] for p in universe) / len(universe)
    assert float(curve[-1].equity) == pytest.approx(float(start) * growth, rel=1e-9, abs=1e-5)


@given(st.floats(min_value=0.5, max_value=5000), st.integers(min_value=2, max_value=40))
def test_benchmark_when_prices_flat_then_equity_flat(price: float, days: int) -> None:
    curve = benchmark_curve({"A": _series([price] * days), "B": _series([price * 2] * days)},
                            Decimal(100_000))
    assert {p.equity for p in curve} == {Decimal("100000")}


def test_benchmark_when_ticker_listed_later_then_its_share_waits_in_cash() -> None:
    closes = {"A": _series([10.0, 20.0, 20.0, 20.0]), "B": _series([5.0, 10.0], start=2)}
    curve = benchmark_curve(closes, Decimal(1000))
    # A doubles on day 1 (its half: 500 -> 1000); B's half is cash until day 2, then doubles
    assert [float(p.equity) for p in curve] == [1000.0, 1500.0, 1500.0, 2000.0]


def test_benchmark_when_window_given_then_bought_at_first_close_inside_it() -> None:
    closes = {"A": _series([10.0, 20.0, 40.0, 80.0])}
    curve = benchmark_curve(closes, Decimal(100), start=T0 + timedelta(days=1),
                            end=T0 + timedelta(days=2))
    assert [(p.ts.day, float(p.equity)) for p in curve] == [(2, 100.0), (3, 200.0)]
    assert benchmark_curve(closes, Decimal(100), start=T0 + timedelta(days=9)) == []


def test_correlation_groups_when_two_move_together_then_one_cluster() -> None:
    import math

    from application.views import correlation_groups

    base = [100 * (1 + 0.02 * math.sin(i)) for i in range(40)]
    closes = {"A": _series(base), "B": _series([2 * p for p in base]),
              "C": _series([300 - p for p in base])}
    groups = correlation_groups(closes, T0 + timedelta(days=39), 0.7, 60, 20)
    assert groups == [frozenset({"A", "B"}), frozenset({"C"})]
    # before enough history, each ticker stands alone
    early = correlation_groups(closes, T0 + timedelta(days=10), 0.7, 60, 20)
    assert sorted(map(sorted, early)) == [["A"], ["B"], ["C"]]
