"""The executor stores a typed, versioned plan with every order; plans stored before the plan
was typed still arm the positions their fills open; execution statuses are an enum whose
values are the old strings."""

from __future__ import annotations

import json
from decimal import Decimal

from application.executor import PLAN_KEY, ExecutionResult, ExecutionStatus, summarize
from domain.ids import client_order_id
from domain.position import TrailingStopConfig
from domain.risk.plan import levels
from domain.risk.sizing import SizingMethod
from domain.signal import Signal
from domain.trade_plan import PLAN_VERSION, EntryPlan, ExitPlan, plan_from_dict
from domain.values import ExitReason, Side
from tests.unit.application.conftest import World

COID = client_order_id("s1", "entry", "t")


def buy(w: World) -> ExecutionResult:
    sig = Signal(signal_id="s1", ticker="AAPL", action="buy", confidence=0.9,
                 ts=w.clock.now(), catalyst_score=0.8, strategy="t",
                 metadata={"alert_id": "a-1"})
    with w.uow as u:
        res = w.executor.execute(sig, u, w.clock.now())
        u.commit()
    return res


def stored(w: World, coid: str) -> dict[str, object]:
    with w.uow as u:
        raw = u.state.get(PLAN_KEY + coid)
    assert raw is not None
    return dict(json.loads(raw))


def test_entry_when_placed_then_its_stored_plan_is_a_versioned_entry_plan() -> None:
    trailing = TrailingStopConfig(activation_pct=Decimal("0.04"), trail_pct=Decimal("0.02"))
    w = World(trailing=trailing)
    w.history("AAPL", price=100.0)
    res = buy(w)
    assert res.status is ExecutionStatus.SUBMITTED
    data = stored(w, COID)
    assert data["version"] == PLAN_VERSION
    plan = plan_from_dict(data)
    assert isinstance(plan, EntryPlan)
    assert (plan.signal_id, plan.strategy, plan.alert_id) == ("s1", "t", "a-1")
    assert plan.entry == Decimal("100.0") and plan.quantity == 90
    assert plan.sizing_method is SizingMethod.CONFIDENCE and plan.basis == "atr"
    assert plan.trailing == trailing and plan.confidence == 0.9
    assert (plan.stop_loss, plan.take_profit) == levels(
        Side.BUY, Decimal("100.0"), plan.stop_pct, plan.target_pct,
        min_stop_pct=Decimal("0.02"), max_stop_pct=Decimal("0.20"))


def test_legacy_plan_when_its_entry_fills_then_position_armed_from_it() -> None:
    w = World()
    w.history("AAPL", price=100.0)
    buy(w)
    legacy = {  # the unversioned shape stored before plans were typed
        "kind": "entry", "signal_id": "s1", "strategy": "t", "confidence": 0.9,
        "catalyst_score": 0.8, "stop_pct": "0.05", "target_pct": "0.10", "stop_loss": "95.00",
        "take_profit": "110.00", "atr": "2.0", "basis": "fallback", "sizing": "legacy",
        "sizing_method": "confidence", "alert_id": "a-old",
    }
    with w.uow as u:
        u.state.set(PLAN_KEY + COID, json.dumps(legacy, sort_keys=True))
        u.commit()
    w.bar("AAPL", 101, 102, 100, 101.5)
    w.events()
    with w.uow as u:
        (pos,) = u.positions.list_open()
    # re-anchored at the fill (101) with the legacy distances; trailing from the executor
    assert (pos.stop_loss, pos.take_profit) == levels(Side.BUY, Decimal(101), Decimal("0.05"),
                                                      Decimal("0.10"))
    assert pos.trailing == w.executor.config.trailing
    assert pos.metadata["alert_id"] == "a-old" and pos.atr == 2.0
    assert pos.signal_confidence == 0.9 and pos.catalyst_score == 0.8


def test_exit_when_sent_then_its_stored_plan_is_an_exit_plan() -> None:
    w = World()
    w.history("AAPL", price=100.0)
    buy(w)
    w.bar("AAPL", 101, 102, 100, 101.5)
    w.events()
    with w.uow as u:
        (res,) = w.monitor.flatten(u, w.clock.now())
        u.commit()
    assert res.status is ExecutionStatus.EXIT and res.client_order_id is not None
    plan = plan_from_dict(stored(w, res.client_order_id))
    assert isinstance(plan, ExitPlan) and plan.reason is ExitReason.MANUAL


def test_execution_status_when_compared_or_dumped_then_the_old_strings() -> None:
    results = [ExecutionResult("a", ExecutionStatus.SUBMITTED),
               ExecutionResult("b", ExecutionStatus.SKIPPED),
               ExecutionResult("c", ExecutionStatus.SKIPPED)]
    assert results[0].status == "submitted"
    assert json.dumps(summarize(results), sort_keys=True) == '{"skipped": 2, "submitted": 1}'
    assert {s.value for s in ExecutionStatus} == {
        "submitted", "skipped", "rejected", "failed", "exists", "exit"}
