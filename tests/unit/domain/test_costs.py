"""The cost model: commission and slippage rules, exact in Decimal, and the float hot path
held to them."""

from __future__ import annotations

import math
from decimal import Decimal, localcontext

import attrs
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from domain.costs import DEFAULT_COSTS, RL_TICKET_COSTS, ZERO_COSTS, CostModel, slipped_price
from domain.errors import InvalidInput

MICRO = Decimal("0.000001")


def _dec(x: float) -> Decimal:
    return Decimal(repr(x))


rates = st.floats(min_value=0.0, max_value=100.0, allow_nan=False, allow_infinity=False)
money = st.floats(min_value=0.0, max_value=50.0, allow_nan=False, allow_infinity=False)
quantities = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal(1_000_000), places=4)
prices = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal(10_000), places=4)
models = st.builds(CostModel, commission_bps=rates, commission_per_share=money,
                   commission_per_order=money, min_commission=money, slippage_bps=rates,
                   slippage_model=st.sampled_from(["fixed", "spread", "volatility"]),
                   spread_bps=rates, volatility_factor=st.floats(0.0, 2.0))


def test_defaults_when_compared_then_one_default_for_every_user() -> None:
    assert DEFAULT_COSTS == RL_TICKET_COSTS == CostModel(commission_bps=10.0, slippage_bps=5.0)
    assert DEFAULT_COSTS.describe() == "commission 10 bps; slippage 5 bps"
    assert ZERO_COSTS.commission(100, 50.0) == 0.0 and not ZERO_COSTS.charges_commission


@given(models, quantities, prices)
@example(CostModel(min_commission=1.0), Decimal(100), Decimal(10))  # only a minimum: free
def test_commission_exact_when_any_fill_then_sum_of_parts_floored_at_minimum(
        m: CostModel, q: Decimal, p: Decimal) -> None:
    c = m.commission_exact(q, p)
    raw = (q * p * _dec(m.commission_bps) / 10_000 + q * _dec(m.commission_per_share)
           + _dec(m.commission_per_order))
    assert c >= 0
    if raw == 0:
        assert c == 0  # nothing charged: the minimum does not apply
    else:
        assert c == max(raw, _dec(m.min_commission))
    assert m.commission_exact(-q, p) == c  # a sell costs what a buy costs


@given(models, quantities, quantities, prices)
def test_commission_exact_when_more_shares_then_never_cheaper(
        m: CostModel, q1: Decimal, q2: Decimal, p: Decimal) -> None:
    lo, hi = sorted((q1, q2))
    assert m.commission_exact(lo, p) <= m.commission_exact(hi, p)


@given(models, quantities, prices)
def test_commission_float_when_booked_then_within_a_micro_dollar_of_exact(
        m: CostModel, q: Decimal, p: Decimal) -> None:
    # the simulated exchange books round(float commission, 6) as the fill's Decimal commission
    booked = _dec(round(m.commission(float(q), float(p)), 6))
    exact = m.commission_exact(q, p)
    assert abs(booked - exact) <= MICRO + exact * Decimal("1e-12")


@given(models, prices, st.floats(0.0, 0.5), st.floats(0.0, 0.5))
def test_slippage_when_any_bar_then_against_the_taker_and_at_least_the_fixed_part(
        m: CostModel, ref: Decimal, up: float, down: float) -> None:
    o = float(ref)
    h, lo = o * (1 + up), o * (1 - down)
    bps = m.slippage_bps_for_bar(o, h, lo)
    assert bps >= m.base_slippage_bps >= m.slippage_bps
    if m.slippage_model == "spread":
        assert m.base_slippage_bps == pytest.approx(m.slippage_bps + m.spread_bps / 2)
    if m.slippage_model != "volatility":
        assert bps == m.base_slippage_bps  # the bar's range only matters to that model
    assert slipped_price(1, o, bps) >= o >= slipped_price(-1, o, bps)


@given(models, quantities, prices)
@example(CostModel(slippage_model="spread", spread_bps=1.2656156308494388), Decimal("13.6341"),
         Decimal("1644.4966"))  # needs more than the default 28 digits to be exact
def test_round_trip_when_same_reference_price_then_loses_exactly_slippage_and_commissions(
        m: CostModel, q: Decimal, ref: Decimal) -> None:
    with localcontext(prec=100):  # enough digits that no product here is rounded
        b = _dec(m.base_slippage_bps) / 10_000
        buy, sell = ref * (1 + b), ref * (1 - b)  # slipped fill prices, exact
        pnl = q * (sell - buy) - m.commission_exact(q, buy) - m.commission_exact(q, sell)
        cost = (m.slippage_cost_exact(q, ref) * 2 + m.commission_exact(q, buy)
                + m.commission_exact(q, sell))
        assert pnl == -cost
    assert pnl <= 0


@pytest.mark.parametrize("field", ["commission_bps", "commission_per_share",
                                   "commission_per_order", "min_commission", "slippage_bps",
                                   "spread_bps", "volatility_factor"])
@pytest.mark.parametrize("bad", [-1.0, math.nan, math.inf, "5"])
def test_cost_model_when_bad_number_then_invalid_input_names_field(field: str,
                                                                   bad: object) -> None:
    with pytest.raises(InvalidInput) as e:
        attrs.evolve(DEFAULT_COSTS, **{field: bad})
    assert e.value.field == field


def test_cost_model_when_unknown_slippage_model_then_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="slippage_model"):
        CostModel(slippage_model="random")  # type: ignore[arg-type]


def test_describe_when_every_part_set_then_all_named() -> None:
    m = CostModel(commission_bps=2, commission_per_share=0.005, commission_per_order=1,
                  min_commission=1.5, slippage_bps=3, slippage_model="spread", spread_bps=4)
    assert m.describe() == ("commission 2 bps + $0.005/share + $1/order (min $1.5); "
                            "slippage 3 bps + half of a 4 bps spread")
