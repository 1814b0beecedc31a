"""BrokerPort contract, fill rules (TC-B20..): gaps, touches, brackets, partials, TIF, calendar.

Cases that need an optional feature name it with ``_needs(harness, "...")`` and skip on a
harness that does not declare it in ``capabilities``. Daily bars; zero costs; the default
participation cap (10 % of the bar's volume) applies where a harness has "partial".
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from domain.commands import SubmitOrder
from domain.errors import InsufficientBuyingPower
from domain.events import OrderFilled, OrderStatus
from domain.ids import client_order_id
from tests.contract.harness import BrokerHarness

D = Decimal
S = OrderStatus


def _needs(h: BrokerHarness, *features: str) -> None:
    missing = [f for f in features if f not in h.capabilities]
    if missing:
        pytest.skip(f"harness lacks {', '.join(missing)}")


def _order(n: str, side: str = "buy", qty: int = 10, **kw: object) -> SubmitOrder:
    return SubmitOrder(client_order_id=client_order_id(f"rule-{n}"), ticker="AAPL", side=side,
                       quantity=qty, **kw)  # type: ignore[arg-type]


def _get(h: BrokerHarness, coid: str):  # type: ignore[no-untyped-def]
    got = h.broker.get_order_by_client_id(coid)
    assert got is not None
    return got


def _long(h: BrokerHarness, n: str, qty: int = 10) -> None:
    h.bar("AAPL", 100, 101, 99, 100)
    h.broker.submit_order(_order(n, qty=qty))
    h.bar("AAPL", 100, 101, 99, 100)


def test_tc_b20_buy_stop_gap_up_fills_at_open_not_at_stop(harness: BrokerHarness) -> None:
    harness.bar("AAPL", 100, 101, 99, 100)
    rep = harness.broker.submit_order(_order("b20", order_type="stop", stop_price=D(103),
                                             time_in_force="gtc"))
    harness.bar("AAPL", 106, 108, 105, 107)
    got = _get(harness, rep.client_order_id)
    assert got.status is S.FILLED and got.filled_avg_price == D(106)


def test_tc_b21_limit_touched_but_not_crossed_does_not_fill(harness: BrokerHarness) -> None:
    harness.bar("AAPL", 100, 101, 99, 100)
    buy = harness.broker.submit_order(_order("b21a", order_type="limit", limit_price=D(95),
                                             time_in_force="gtc"))
    harness.bar("AAPL", 97, 98, 95, 96)  # low touches 95 exactly
    assert _get(harness, buy.client_order_id).filled_qty == 0
    harness.bar("AAPL", 96, 97, 94.5, 95)  # trades through: fills at the limit
    got = _get(harness, buy.client_order_id)
    assert got.status is S.FILLED and got.filled_avg_price == D(95)


def test_tc_b22_bracket_both_legs_in_one_bar_takes_the_stop(harness: BrokerHarness) -> None:
    _needs(harness, "bracket")
    harness.bar("AAPL", 100, 101, 99, 100)
    rep = harness.broker.submit_order(_order(
        "b22", order_class="bracket", take_profit_price=D(110), stop_loss_price=D(95),
        time_in_force="gtc"))
    assert {leg.status for leg in rep.legs} == {S.HELD}
    harness.bar("AAPL", 100, 101, 99, 100)  # entry fills at the open
    harness.bar("AAPL", 100, 112, 93, 100)  # reaches both 110 and 95
    got = _get(harness, rep.client_order_id)
    legs = {leg.order_type.value: leg for leg in got.legs}
    assert legs["stop"].status is S.FILLED and legs["stop"].filled_avg_price == D(95)
    assert legs["limit"].status is S.CANCELED
    assert harness.broker.get_positions() == []


def test_tc_b23_bracket_target_fill_cancels_the_stop(harness: BrokerHarness) -> None:
    _needs(harness, "bracket")
    harness.bar("AAPL", 100, 101, 99, 100)
    rep = harness.broker.submit_order(_order(
        "b23", order_class="bracket", take_profit_price=D(110), stop_loss_price=D(95),
        time_in_force="gtc"))
    harness.bar("AAPL", 100, 101, 99, 100)
    harness.bar("AAPL", 105, 111, 104, 110)
    legs = {leg.order_type.value: leg for leg in _get(harness, rep.client_order_id).legs}
    assert legs["limit"].status is S.FILLED and legs["limit"].filled_avg_price == D(110)
    assert legs["stop"].status is S.CANCELED


def test_tc_b24_partial_fills_sum_to_the_order(harness: BrokerHarness) -> None:
    _needs(harness, "partial")
    harness.bar("AAPL", 100, 101, 99, 100)
    harness.broker.poll_events()
    rep = harness.broker.submit_order(_order("b24", qty=10, time_in_force="gtc"))
    harness.bar("AAPL", 100, 101, 99, 100, volume=50)  # 10 % of 50 = 5 shares
    mid = _get(harness, rep.client_order_id)
    assert mid.status is S.PARTIALLY_FILLED and mid.filled_qty == D(5)
    harness.bar("AAPL", 101, 102, 100, 101, volume=50)
    got = _get(harness, rep.client_order_id)
    fills = [e.fill for e in harness.broker.poll_events() if isinstance(e, OrderFilled)]
    assert got.status is S.FILLED and sum(f.quantity for f in fills) == D(10)
    assert [f.quantity for f in fills] == [D(5), D(5)]
    assert got.filled_avg_price == D("100.5")


def test_tc_b25_day_order_expires_at_the_session_close(harness: BrokerHarness) -> None:
    _needs(harness, "calendar")
    harness.bar("AAPL", 100, 101, 99, 100)
    rep = harness.broker.submit_order(_order("b25", order_type="limit", limit_price=D(90)))
    harness.bar("AAPL", 100, 101, 99, 100)  # the next session: untouched, then its close
    assert _get(harness, rep.client_order_id).status is S.EXPIRED


def test_tc_b26_holiday_is_closed_and_day_orders_belong_to_the_next_session(
    harness: BrokerHarness,
) -> None:
    _needs(harness, "calendar")
    harness.bar("AAPL", 100, 101, 99, 100)
    harness.set_time(datetime(2024, 7, 4, 16, 0, tzinfo=UTC))  # type: ignore[attr-defined]
    clock = harness.broker.get_clock()
    assert not clock.is_open
    assert clock.next_open == datetime(2024, 7, 5, 13, 30, tzinfo=UTC)
    rep = harness.broker.submit_order(_order("b26", order_type="limit", limit_price=D(90)))
    harness.set_time(datetime(2024, 7, 5, 19, 59, tzinfo=UTC))  # type: ignore[attr-defined]
    assert _get(harness, rep.client_order_id).status is S.NEW
    harness.set_time(datetime(2024, 7, 5, 20, 0, tzinfo=UTC))  # type: ignore[attr-defined]
    assert _get(harness, rep.client_order_id).status is S.EXPIRED


def test_tc_b27_early_close_ends_the_session_at_13_new_york(harness: BrokerHarness) -> None:
    _needs(harness, "calendar")
    harness.bar("AAPL", 100, 101, 99, 100)
    harness.set_time(datetime(2024, 11, 29, 15, 0, tzinfo=UTC))  # type: ignore[attr-defined]
    clock = harness.broker.get_clock()
    assert clock.is_open and clock.next_close == datetime(2024, 11, 29, 18, 0, tzinfo=UTC)
    rep = harness.broker.submit_order(_order("b27", order_type="limit", limit_price=D(90)))
    harness.set_time(datetime(2024, 11, 29, 18, 0, tzinfo=UTC))  # type: ignore[attr-defined]
    assert _get(harness, rep.client_order_id).status is S.EXPIRED


def test_tc_b28_fok_without_full_liquidity_cancels_and_ioc_keeps_the_part(
    harness: BrokerHarness,
) -> None:
    _needs(harness, "partial")
    harness.bar("AAPL", 100, 101, 99, 100)
    fok = harness.broker.submit_order(_order("b28a", time_in_force="fok"))
    ioc = harness.broker.submit_order(_order("b28b", time_in_force="ioc"))
    harness.bar("AAPL", 100, 101, 99, 100, volume=50)  # 5 shares available in the bar
    f, i = _get(harness, fok.client_order_id), _get(harness, ioc.client_order_id)
    assert f.status is S.CANCELED and f.filled_qty == 0
    assert i.status is S.CANCELED and i.filled_qty == D(5)


def test_tc_b29_short_sale_beyond_buying_power_is_rejected(harness: BrokerHarness) -> None:
    harness.bar("AAPL", 100, 101, 99, 100)
    with pytest.raises(InsufficientBuyingPower):
        harness.broker.submit_order(_order("b29", side="sell", qty=2000))  # 200k short
    assert harness.broker.get_order_by_client_id(client_order_id("rule-b29")) is None


def test_tc_b30_stop_limit_gapping_past_its_limit_rests_as_a_limit(harness: BrokerHarness) -> None:
    _needs(harness, "stop_limit")
    _long(harness, "b30a")
    rep = harness.broker.submit_order(_order("b30", side="sell", order_type="stop_limit",
                                             stop_price=D(95), limit_price=D(94),
                                             time_in_force="gtc"))
    harness.bar("AAPL", 90, 93, 89, 92)  # triggered, but never back to 94
    assert _get(harness, rep.client_order_id).filled_qty == 0
    harness.bar("AAPL", 93, 96, 92, 95)  # trades above 94: fills at the limit
    got = _get(harness, rep.client_order_id)
    assert got.status is S.FILLED and got.filled_avg_price == D(94)


def test_tc_b31_trailing_stop_percent_trails_the_high(harness: BrokerHarness) -> None:
    _needs(harness, "trailing")
    _long(harness, "b31a")
    rep = harness.broker.submit_order(_order("b31", side="sell", order_type="trailing_stop",
                                             trail_percent=D(5), time_in_force="gtc"))
    harness.bar("AAPL", 101, 110, 100, 109)  # watermark 110 -> stop 104.5
    assert _get(harness, rep.client_order_id).filled_qty == 0
    harness.bar("AAPL", 108, 108, 103, 104)
    got = _get(harness, rep.client_order_id)
    assert got.status is S.FILLED and got.filled_avg_price == D("104.5")


def test_tc_b32_fills_stay_inside_the_bar_and_limits_never_fill_worse(
    harness: BrokerHarness,
) -> None:
    harness.bar("AAPL", 100, 101, 99, 100)
    buy = harness.broker.submit_order(_order("b32a", order_type="limit", limit_price=D(98),
                                             time_in_force="gtc"))
    harness.bar("AAPL", 99, 100, 97, 98)
    got = _get(harness, buy.client_order_id)
    assert got.filled_avg_price is not None and D(97) <= got.filled_avg_price <= D(98)
    sell = harness.broker.submit_order(_order("b32b", side="sell", order_type="limit",
                                              limit_price=D(101), time_in_force="gtc"))
    harness.bar("AAPL", 103, 104, 102, 103)  # opens above the limit: fills at the open
    got = _get(harness, sell.client_order_id)
    assert got.filled_avg_price == D(103)
