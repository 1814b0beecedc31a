"""The executor and reconciliation book fills by the same domain rule: same fills, same book."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from adapters.memory.broker import FakeBroker
from adapters.memory.feed import InMemoryPriceFeed
from adapters.memory.uow import InMemoryUnitOfWork
from application.executor import OrderExecutor
from application.reconcile import record_broker_events
from domain.commands import SubmitOrder
from domain.events import Fill, OrderEvent, OrderFilled, OrderStatus, OrderStatusChanged
from domain.orders import Order
from domain.position import ClosedPosition, Position
from domain.values import ExitReason, Side

D = Decimal
T0 = datetime(2024, 1, 2, 15, tzinfo=UTC)

OPEN_FIELDS = ("position_id", "ticker", "side", "quantity", "avg_entry_price", "realized_gross",
               "commission", "fill_ids", "opened_at", "entry_order_id", "exit_order_id",
               "max_quantity", "exit_qty", "exit_notional")
CLOSED_FIELDS = ("position_id", "ticker", "side", "quantity", "entry_price", "exit_price",
                 "realized_pnl", "gross_pnl", "commission", "opened_at", "closed_at",
                 "entry_order_id", "exit_order_id")

orders_st = st.lists(st.tuples(st.sampled_from([Side.BUY, Side.SELL]), st.integers(1, 50),
                               st.booleans()), min_size=1, max_size=5)
fills_st = st.lists(st.tuples(st.integers(0, 20), st.integers(1, 4), st.integers(1, 500),
                              st.integers(0, 3)), min_size=1, max_size=12)


def _events(orders: list[tuple[Side, int, bool]], fills: list[tuple[int, int, int, int]]
            ) -> tuple[list[Order], list[OrderEvent]]:
    """Orders for one ticker and the fill events that a broker would send for them."""
    made = [Order.create(SubmitOrder(client_order_id=f"o{i}", ticker="AAPL", side=side,
                                     quantity=qty, reduce_only=reduce), T0)
            for i, (side, qty, reduce) in enumerate(orders)]
    left = {o.client_order_id: o.quantity for o in made}
    events: list[OrderEvent] = []
    for n, (i, part, price, fee) in enumerate(fills):
        o = made[i % len(made)]
        leaves = left[o.client_order_id]
        if leaves == 0:
            continue
        qty = max(D(1), (leaves * part / 4).to_integral_value())
        left[o.client_order_id] -= qty
        ts = T0 + timedelta(minutes=n + 1)
        events.append(OrderFilled(client_order_id=o.client_order_id, ts_event=ts, fill=Fill(
            fill_id=f"f{n}", client_order_id=o.client_order_id, ticker="AAPL", side=o.side,
            quantity=qty, price=D(price), commission=D(fee) / 4, ts_event=ts)))
    return made, events


def _store(orders: list[Order]) -> InMemoryUnitOfWork:
    uow = InMemoryUnitOfWork()
    with uow as u:
        for o in orders:
            fresh = Order.create(o.request, T0)
            fresh.apply(OrderStatusChanged(client_order_id=o.client_order_id, ts_event=T0,
                                           status=OrderStatus.ACCEPTED))
            u.orders.add(fresh)
        u.commit()
    return uow


def _book(uow: InMemoryUnitOfWork) -> tuple[list[Position], list[ClosedPosition]]:
    with uow as u:
        return u.positions.list_open(), u.positions.list_closed()


def _fields(obj: Any, names: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(getattr(obj, n) for n in names)


def _both_paths(orders: list[tuple[Side, int, bool]], fills: list[tuple[int, int, int, int]]
                ) -> tuple[tuple[list[Position], list[ClosedPosition]],
                           tuple[list[Position], list[ClosedPosition]]]:
    made, events = _events(orders, fills)
    by_executor, by_reconciliation = _store(made), _store(made)
    executor = OrderExecutor(FakeBroker(D(100_000)), InMemoryPriceFeed())
    with by_executor as u:
        executor.apply_events(events, u, T0 + timedelta(days=1))
        u.commit()
    with by_reconciliation as u:
        record_broker_events(u, events)
        u.commit()
    return _book(by_executor), _book(by_reconciliation)


# an exit larger than the long it closes: the remainder opens a short on both paths
@example(orders=[(Side.BUY, 10, False), (Side.SELL, 25, True)],
         fills=[(0, 4, 100, 1), (1, 4, 110, 2)])
# partial entries, a partial exit, a flip, then the flipped position closed
@example(orders=[(Side.BUY, 40, False), (Side.SELL, 60, False), (Side.BUY, 30, False)],
         fills=[(0, 2, 100, 0), (0, 4, 102, 1), (1, 1, 105, 0), (1, 4, 99, 3), (2, 4, 97, 1)])
@settings(max_examples=150, deadline=None)
@given(orders=orders_st, fills=fills_st)
def test_same_fills_through_executor_and_reconciliation_give_the_same_book(
        orders: list[tuple[Side, int, bool]], fills: list[tuple[int, int, int, int]]) -> None:
    (ex_open, ex_closed), (rec_open, rec_closed) = _both_paths(orders, fills)
    assert [_fields(p, OPEN_FIELDS) for p in ex_open] == \
        [_fields(p, OPEN_FIELDS) for p in rec_open]
    assert [_fields(c, CLOSED_FIELDS) for c in ex_closed] == \
        [_fields(c, CLOSED_FIELDS) for c in rec_closed]
    # a close nobody asked for is labelled by the path that found it
    assert all(c.exit_reason is ExitReason.SIGNAL for c in ex_closed)
    assert all(c.exit_reason is ExitReason.RECONCILIATION for c in rec_closed)
    # the book agrees with the fills: net quantity and realised P&L
    _, events = _events(orders, fills)
    net = sum((e.fill.signed_quantity for e in events if isinstance(e, OrderFilled)), D(0))
    assert sum((p.signed_quantity for p in ex_open), D(0)) == net


def test_an_overfilled_exit_flips_the_position_and_is_logged() -> None:
    orders = [(Side.BUY, 10, False), (Side.SELL, 25, True)]
    made, events = _events(orders, [(0, 4, 100, 0), (1, 4, 110, 0)])
    uow = _store(made)
    executor = OrderExecutor(FakeBroker(D(100_000)), InMemoryPriceFeed())
    with uow as u:
        (closed,) = executor.apply_events(events, u, T0 + timedelta(days=1))
        (short,) = u.positions.list_open()
        rows = [r for r in u.journal.executions() if r.stage == "fill" and not r.success]
        u.commit()
    assert closed.quantity == 10 and closed.realized_pnl == D(100)
    assert short.side.value == "short" and short.quantity == 15
    assert short.avg_entry_price == D(110) and short.fill_ids == {"f1#2"}
    assert len(rows) == 1 and "does not fit within the position held (10)" in (rows[0].error_message or "")
