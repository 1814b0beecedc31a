"""Audit rows commit with what they record: the order's ``persist`` row with the order
(committed before the send), the broker's answer with the status change it causes. When the
process dies between the two, the restart's adoption or re-send writes the answer row, once,
in the same transaction as the status change it learns."""

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
from domain.errors import BrokerUnavailable
from domain.events import OrderStatus
from domain.orders import Order, OrderReport
from domain.signal import Signal
from tests.unit.application.conftest import World

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


class Died(BaseException):
    """The process dying at this point: nothing after it runs, nothing uncommitted survives."""


class DyingBroker(FakeBroker):
    """Dies once, before the order reaches the exchange or after it has placed it."""

    def __init__(self, *a: object, after_placing: bool, **k: object) -> None:
        super().__init__(*a, **k)  # type: ignore[arg-type]
        self.after_placing = after_placing
        self.dead = False

    def submit_order(self, request: SubmitOrder) -> OrderReport:
        if self.dead:
            return super().submit_order(request)
        self.dead = True
        if self.after_placing:
            super().submit_order(request)
        raise Died


def _rows(w: World, coid: str) -> list[tuple[str, bool]]:
    with w.uow as u:
        return [(r.stage, r.success) for r in u.journal.executions() if r.client_order_id == coid]


def _signal(w: World, sid: str = "s1") -> Signal:
    return Signal(signal_id=sid, ticker="AAPL", action="buy", confidence=0.9, ts=w.clock.now(),
                  catalyst_score=0.8, strategy="t")


def test_placed_order_commits_with_its_persist_row_and_its_answer_with_the_status() -> None:
    w = World()
    seen: list[list[tuple[str, bool]]] = []

    class Looking(FakeBroker):
        def submit_order(self, request: SubmitOrder) -> OrderReport:
            committed = w.uow._committed
            seen.append([(r.stage, r.success) for r in committed.executions
                         if r.client_order_id == request.client_order_id])
            assert committed.orders[request.client_order_id].status is OrderStatus.INITIALIZED
            return super().submit_order(request)

    w.broker = w.executor.broker = Looking(Decimal(100_000), clock=w.clock)
    w.risk._broker = w.broker
    w.history("AAPL")
    with w.uow as u:
        res = w.executor.execute(_signal(w), u, w.clock.now())
        u.commit()
    assert res.status == "submitted"
    assert seen == [[("persist", True)]]  # stored with the order, before the send
    coid = res.client_order_id or ""
    assert _rows(w, coid) == [("persist", True), ("submit", True)]


@pytest.mark.parametrize("after_placing", [False, True])
def test_death_between_store_and_answer_then_restart_writes_the_answer_once(
        after_placing: bool) -> None:
    w = World()
    broker = DyingBroker(Decimal(100_000), clock=w.clock, after_placing=after_placing)
    w.broker = w.executor.broker = broker
    w.risk._broker = broker
    w.history("AAPL")
    with pytest.raises(Died), w.uow as u:
        w.executor.execute(_signal(w), u, w.clock.now())
        u.commit()
    with w.uow as u:
        (order,) = u.orders.list()
    coid = order.client_order_id
    assert order.status is OrderStatus.INITIALIZED
    assert _rows(w, coid) == [("persist", True)]  # the answer died with its status change
    restarted = OrderExecutor(broker, w.feed, w.risk)
    for _ in range(2):  # a second restart writes nothing again
        with w.uow as u:
            restarted.recover(u, w.clock.now())
            u.commit()
    with w.uow as u:
        order2 = u.orders.get(coid)
    assert order2 is not None and order2.status is OrderStatus.NEW
    assert _rows(w, coid) == [("persist", True), ("submit", True)]
    assert len(broker.list_orders("all")) == 1


def test_retry_after_an_ambiguous_failure_records_the_status_it_learns() -> None:
    w = World()

    class DownOnce(FakeBroker):
        down = True

        def submit_order(self, request: SubmitOrder) -> OrderReport:
            if self.down:
                self.down = False
                raise BrokerUnavailable("connection refused")
            return super().submit_order(request)

    w.broker = w.executor.broker = DownOnce(Decimal(100_000), clock=w.clock)
    w.risk._broker = w.broker
    w.history("AAPL")
    with w.uow as u:
        res = w.executor.execute(_signal(w), u, w.clock.now())
        u.commit()
    coid = res.client_order_id or ""
    assert _rows(w, coid) == [("persist", True), ("submit", False)]
    for _ in range(2):  # the second pass changes nothing and writes nothing
        with w.uow as u:
            w.executor.retry_unsent(u, w.clock.now())
            u.commit()
    with w.uow as u:
        order = u.orders.get(coid)
        (last,) = [r for r in u.journal.executions() if r.client_order_id == coid][-1:]
    assert order is not None and order.status is OrderStatus.NEW
    assert _rows(w, coid) == [("persist", True), ("submit", False), ("submit", True)]
    assert last.metadata["status"] == "new" and "retry" in last.metadata["note"]


def test_restart_adopting_a_rejected_order_writes_one_row_for_its_end() -> None:
    clock = TestClock(T0)
    broker = FakeBroker(Decimal(100_000), clock=clock)
    req = SubmitOrder(client_order_id="ct-r", ticker="ZZZ", side="buy", quantity=5,
                      signal_id="s9")
    uow = InMemoryUnitOfWork()
    with uow as u:
        u.orders.add(Order.create(req, T0))
        u.commit()
    ex = OrderExecutor(broker, InMemoryPriceFeed())
    for _ in range(2):
        with uow as u:
            ex.recover(u, T0)
            u.commit()
    with uow as u:
        order = u.orders.get("ct-r")
        rows = [(r.stage, r.success) for r in u.journal.executions()]
    assert order is not None and order.status is OrderStatus.REJECTED
    assert rows == [("submit", False)]  # the end of the order, written once
