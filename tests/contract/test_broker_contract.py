"""BrokerPort contract: every implementation must pass these numbered cases (TC-B..).

Prices are daily bars pushed through the harness; starting cash 100,000, zero costs.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from domain.commands import SubmitOrder
from domain.errors import DuplicateClientOrderId, InsufficientBuyingPower, OrderNotFound
from domain.events import OrderFilled, OrderStatus
from domain.ids import client_order_id
from tests.contract.harness import STARTING_CASH, BrokerHarness

D = Decimal


def _order(n: str, side: str = "buy", qty: int = 10, **kw: object) -> SubmitOrder:
    return SubmitOrder(client_order_id=client_order_id(f"sig-{n}"), ticker="AAPL", side=side,
                       quantity=qty, **kw)  # type: ignore[arg-type]


def _prime(h: BrokerHarness) -> None:
    h.bar("AAPL", 100, 101, 99, 100)


def _fills(h: BrokerHarness) -> list[OrderFilled]:
    return [e for e in h.broker.poll_events() if isinstance(e, OrderFilled)]


def test_tc_b01_market_buy_fills_at_next_bar_open(harness: BrokerHarness) -> None:
    _prime(harness)
    rep = harness.broker.submit_order(_order("b01"))
    assert rep.status.is_open and rep.filled_qty == 0
    harness.bar("AAPL", 102, 104, 101, 103)
    got = harness.broker.get_order_by_client_id(rep.client_order_id)
    assert got is not None and got.status is OrderStatus.FILLED
    assert got.filled_qty == D(10) and got.filled_avg_price == D(102)


def test_tc_b02_lookup_by_client_id_and_broker_id(harness: BrokerHarness) -> None:
    _prime(harness)
    rep = harness.broker.submit_order(_order("b02"))
    by_cid = harness.broker.get_order_by_client_id(rep.client_order_id)
    by_bid = harness.broker.get_order(rep.broker_order_id)
    assert by_cid is not None and by_cid.broker_order_id == rep.broker_order_id
    assert by_bid.client_order_id == rep.client_order_id
    assert harness.broker.get_order_by_client_id(client_order_id("never-sent")) is None
    with pytest.raises(OrderNotFound):
        harness.broker.get_order("no-such-broker-id")


def test_tc_b03_reused_client_order_id_is_refused_and_not_doubled(harness: BrokerHarness) -> None:
    _prime(harness)
    req = _order("b03")
    harness.broker.submit_order(req)
    with pytest.raises(DuplicateClientOrderId):
        harness.broker.submit_order(req)
    mine = [r for r in harness.broker.list_orders("all") if r.client_order_id == req.client_order_id]
    assert len(mine) == 1


def test_tc_b04_cancel_working_limit_order(harness: BrokerHarness) -> None:
    _prime(harness)
    rep = harness.broker.submit_order(_order("b04", order_type="limit", limit_price=D(90),
                                             time_in_force="gtc"))
    harness.broker.cancel_order(rep.client_order_id)
    harness.bar("AAPL", 100, 101, 99, 100)
    got = harness.broker.get_order_by_client_id(rep.client_order_id)
    assert got is not None and got.status is OrderStatus.CANCELED
    assert all(r.client_order_id != rep.client_order_id for r in harness.broker.list_orders("open"))
    with pytest.raises(OrderNotFound):
        harness.broker.cancel_order(client_order_id("never-sent"))


def test_tc_b05_limit_buy_untouched_stays_working(harness: BrokerHarness) -> None:
    _prime(harness)
    rep = harness.broker.submit_order(_order("b05", order_type="limit", limit_price=D(95),
                                             time_in_force="gtc"))
    harness.bar("AAPL", 100, 102, 96, 101)  # low 96 stays above the limit
    got = harness.broker.get_order_by_client_id(rep.client_order_id)
    assert got is not None and got.status.is_open and got.filled_qty == 0


def test_tc_b06_limit_buy_never_fills_above_limit_and_gap_fills_at_open(
    harness: BrokerHarness,
) -> None:
    _prime(harness)
    a = harness.broker.submit_order(_order("b06a", order_type="limit", limit_price=D(97),
                                           time_in_force="gtc"))
    harness.bar("AAPL", 99, 100, 95, 96)  # trades through 97
    got = harness.broker.get_order_by_client_id(a.client_order_id)
    assert got is not None and got.status is OrderStatus.FILLED
    assert got.filled_avg_price is not None and got.filled_avg_price <= D(97)
    b = harness.broker.submit_order(_order("b06b", order_type="limit", limit_price=D(94),
                                           time_in_force="gtc"))
    harness.bar("AAPL", 90, 92, 89, 91)  # gaps below the limit: fill at the open, 90
    got = harness.broker.get_order_by_client_id(b.client_order_id)
    assert got is not None and got.filled_avg_price == D(90)


def test_tc_b07_stop_sell_gap_fills_at_open_not_at_stop(harness: BrokerHarness) -> None:
    _prime(harness)
    harness.broker.submit_order(_order("b07a"))
    harness.bar("AAPL", 100, 101, 99, 100)
    stop = harness.broker.submit_order(_order("b07b", side="sell", order_type="stop",
                                              stop_price=D(95), time_in_force="gtc"))
    harness.bar("AAPL", 90, 91, 88, 89)
    got = harness.broker.get_order_by_client_id(stop.client_order_id)
    assert got is not None and got.status is OrderStatus.FILLED
    assert got.filled_avg_price == D(90)


def test_tc_b08_positions_and_account_follow_fills(harness: BrokerHarness) -> None:
    _prime(harness)
    harness.broker.submit_order(_order("b08"))
    harness.bar("AAPL", 100, 110, 99, 110)
    pos = {p.ticker: p for p in harness.broker.get_positions()}
    assert pos["AAPL"].quantity == D(10) and pos["AAPL"].avg_entry_price == D(100)
    acct = harness.broker.get_account()
    assert acct.cash == STARTING_CASH - D(1000)
    assert acct.equity == STARTING_CASH + D(100)  # marked at the close, 110


def test_tc_b09_fill_events_are_unique_and_sum_to_filled_quantity(harness: BrokerHarness) -> None:
    _prime(harness)
    harness.broker.poll_events()
    rep = harness.broker.submit_order(_order("b09", qty=25))
    harness.bar("AAPL", 100, 101, 99, 100)
    fills = [e.fill for e in _fills(harness) if e.client_order_id == rep.client_order_id]
    assert len({f.fill_id for f in fills}) == len(fills) > 0
    assert sum(f.quantity for f in fills) == D(25)
    assert harness.broker.poll_events() == []  # nothing is returned twice


def test_tc_b10_insufficient_buying_power_is_rejected(harness: BrokerHarness) -> None:
    _prime(harness)
    with pytest.raises(InsufficientBuyingPower):
        harness.broker.submit_order(_order("b10", qty=5000))  # 500k > 100k cash
    assert harness.broker.get_order_by_client_id(client_order_id("sig-b10")) is None


def test_tc_b11_close_position_flattens(harness: BrokerHarness) -> None:
    _prime(harness)
    harness.broker.submit_order(_order("b11"))
    harness.bar("AAPL", 100, 101, 99, 100)
    rep = harness.broker.close_position("AAPL")
    assert rep is not None and rep.side.value == "sell" and rep.quantity == D(10)
    harness.bar("AAPL", 105, 106, 104, 105)
    assert harness.broker.get_positions() == []
    assert harness.broker.get_account().cash == STARTING_CASH + D(50)
    assert harness.broker.close_position("AAPL") is None


def test_tc_b12_close_all_cancels_working_orders(harness: BrokerHarness) -> None:
    _prime(harness)
    harness.broker.submit_order(_order("b12a"))
    harness.bar("AAPL", 100, 101, 99, 100)
    working = harness.broker.submit_order(_order("b12b", order_type="limit", limit_price=D(50),
                                                 time_in_force="gtc"))
    harness.broker.close_all_positions(cancel_orders=True)
    got = harness.broker.get_order_by_client_id(working.client_order_id)
    assert got is not None and got.status is OrderStatus.CANCELED
    harness.bar("AAPL", 100, 101, 99, 100)
    assert harness.broker.get_positions() == []


def test_tc_b13_clock_reports_session(harness: BrokerHarness) -> None:
    clock = harness.broker.get_clock()
    assert clock.next_close > clock.timestamp or clock.next_open > clock.timestamp or clock.is_open
    assert clock.timestamp.tzinfo is not None
