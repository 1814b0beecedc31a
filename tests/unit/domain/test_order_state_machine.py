"""The order state table, driven by hypothesis as a rule-based state machine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from domain.commands import SubmitOrder
from domain.errors import DuplicateFill, IllegalTransition, OverFill
from domain.events import (
    TERMINAL_STATUSES,
    Fill,
    OrderFilled,
    OrderStatus,
    OrderStatusChanged,
    OrderSubmitted,
)
from domain.ids import client_order_id
from domain.orders import FILLABLE, ORDER_STATE_TABLE, Order, can_transition

T0 = datetime(2024, 3, 1, 15, tzinfo=UTC)
NON_FILL = [s for s in OrderStatus if s not in (OrderStatus.FILLED, OrderStatus.PARTIALLY_FILLED)]


def _order(qty: int = 100) -> Order:
    cid = client_order_id("sig-1")
    return Order.create(SubmitOrder(client_order_id=cid, ticker="AAPL", side="buy",
                                    quantity=qty), T0)


def _fill(o: Order, fid: str, qty: Decimal, price: Decimal = Decimal(10)) -> OrderFilled:
    f = Fill(fill_id=fid, client_order_id=o.client_order_id, ticker="AAPL", side="buy",
             quantity=qty, price=price, ts_event=T0)
    return OrderFilled(client_order_id=o.client_order_id, ts_event=T0, fill=f)


class OrderMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.order = _order()
        self.applied_fills: list[tuple[str, Decimal, Decimal]] = []
        self.n = 0

    @rule(status=st.sampled_from(NON_FILL))
    def status_event(self, status: OrderStatus) -> None:
        o = self.order
        before = (o.status, o.version)
        ev = OrderStatusChanged(client_order_id=o.client_order_id, ts_event=T0, status=status)
        if status is o.status:
            assert o.apply(ev) is False
        elif can_transition(o.status, status):
            assert o.apply(ev) is True
            assert o.status is status
        else:
            with pytest.raises(IllegalTransition):
                o.apply(ev)
            assert (o.status, o.version) == before  # nothing changed after a refusal

    @rule(qty=st.integers(1, 60), price=st.integers(1, 500))
    def fill(self, qty: int, price: int) -> None:
        o = self.order
        self.n += 1
        ev = _fill(o, f"f{self.n}", Decimal(qty), Decimal(price))
        if o.status not in FILLABLE:
            with pytest.raises(IllegalTransition):
                o.apply(ev)
        elif o.filled_qty + qty > o.quantity:
            with pytest.raises(OverFill):
                o.apply(ev)
        else:
            o.apply(ev)
            self.applied_fills.append((f"f{self.n}", Decimal(qty), Decimal(price)))

    @rule()
    def replay_a_fill(self) -> None:
        if not self.applied_fills:
            return
        fid, qty, price = self.applied_fills[0]
        with pytest.raises(DuplicateFill):
            self.order.apply(_fill(self.order, fid, qty, price))

    @invariant()
    def quantities_agree_with_fills(self) -> None:
        o = self.order
        total = sum((q for _, q, _ in self.applied_fills), Decimal(0))
        assert o.filled_qty == total <= o.quantity
        if total:
            notional = sum((q * p for _, q, p in self.applied_fills), Decimal(0))
            assert o.avg_fill_price == notional / total
        if o.filled_qty == o.quantity:
            assert o.status is OrderStatus.FILLED

    @invariant()
    def terminal_has_no_exit(self) -> None:
        if self.order.status in TERMINAL_STATUSES:
            assert not ORDER_STATE_TABLE.get(self.order.status)


TestOrderMachine = OrderMachine.TestCase


def test_terminal_statuses_have_no_outgoing_edges() -> None:
    for s in TERMINAL_STATUSES:
        assert s not in ORDER_STATE_TABLE


def test_partially_filled_back_to_accepted_is_illegal() -> None:
    o = _order()
    o.apply(OrderSubmitted(client_order_id=o.client_order_id, ts_event=T0))
    o.apply(_fill(o, "f1", Decimal(10)))
    with pytest.raises(IllegalTransition):
        o.apply(OrderStatusChanged(client_order_id=o.client_order_id, ts_event=T0,
                                   status="accepted"))
    assert o.status is OrderStatus.PARTIALLY_FILLED


def test_submitted_order_found_filled_at_reconciliation_is_adopted() -> None:
    o = _order(10)
    o.apply(OrderSubmitted(client_order_id=o.client_order_id, ts_event=T0))
    o.apply(_fill(o, "f1", Decimal(10)))
    assert o.status is OrderStatus.FILLED and o.filled_at == T0


@given(st.lists(st.integers(1, 10), min_size=1, max_size=10))
def test_event_ids_are_deterministic(parts: list[int]) -> None:
    o = _order()
    a = OrderStatusChanged(client_order_id=o.client_order_id, ts_event=T0 + timedelta(
        seconds=sum(parts)), status="new")
    b = OrderStatusChanged(client_order_id=o.client_order_id, ts_event=T0 + timedelta(
        seconds=sum(parts)), status="new")
    assert a.event_id == b.event_id


# A fill sequence on which an average updated incrementally (``(avg * qty + notional) / new``)
# would differ from notional / quantity in the last digit; the derived average is exact.
@example(fills=[(42, 88), (11, 258), (15, 7)])
@given(st.lists(st.tuples(st.integers(1, 60), st.integers(1, 500)), min_size=1, max_size=8))
def test_average_fill_price_is_notional_over_quantity(fills: list[tuple[int, int]]) -> None:
    o = _order(10_000)
    for i, (q, p) in enumerate(fills):
        o.apply(_fill(o, f"f{i}", Decimal(q), Decimal(p)))
        notional = sum((Decimal(a) * Decimal(b) for a, b in fills[: i + 1]), Decimal(0))
        total = sum((Decimal(a) for a, _ in fills[: i + 1]), Decimal(0))
        assert o.filled_notional == notional
        assert o.avg_fill_price == notional / total


def test_order_restored_from_an_average_keeps_its_notional() -> None:
    o = _order(10)
    restored = Order(o.request, T0, filled_qty=Decimal(4), avg_fill_price=Decimal("100.25"))
    assert restored.filled_notional == Decimal("401.00")
    assert restored.avg_fill_price == Decimal("100.25")
