"""Commission and slippage: exact values, argument order, minimums and validation."""

from __future__ import annotations

import math

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from domain.costs import RL_TICKET_COSTS, ZERO_COSTS, CostModel, commission, slipped_price
from domain.errors import InvalidInput

refs = st.floats(0.01, 10_000, allow_nan=False)
bps = st.floats(0, 500, allow_nan=False)


@pytest.mark.parametrize(("side", "reference", "slip", "expected"), [
    (1, 100.0, 5.0, 100.05), (-1, 100.0, 5.0, 99.95), (1, 80.0, 25.0, 80.2), (-1, 80.0, 25.0, 79.8),
    (1, 100.0, 0.0, 100.0), (-1, 100.0, 0.0, 100.0),
])
def test_slipped_price_moves_against_the_taker_by_exactly_the_basis_points(
    side: int, reference: float, slip: float, expected: float,
) -> None:
    assert slipped_price(side, reference, slip) == pytest.approx(expected, rel=1e-12)
    assert CostModel(slippage_bps=slip).slipped_price(side, reference) == pytest.approx(
        expected, rel=1e-12)


@given(refs, bps)
@example(8642.0, 5.960464477539063e-08)  # a move of a few ulps of the price
def test_slippage_is_symmetric_and_proportional(reference: float, slip: float) -> None:
    up = slipped_price(1, reference, slip)
    down = slipped_price(-1, reference, slip)
    assert up >= reference >= down
    # each price is rounded to its own ulp, so the two moves agree to within those roundings
    assert up - reference == pytest.approx(reference - down, rel=1e-9,
                                           abs=2 * math.ulp(up) + 2 * math.ulp(reference))
    assert up == pytest.approx(reference * (1 + slip / 10_000), rel=1e-12)


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({"bps": 10.0}, 5.0),  # 100 x $50 x 0.1 %
    ({"per_share": 0.01}, 1.0),
    ({"per_share": 0.001}, 0.1),  # no minimum unless one is given
    ({"per_order": 1.5}, 1.5),
    ({"bps": 10.0, "per_share": 0.01, "per_order": 1.5}, 7.5),
    ({"per_share": 0.004, "minimum": 1.0}, 1.0),  # 0.40 lifted to the minimum
    ({"per_share": 0.01, "minimum": 1.0}, 1.0),  # exactly the minimum
    ({"per_share": 0.02, "minimum": 1.0}, 2.0),  # above it
    ({"minimum": 1.0}, 0.0),  # no commission charged: no minimum either
])
def test_commission_of_one_fill(kwargs: dict[str, float], expected: float) -> None:
    assert commission(100, 50.0, **kwargs) == pytest.approx(expected, rel=1e-12)
    assert commission(-100, 50.0, **kwargs) == pytest.approx(expected, rel=1e-12)


def test_the_cost_model_passes_each_setting_to_its_place() -> None:
    m = CostModel(commission_bps=10.0, commission_per_share=0.02, commission_per_order=3.0,
                  min_commission=0.0, slippage_bps=7.0)
    assert m.commission(200, 25.0) == pytest.approx(5.0 + 4.0 + 3.0, rel=1e-12)
    floor = CostModel(commission_per_share=0.001, min_commission=2.5)
    assert floor.commission(10, 25.0) == 2.5
    assert CostModel().commission(100, 50.0) == 0.0


def test_named_cost_models() -> None:
    assert CostModel(0.0, 0.0, 0.0, 0.0, 0.0) == ZERO_COSTS
    assert (RL_TICKET_COSTS.commission_bps, RL_TICKET_COSTS.slippage_bps) == (10.0, 5.0)
    assert (RL_TICKET_COSTS.commission_per_share, RL_TICKET_COSTS.commission_per_order,
            RL_TICKET_COSTS.min_commission) == (0.0, 0.0, 0.0)


@pytest.mark.parametrize("field", ["commission_bps", "commission_per_share", "commission_per_order",
                                   "min_commission", "slippage_bps"])
@pytest.mark.parametrize("bad", [-0.01, math.nan])
def test_negative_or_nan_cost_settings_are_refused(field: str, bad: float) -> None:
    with pytest.raises(InvalidInput, match=field):
        CostModel(**{field: bad})  # type: ignore[arg-type]
    assert getattr(CostModel(**{field: 0.0}), field) == 0.0  # type: ignore[arg-type]
