"""Every field an order keeps, misrouted events, and exact fill arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from domain.commands import SubmitOrder
from domain.errors import DuplicateFill, IllegalTransition, InvalidInput, OverFill
from domain.events import (
    TERMINAL_STATUSES,
    Fill,
    OrderFilled,
    OrderStatus,
    OrderStatusChanged,
    OrderSubmitted,
)
from domain.orders import FILLABLE, ORDER_STATE_TABLE, Order, can_transition
from domain.values import OrderClass, OrderType, TimeInForce

D = Decimal
T0 = datetime(2024, 3, 1, 15, tzinfo=UTC)
S = OrderStatus
CID = "ct-entry-0001"


def order(qty: int = 100, side: str = "buy", **kw: object) -> Order:
    return Order.create(SubmitOrder(client_order_id=CID, ticker="AAPL", side=side, quantity=qty,
                                    **kw), T0, parent_id="parent-1")  # type: ignore[arg-type]


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def status(s: OrderStatus, minutes: int = 1, broker_id: str | None = None,
           reason: str | None = None, cid: str = CID) -> OrderStatusChanged:
    return OrderStatusChanged(client_order_id=cid, ts_event=at(minutes), status=s,
                              broker_order_id=broker_id, reason=reason)


def filled(fid: str, qty: int, price: Decimal | int, minutes: int = 2, fee: Decimal = D(0),
           broker_id: str | None = None, ticker: str = "AAPL", side: str = "buy") -> OrderFilled:
    f = Fill(fill_id=fid, client_order_id=CID, ticker=ticker, side=side, quantity=D(qty),
             price=D(price), ts_event=at(minutes), commission=fee)
    return OrderFilled(client_order_id=CID, ts_event=at(minutes), fill=f, broker_order_id=broker_id)


def snapshot(o: Order) -> tuple[object, ...]:
    return (o.status, o.version, o.filled_qty, o.avg_fill_price, o.commission, set(o.fill_ids),
            o.broker_order_id, o.updated_at, o.closed_at, o.filled_at)


def test_a_new_order_and_its_views() -> None:
    o = order(50, "sell", order_type="limit", limit_price=D(10), time_in_force="gtc")
    assert (o.status, o.version, o.filled_qty, o.avg_fill_price, o.commission) == (
        S.INITIALIZED, 0, 0, None, 0)
    assert (o.created_at, o.updated_at, o.submitted_at, o.closed_at, o.filled_at) == (
        T0, T0, None, None, None)
    assert (o.client_order_id, o.ticker, o.side, o.quantity, o.parent_id) == (
        CID, "AAPL", "sell", D(50), "parent-1")
    assert (o.order_type, o.time_in_force, o.order_class) == (OrderType.LIMIT, TimeInForce.GTC,
                                                              OrderClass.SIMPLE)
    assert o.leaves_qty == D(50) and o.is_open


def test_submission_acceptance_and_rejection_record_their_fields() -> None:
    o = order()
    assert o.apply(OrderSubmitted(client_order_id=CID, ts_event=at(1))) is True
    assert (o.status, o.submitted_at, o.updated_at, o.version) == (S.SUBMITTED, at(1), at(1), 1)
    assert o.apply(status(S.ACCEPTED, 2, broker_id="b-1")) is True
    assert (o.broker_order_id, o.updated_at, o.version, o.closed_at) == ("b-1", at(2), 2, None)
    assert o.apply(status(S.ACCEPTED, 3)) is False  # a repeat changes nothing
    assert (o.version, o.updated_at) == (2, at(2))
    assert o.apply(status(S.REJECTED, 4, reason="insufficient buying power")) is True
    assert (o.reject_reason, o.closed_at, o.status, o.version) == ("insufficient buying power",
                                                                   at(4), S.REJECTED, 3)
    assert o.broker_order_id == "b-1"  # an event without a broker id keeps the known one
    assert o.submitted_at == at(1) and not o.is_open


def test_a_reason_on_a_non_rejection_is_not_a_reject_reason() -> None:
    o = order()
    o.apply(status(S.CANCELED, 1, reason="user asked"))
    assert (o.reject_reason, o.closed_at, o.submitted_at) == (None, at(1), None)


def test_events_of_another_order_are_refused_and_change_nothing() -> None:
    o = order()
    before = snapshot(o)
    with pytest.raises(InvalidInput, match="client_order_id"):
        o.apply(status(S.ACCEPTED, cid="ct-entry-other"))
    f = Fill(fill_id="x", client_order_id="ct-entry-other", ticker="AAPL", side="buy",
             quantity=D(1), price=D(1), ts_event=T0)
    with pytest.raises(InvalidInput, match="client_order_id"):
        o.apply(OrderFilled(client_order_id="ct-entry-other", ts_event=T0, fill=f))
    assert snapshot(o) == before


@pytest.mark.parametrize(("ticker", "side"), [("MSFT", "buy"), ("AAPL", "sell")])
def test_a_fill_of_another_ticker_or_side_is_refused(ticker: str, side: str) -> None:
    o = order()
    before = snapshot(o)
    with pytest.raises(InvalidInput, match="fill"):
        o.apply(filled("f1", 10, 10, ticker=ticker, side=side))
    assert snapshot(o) == before


def test_partial_then_full_fills_keep_exact_quantities_prices_and_costs() -> None:
    o = order(40)
    o.apply(status(S.ACCEPTED, 1, broker_id="b-1"))
    assert o.apply(filled("f1", 10, 100, 2, fee=D("1.25"))) is True
    assert (o.status, o.filled_qty, o.avg_fill_price, o.commission) == (S.PARTIALLY_FILLED, D(10),
                                                                        D(100), D("1.25"))
    assert (o.filled_at, o.closed_at, o.updated_at, o.version) == (None, None, at(2), 2)
    assert o.leaves_qty == D(30) and o.is_open and o.broker_order_id == "b-1"
    o.apply(filled("f2", 30, 120, 3, fee=D("0.75"), broker_id="b-2"))
    assert (o.status, o.filled_qty, o.avg_fill_price, o.commission) == (S.FILLED, D(40), D(115), D(2))
    assert (o.filled_at, o.closed_at, o.updated_at, o.version) == (at(3), at(3), at(3), 3)
    assert o.broker_order_id == "b-2" and o.fill_ids == {"f1", "f2"} and not o.is_open


def test_refused_fills_leave_the_order_untouched() -> None:
    o = order(10)
    o.apply(filled("f1", 4, 10))
    before = snapshot(o)
    with pytest.raises(DuplicateFill):
        o.apply(filled("f1", 4, 10))
    with pytest.raises(OverFill):
        o.apply(filled("f2", 7, 10))
    assert snapshot(o) == before
    o.apply(filled("f3", 6, 10))
    with pytest.raises(IllegalTransition):
        o.apply(filled("f4", 1, 10))
    c = order(10)
    c.apply(status(S.CANCELED))
    with pytest.raises(IllegalTransition):
        c.apply(filled("f1", 1, 10))


def test_a_fill_exactly_to_the_ordered_quantity_closes_the_order() -> None:
    o = order(10)
    o.apply(filled("f1", 10, 10))
    assert o.status is S.FILLED and o.leaves_qty == 0


def test_illegal_status_edges_are_refused() -> None:
    o = order()
    o.apply(status(S.CANCELED))
    with pytest.raises(IllegalTransition):
        o.apply(status(S.NEW, 2))
    assert (o.status, o.version) == (S.CANCELED, 1)


def test_the_state_table() -> None:
    assert all(not can_transition(t, s) for t in TERMINAL_STATUSES for s in S)
    assert can_transition(S.INITIALIZED, S.SUBMITTED) and can_transition(S.SUBMITTED, S.FILLED)
    assert not can_transition(S.SUBMITTED, S.INITIALIZED)
    assert not can_transition(S.SUBMITTED, S.SUBMITTED)
    assert can_transition(S.NEW, S.PARTIALLY_FILLED) and not can_transition(S.NEW, S.PENDING_NEW)
    assert S.CANCELED not in FILLABLE and S.PARTIALLY_FILLED in FILLABLE
    assert S.INITIALIZED in FILLABLE and S.SUBMITTED in FILLABLE
    assert set(ORDER_STATE_TABLE) & TERMINAL_STATUSES == set()


def test_the_average_fill_price_is_exactly_total_notional_over_quantity() -> None:
    o = order(100)
    fills = [(10, 254), (32, 1), (14, 217), (1, 1)]
    for i, (q, p) in enumerate(fills):
        o.apply(filled(f"f{i}", q, p))
    assert o.avg_fill_price == D(sum(q * p for q, p in fills)) / D(sum(q for q, _ in fills))
