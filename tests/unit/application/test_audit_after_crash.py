"""An order stored (and committed) before it was sent keeps its audit row even when the
process died before the row was written: the restart's adoption or re-send writes it, once,
in the same transaction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from adapters.memory.broker import FakeBroker
from adapters.memory.feed import InMemoryPriceFeed
from adapters.memory.uow import InMemoryUnitOfWork
from application.executor import OrderExecutor
from domain.clock import TestClock
from domain.commands import SubmitOrder
from domain.orders import Order

T0 = datetime(2024, 1, 2, 15, tzinfo=UTC)


@pytest.mark.parametrize("broker_saw_it", [True, False])
@pytest.mark.parametrize("deferred", [False, True])
def test_restart_writes_the_missing_audit_row_once(broker_saw_it: bool, deferred: bool) -> None:
    clock = TestClock(T0)
    broker = FakeBroker(Decimal(100_000), clock=clock)
    broker.set_price("AAPL", Decimal(100))
    req = SubmitOrder(client_order_id="ct-1", ticker="AAPL", side="buy", quantity=5,
                      signal_id="s1")
    uow = InMemoryUnitOfWork()
    with uow as u:  # the stored order, committed before the send; then the process died
        u.orders.add(Order.create(req, T0))
        u.commit()
    if broker_saw_it:
        broker.submit_order(req)
    ex = OrderExecutor(broker, InMemoryPriceFeed())
    now = T0 - timedelta(minutes=1) if deferred else T0
    for _ in range(2):  # a second restart adds nothing
        with uow as u:
            ex.recover(u, now)
            ex.resend_deferred(u, T0)
            u.commit()
    with uow as u:
        rows = [r for r in u.journal.executions() if r.client_order_id == "ct-1"]
    assert len(rows) == 1, rows
    (row,) = rows
    assert row.stage == "submit" and row.success and row.metadata["recovered"] is True
    assert row.signal_id == "s1" and row.quantity == Decimal(5)
    assert len(broker.list_orders("all")) == 1  # adopted or sent once, never twice
