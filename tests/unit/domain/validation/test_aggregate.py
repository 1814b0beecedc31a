"""Aggregation of walk-forward windows."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.validation.aggregate import (
    WindowOutcome,
    parameter_stability,
    stitch_equity,
    summarise,
    walk_forward_efficiency,
)

_ret = st.floats(-0.2, 0.2, allow_nan=False)


@given(st.lists(st.lists(_ret, max_size=30), min_size=1, max_size=6))
def test_stitched_equity_compounds_every_window_in_order(windows: list[list[float]]) -> None:
    eq = stitch_equity(windows, start=100.0)
    flat = [r for w in windows for r in w]
    assert len(eq) == len(flat) + 1
    assert eq[0] == 100.0
    assert eq[-1] == pytest.approx(100.0 * float(np.prod([1 + r for r in flat])), rel=1e-9)


def test_summary_counts_windows_beating_the_baselines() -> None:
    outs = [
        WindowOutcome(index=0, oos_returns=(0.01, 0.01), bh_returns=(0.0, 0.0),
                      random_returns=(0.03, 0.0), is_annual_return=0.5, params={"lr": 1e-3}),
        WindowOutcome(index=1, oos_returns=(-0.01, 0.0), bh_returns=(0.01, 0.0),
                      random_returns=(-0.02, 0.0), is_annual_return=0.5, params={"lr": 3e-3}),
        WindowOutcome(index=2, oos_returns=(0.02, 0.0), bh_returns=(0.01, 0.0),
                      random_returns=(0.0, 0.0), is_annual_return=0.5, params={"lr": 2e-3}),
    ]
    s = summarise(outs)
    assert s.windows == 3
    assert s.share_beating_buy_and_hold == pytest.approx(2 / 3)
    assert s.share_beating_random == pytest.approx(2 / 3)
    assert s.oos_total_return == pytest.approx(1.01 * 1.01 * 0.99 * 1.02 - 1)
    assert s.parameter_stability["lr"]["values"] == [1e-3, 3e-3, 2e-3]
    assert s.parameter_stability["lr"]["mean"] == pytest.approx(2e-3)
    assert s.to_json()["windows"] == 3


def test_walk_forward_efficiency_is_oos_over_is() -> None:
    assert walk_forward_efficiency([0.1, 0.2], [0.3, 0.3]) == pytest.approx(0.5)
    assert math.isnan(walk_forward_efficiency([0.1], [-0.2]))


def test_parameter_stability_of_categories() -> None:
    st_ = parameter_stability([{"sizing": "atr"}, {"sizing": "atr"}, {"sizing": "fixed"}])
    assert st_["sizing"]["distinct"] == 2
    assert st_["sizing"]["mode_share"] == pytest.approx(2 / 3)
