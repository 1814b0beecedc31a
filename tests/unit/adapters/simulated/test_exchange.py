"""Behaviour of the simulated exchange beyond the contract: TIF, hours, costs, determinism."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from adapters.simulated.sessions import ns_from_dt
from domain.commands import SubmitOrder
from domain.costs import CostModel
from domain.errors import InvalidOrder, MarketClosed, OrderRejected
from domain.events import OrderFilled, OrderStatus
from tests.unit.adapters.simulated.conftest import MIN, T0, make, step

D = Decimal
S = OrderStatus


def _o(n: str, **kw: object) -> SubmitOrder:
    kw.setdefault("side", "buy")
    kw.setdefault("quantity", 10)
    return SubmitOrder(client_order_id=n, ticker="XYZ", **kw)  # type: ignore[arg-type]


def _ns(y: int, m: int, d: int, hh: int, mm: int = 0) -> int:
    return ns_from_dt(datetime(y, m, d, hh, mm, tzinfo=UTC))


def test_market_buy_when_slippage_and_commission_then_both_charged() -> None:
    costs = CostModel(slippage_bps=10, commission_per_share=0.01, commission_per_order=1.0)
    ex, clock = make(costs=costs)
    step(ex, clock, T0, "XYZ", 100, 100, 100, 100)
    ex.submit_order(_o("a", quantity=100))
    step(ex, clock, T0 + MIN, "XYZ", 100, 101, 99, 100)
    fill = next(e.fill for e in ex.poll_events() if isinstance(e, OrderFilled))
    assert fill.price == D("100.1") and fill.commission == D(2)
    assert ex.get_account().cash == D(100_000) - D("10010") - D(2)


def test_commission_when_bps_with_minimum_then_floor_applies() -> None:
    ex, clock = make(costs=CostModel(commission_bps=1, min_commission=1.0))
    step(ex, clock, T0, "XYZ", 10, 10, 10, 10)
    ex.submit_order(_o("a", quantity=10))
    step(ex, clock, T0 + MIN, "XYZ", 10, 10, 10, 10)
    fill = next(e.fill for e in ex.poll_events() if isinstance(e, OrderFilled))
    assert fill.commission == D(1)  # 1 bp of 100 is 0.01, the minimum is 1


@pytest.mark.parametrize(("model", "extra", "price"), [
    ("spread", {"spread_bps": 20.0}, D("100.1")),
    ("volatility", {"volatility_factor": 0.01}, D("100.2")),
])
def test_slippage_models_when_selected_then_price_moves_against_taker(
    model: str, extra: dict[str, float], price: Decimal
) -> None:
    ex, clock = make(slippage_model=model, **extra)
    step(ex, clock, T0, "XYZ", 100, 100, 100, 100)
    ex.submit_order(_o("a"))
    step(ex, clock, T0 + MIN, "XYZ", 100, 110, 90, 100)  # range 20 % of the open
    fill = next(e.fill for e in ex.poll_events() if isinstance(e, OrderFilled))
    assert fill.price == price


def test_slippage_when_huge_then_clamped_to_the_bar_high() -> None:
    ex, clock = make(costs=CostModel(slippage_bps=500))
    step(ex, clock, T0, "XYZ", 100, 100, 100, 100)
    ex.submit_order(_o("a"))
    step(ex, clock, T0 + MIN, "XYZ", 100, 101, 99, 100)
    assert ex.get_order_by_client_id("a").filled_avg_price == D(101)  # type: ignore[union-attr]


def test_submit_when_sub_penny_price_then_invalid_order() -> None:
    ex, clock = make()
    step(ex, clock, T0, "XYZ", 100, 100, 100, 100)
    with pytest.raises(InvalidOrder, match="sub-penny"):
        ex.submit_order(_o("a", order_type="limit", limit_price=D("99.123")))
    ex.submit_order(_o("b", order_type="limit", limit_price=D("0.5123")))  # < $1: 4 decimals


def test_submit_when_market_closed_and_configured_then_rejected() -> None:
    ex, clock = make(calendar="XNYS", reject_when_closed=True)
    clock.set_ns(_ns(2024, 1, 6, 15))  # a Saturday
    ex.on_bar("XYZ", _ns(2024, 1, 5, 21), 100, 100, 100, 100, 1e6)
    with pytest.raises(MarketClosed, match="market is closed"):
        ex.submit_order(_o("a"))


def test_short_when_shorting_disabled_then_rejected_with_available_qty() -> None:
    ex, clock = make(allow_short=False)
    step(ex, clock, T0, "XYZ", 100, 100, 100, 100)
    with pytest.raises(OrderRejected, match="insufficient qty available"):
        ex.submit_order(_o("a", side="sell"))


def test_short_when_margin_allows_then_filled_and_position_negative() -> None:
    ex, clock = make(margin_multiplier=D(2))
    step(ex, clock, T0, "XYZ", 100, 100, 100, 100)
    ex.submit_order(_o("a", side="sell", quantity=1500))  # 150k short on 100k equity x 2
    step(ex, clock, T0 + MIN, "XYZ", 100, 100, 100, 90)
    pos = ex.get_positions()[0]
    assert pos.quantity == D(-1500) and ex.get_account().equity == D(115_000)


def test_opg_when_open_does_not_satisfy_limit_then_canceled_at_the_open() -> None:
    ex, clock = make(calendar="XNYS")
    clock.set_ns(_ns(2024, 1, 3, 13))  # before the 14:30 UTC open
    ex.on_bar("XYZ", _ns(2024, 1, 2, 21), 100, 100, 100, 100, 1e6)
    ex.submit_order(_o("a", order_type="limit", limit_price=D(99), time_in_force="opg"))
    ex.submit_order(_o("b", time_in_force="opg"))
    step(ex, clock, _ns(2024, 1, 3, 14, 31), "XYZ", 100, 101, 98, 99)  # first minute bar
    assert ex.get_order_by_client_id("a").status is S.CANCELED  # type: ignore[union-attr]
    got = ex.get_order_by_client_id("b")
    assert got is not None and got.filled_avg_price == D(100)


def test_opg_when_submitted_during_the_session_then_invalid() -> None:
    ex, clock = make(calendar="XNYS")
    clock.set_ns(_ns(2024, 1, 3, 15))
    ex.on_bar("XYZ", _ns(2024, 1, 3, 15), 100, 100, 100, 100, 1e6)
    with pytest.raises(InvalidOrder, match="opg"):
        ex.submit_order(_o("a", time_in_force="opg"))


def test_cls_when_closing_bar_arrives_then_fills_at_its_close() -> None:
    ex, clock = make(calendar="XNYS")
    step(ex, clock, _ns(2024, 1, 3, 15), "XYZ", 100, 100, 100, 100)
    ex.submit_order(_o("a", time_in_force="cls"))
    step(ex, clock, _ns(2024, 1, 3, 20, 59), "XYZ", 101, 101, 100, 100.5)
    assert ex.get_order_by_client_id("a").filled_qty == 0  # type: ignore[union-attr]
    step(ex, clock, _ns(2024, 1, 3, 21), "XYZ", 100.5, 102, 100, 101.5)
    got = ex.get_order_by_client_id("a")
    assert got is not None and got.filled_avg_price == D("101.5")


def test_extended_hours_when_bar_outside_session_then_only_extended_orders_trade() -> None:
    ex, clock = make(calendar="XNYS")
    step(ex, clock, _ns(2024, 1, 3, 11), "XYZ", 100, 100, 100, 100)  # 06:00 New York
    ex.submit_order(_o("reg", order_type="limit", limit_price=D(101)))
    ex.submit_order(_o("ext", order_type="limit", limit_price=D(101), extended_hours=True))
    step(ex, clock, _ns(2024, 1, 3, 11, 1), "XYZ", 100, 100, 99, 100)
    assert ex.get_order_by_client_id("reg").filled_qty == 0  # type: ignore[union-attr]
    assert ex.get_order_by_client_id("ext").filled_qty == D(10)  # type: ignore[union-attr]
    step(ex, clock, _ns(2024, 1, 3, 14, 31), "XYZ", 100, 100, 99, 100)  # regular session
    assert ex.get_order_by_client_id("reg").filled_qty == D(10)  # type: ignore[union-attr]


def test_same_input_when_replayed_then_same_events_and_ids() -> None:
    def run() -> list[object]:
        ex, clock = make(participation=0.1)
        step(ex, clock, T0, "XYZ", 100, 100, 100, 100)
        ex.submit_order(_o("a", quantity=30, time_in_force="gtc"))
        ex.submit_order(_o("b", side="sell", quantity=5, order_type="stop",
                           stop_price=D(95), time_in_force="gtc"))
        for i in range(1, 6):
            step(ex, clock, T0 + i * MIN, "XYZ", 100 - i, 101 - i, 99 - 2 * i, 100 - i, 100)
        return [(type(e).__name__, e.event_id) for e in ex.poll_events()]

    first = run()
    assert first == run() and len(first) > 4


def test_price_feed_when_bars_pushed_then_latest_and_history_served() -> None:
    ex, clock = make(history=3)
    for i in range(5):
        step(ex, clock, T0 + i * MIN, "XYZ", 100 + i, 101 + i, 99 + i, 100.5 + i)
    assert ex.latest_price("XYZ") == D("104.5") and ex.latest_price("NOPE") is None
    bar = ex.latest_bar("XYZ")
    assert bar is not None and bar.close == 104.5
    got = ex.get_bars("XYZ", datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
    assert [b.close for b in got] == [102.5, 103.5, 104.5]  # bounded history


def test_live_price_when_ticked_then_market_order_fills_at_that_price() -> None:
    ex, clock = make()
    ex.on_price("XYZ", 50.0, datetime(2024, 1, 2, 21, tzinfo=UTC))
    ex.submit_order(_o("a"))
    clock.set_ns(T0 + MIN)
    ex.on_price("XYZ", 50.25, datetime(2024, 1, 2, 21, 1, tzinfo=UTC))
    got = ex.get_order_by_client_id("a")
    assert got is not None and got.filled_avg_price == D("50.25")


def test_cancel_bracket_parent_when_unfilled_then_legs_canceled_too() -> None:
    ex, clock = make()
    step(ex, clock, T0, "XYZ", 100, 100, 100, 100)
    ex.submit_order(_o("p", order_type="limit", limit_price=D(90), order_class="bracket",
                       take_profit_price=D(95), stop_loss_price=D(85), time_in_force="gtc"))
    ex.cancel_order("p")
    got = ex.get_order_by_client_id("p")
    assert got is not None and {leg.status for leg in got.legs} == {S.CANCELED}


def test_bracket_when_target_first_configured_then_target_wins_the_ambiguous_bar() -> None:
    ex, clock = make(ambiguous_bracket="target_first")
    step(ex, clock, T0, "XYZ", 100, 100, 100, 100)
    ex.submit_order(_o("p", order_class="bracket", take_profit_price=D(110),
                       stop_loss_price=D(95), time_in_force="gtc"))
    step(ex, clock, T0 + MIN, "XYZ", 100, 100, 100, 100)
    step(ex, clock, T0 + 2 * MIN, "XYZ", 100, 111, 94, 100)
    got = ex.get_order_by_client_id("p")
    assert got is not None
    legs = {leg.order_type.value: leg.status for leg in got.legs}
    assert legs == {"limit": S.FILLED, "stop": S.CANCELED}


def test_bracket_when_entry_bar_crashes_through_stop_then_stop_fills_same_bar() -> None:
    ex, clock = make()
    step(ex, clock, T0, "XYZ", 100, 100, 100, 100)
    ex.submit_order(_o("p", order_class="bracket", take_profit_price=D(110),
                       stop_loss_price=D(95), time_in_force="gtc"))
    step(ex, clock, T0 + MIN, "XYZ", 100, 112, 90, 92)  # entry at 100, then both levels
    got = ex.get_order_by_client_id("p")
    assert got is not None and got.status is S.FILLED
    legs = {leg.order_type.value: leg for leg in got.legs}
    assert legs["stop"].filled_avg_price == D(95) and legs["limit"].status is S.CANCELED
    assert ex.get_positions() == []
