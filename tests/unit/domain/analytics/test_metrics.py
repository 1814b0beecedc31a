"""Metrics cross-checked against empyrical-reloaded on real returns; trade statistics."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import empyrical
import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from adapters.data.sample import sample_paths
from domain.analytics import metrics as m
from domain.position import ClosedPosition
from domain.values import ExitReason, PositionSide


@pytest.fixture(scope="module")
def real_returns() -> dict[str, np.ndarray]:
    df = pd.read_csv(sample_paths().prices)
    out = {}
    for t, g in df.groupby("ticker"):
        out[str(t)] = g["close"].pct_change().dropna().to_numpy()
    return out


@pytest.mark.parametrize("ticker", ["AAPL", "JPM", "XOM", "KO"])
def test_metrics_when_real_returns_then_match_empyrical(real_returns: dict[str, np.ndarray],
                                                        ticker: str) -> None:
    r = real_returns[ticker]
    assert m.sharpe_ratio(r) == pytest.approx(empyrical.sharpe_ratio(r), rel=1e-9)
    assert m.sortino_ratio(r) == pytest.approx(empyrical.sortino_ratio(r), rel=1e-9)
    assert m.max_drawdown(r) == pytest.approx(empyrical.max_drawdown(r), rel=1e-9)
    assert m.annual_volatility(r) == pytest.approx(empyrical.annual_volatility(r), rel=1e-9)
    assert m.annual_return(r) == pytest.approx(empyrical.annual_return(r), rel=1e-9)
    assert m.cumulative_return(r) == pytest.approx(empyrical.cum_returns_final(r), rel=1e-9)


def test_metrics_when_flat_returns_then_sharpe_undefined() -> None:
    assert np.isnan(m.sharpe_ratio([0.0, 0.0, 0.0]))
    assert m.max_drawdown([]) == 0.0


def closed(ticker: str, pnl: str, days: int, i: int) -> ClosedPosition:
    t0 = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=i)
    return ClosedPosition(
        position_id=f"p{i}", ticker=ticker, side=PositionSide.LONG, quantity=Decimal(10),
        entry_price=Decimal(100), exit_price=Decimal(100) + Decimal(pnl) / 10,
        realized_pnl=Decimal(pnl), gross_pnl=Decimal(pnl), commission=Decimal(0),
        realized_pnl_pct=Decimal(pnl) / 1000, opened_at=t0, closed_at=t0 + timedelta(days=days),
        exit_reason=ExitReason.TAKE_PROFIT, max_unrealized_pnl=Decimal(0),
        max_unrealized_pnl_pct=Decimal(0), min_unrealized_pnl=Decimal(0),
        min_unrealized_pnl_pct=Decimal(0), max_drawdown_pct=Decimal(0))


def test_trade_stats_when_wins_and_losses_then_exact_ratios() -> None:
    s = m.trade_stats([closed("A", "300", 2, 0), closed("B", "-100", 4, 1),
                       closed("A", "100", 6, 2)])
    assert s["win_rate"] == pytest.approx(2 / 3)
    assert s["profit_factor"] == pytest.approx(4.0)
    assert s["expectancy"] == pytest.approx(100.0)
    assert s["avg_hold_days"] == pytest.approx(4.0)
    assert s["best_ticker"] == "A" and s["worst_ticker"] == "B"


_EQUITY = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False, allow_infinity=False)


@given(e0=_EQUITY, e1=_EQUITY)
@example(e0=1.0, e1=30.0)  # a 2,900 % day: compounding over a year overflows a float
@example(e0=0.0, e1=5.0)
@example(e0=100.0, e1=-5.0)
@example(e0=100.0, e1=100.0)
def test_summary_when_one_return_then_the_scalar_path_equals_the_array_path(
        e0: float, e1: float) -> None:
    fast = m.summary([e0, e1], [])
    slow = m._summary_array(np.array([e0, e1]), [], m.ANNUALIZATION)
    assert json.dumps(fast) == json.dumps(slow)  # NaN became None: plain equality holds


def test_annual_return_when_it_overflows_then_inf() -> None:
    assert m.annual_return(np.array([29.0])) == math.inf
    assert m.summary([1.0, 30.0], [])["annual_return"] == "inf"
