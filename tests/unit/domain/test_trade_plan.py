"""The typed trade plan: its codec round-trips, old unversioned plans still load, bad input is
refused naming the field, and its exits re-anchor at the fill price on the right side."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import InvalidInput
from domain.position import TrailingStopConfig
from domain.risk.plan import levels
from domain.risk.sizing import SizingMethod
from domain.trade_plan import PLAN_VERSION, EntryPlan, ExitPlan, plan_from_dict, plan_to_dict
from domain.values import ExitReason, Side

# an entry plan exactly as the executor stored it before plans were typed (no version field)
LEGACY_ENTRY = {
    "kind": "entry", "signal_id": "sig-1", "strategy": "alerts", "confidence": 0.82,
    "catalyst_score": 7.5, "stop_pct": "0.05", "target_pct": "0.10", "stop_loss": "95.00",
    "take_profit": "110.00", "atr": None, "basis": "fallback",
    "sizing": "confidence 0.82 x 10 %", "sizing_method": "confidence", "alert_id": "a-9",
}
LEGACY_EXIT = {"kind": "exit", "reason": "stop_loss", "position_id": "pos-1",
               "trigger_price": "94.50", "level": "95.00"}

decimals = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("100000"), places=4)
fractions = st.decimals(min_value=Decimal("0.001"), max_value=Decimal("0.9"), places=4)


def test_legacy_entry_plan_when_loaded_then_every_field_is_kept_and_new_fields_are_none() -> None:
    plan = plan_from_dict(json.loads(json.dumps(LEGACY_ENTRY)))
    assert plan == EntryPlan(
        signal_id="sig-1", strategy="alerts", confidence=0.82, catalyst_score=7.5,
        alert_id="a-9", stop_pct=Decimal("0.05"), target_pct=Decimal("0.10"), stop_loss=Decimal("95.00"),
        take_profit=Decimal("110.00"), atr=None, basis="fallback",
        sizing_method=SizingMethod.CONFIDENCE, sizing="confidence 0.82 x 10 %",
    )
    assert plan.entry is None and plan.quantity is None and plan.trailing is None


def test_legacy_exit_plan_when_loaded_then_typed() -> None:
    assert plan_from_dict(LEGACY_EXIT) == ExitPlan(
        position_id="pos-1", reason=ExitReason.STOP_LOSS, trigger_price=Decimal("94.50"),
        level=Decimal("95.00"))


def test_empty_stored_plan_when_loaded_then_no_plan() -> None:
    assert plan_from_dict({}) is None


def test_new_plan_when_encoded_then_it_is_a_superset_of_the_legacy_shape() -> None:
    plan = plan_from_dict(LEGACY_ENTRY)
    assert plan is not None
    out = plan_to_dict(plan)
    assert out["version"] == PLAN_VERSION
    assert {k: out[k] for k in LEGACY_ENTRY} == LEGACY_ENTRY


@given(entry=decimals, qty=st.integers(1, 10_000), sp=fractions, tp=fractions,
       atr=st.none() | decimals, conf=st.floats(0, 1), score=st.none() | st.floats(0, 100),
       method=st.sampled_from(SizingMethod),
       trailing=st.none() | st.builds(TrailingStopConfig, activation_pct=fractions,
                                      trail_pct=fractions))
def test_entry_plan_when_round_tripped_through_json_then_equal(
    entry: Decimal, qty: int, sp: Decimal, tp: Decimal, atr: Decimal | None, conf: float, score: float | None,
    method: SizingMethod, trailing: TrailingStopConfig | None,
) -> None:
    stop, target = levels(Side.BUY, entry, sp, tp)
    plan = EntryPlan(signal_id="s", strategy=None, confidence=conf, catalyst_score=score,
                     entry=entry, quantity=Decimal(qty), stop_pct=sp, target_pct=tp, stop_loss=stop,
                     take_profit=target, atr=atr, basis="atr", sizing_method=method,
                     sizing="why", trailing=trailing)
    assert plan_from_dict(json.loads(json.dumps(plan_to_dict(plan)))) == plan


@given(price=decimals, level=st.none() | decimals, reason=st.sampled_from(ExitReason))
def test_exit_plan_when_round_tripped_through_json_then_equal(
    price: Decimal, level: Decimal | None, reason: ExitReason) -> None:
    plan = ExitPlan(position_id="p", reason=reason, trigger_price=price, level=level)
    assert plan_from_dict(json.loads(json.dumps(plan_to_dict(plan)))) == plan


@pytest.mark.parametrize(("patch", "field"), [
    ({"version": 3}, "plan.version"),
    ({"kind": "bracket"}, "plan.kind"),
    ({"stop_pct": "five"}, "plan.stop_pct"),
    ({"stop_pct": None}, "plan.stop_pct"),
    ({"stop_loss": "NaN"}, "plan.stop_loss"),
    ({"sizing_method": "martingale"}, "plan.sizing_method"),
    ({"signal_id": ""}, "plan.signal_id"),
    ({"confidence": "high"}, "plan.confidence"),
    ({"trailing": 5}, "plan.trailing"),
])
def test_bad_stored_plan_when_loaded_then_invalid_input_names_the_field(
    patch: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        plan_from_dict({**LEGACY_ENTRY, **patch})
    assert err.value.field == field


@given(planned=decimals, fill=decimals, sp=fractions, tp=fractions,
       side=st.sampled_from(Side))
def test_entry_plan_exits_when_reanchored_at_a_fill_then_on_their_own_side(
    planned: Decimal, fill: Decimal, sp: Decimal, tp: Decimal, side: Side) -> None:
    stop0, target0 = levels(side, planned, sp, tp)
    plan = EntryPlan(signal_id="s", entry=planned, stop_pct=sp, target_pct=tp, stop_loss=stop0,
                     take_profit=target0, basis="atr", sizing_method=SizingMethod.FIXED)
    stop, target = plan.exits_at(side, fill)
    assert (stop, target) == levels(side, fill, sp, tp)
    assert side.sign * (fill - stop) > 0 and side.sign * (target - fill) > 0
