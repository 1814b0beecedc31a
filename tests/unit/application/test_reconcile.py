"""Reconciliation policy over fakes: FakeBroker + InMemoryUnitOfWork (no mocks)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from adapters.memory import FakeBroker, InMemoryUnitOfWork
from adapters.memory.notifier import RecordingNotifier
from application.reconcile import (
    HALT_RULE,
    PeriodicReconciler,
    Reconciler,
    RepairKind,
    progress_fill,
    progress_fill_id,
)
from application.risk import RiskService
from domain.audit import Severity
from domain.clock import TestClock
from domain.commands import SubmitOrder
from domain.errors import BrokerUnavailable
from domain.events import OrderStatus, RiskState
from domain.ids import client_order_id
from domain.orders import Order, OrderReport
from domain.values import OrderType, Side

D = Decimal
T0 = datetime(2024, 1, 3, 15, tzinfo=UTC)


def _req(n: str, qty: int = 10, **kw: object) -> SubmitOrder:
    return SubmitOrder(client_order_id=client_order_id(f"sig-{n}"), ticker="AAPL", side="buy",
                       quantity=qty, **kw)  # type: ignore[arg-type]


def _setup() -> tuple[FakeBroker, InMemoryUnitOfWork, TestClock]:
    clock = TestClock(T0)
    broker = FakeBroker(starting_cash=D(100_000), clock=clock)
    broker.set_price("AAPL", D(100))
    return broker, InMemoryUnitOfWork(), clock


def _store(uow: InMemoryUnitOfWork, req: SubmitOrder, at: datetime) -> None:
    with uow as u:
        u.orders.add(Order.create(req, at))
        u.commit()


def _local(uow: InMemoryUnitOfWork, cid: str) -> Order:
    with uow as u:
        o = u.orders.get(cid)
    assert o is not None
    return o


def test_reconcile_when_broker_filled_an_order_we_never_heard_of_then_fill_and_position_adopted(
) -> None:
    broker, uow, clock = _setup()
    req = _req("a")
    _store(uow, req, T0)
    broker.submit_order(req)  # sent, then the process died before storing the answer
    broker.bar("AAPL", 101, 102, 100, 101, ts=T0 + timedelta(minutes=1))
    clock.advance(timedelta(minutes=2))
    report = Reconciler(uow, broker, clock).run()
    assert report.count(RepairKind.ADOPTED_FILL) == 1 and not report.halted
    order = _local(uow, req.client_order_id)
    assert order.status is OrderStatus.FILLED and order.filled_qty == D(10)
    assert order.avg_fill_price == D(101) and order.broker_order_id
    with uow as u:
        pos = u.positions.open_for("AAPL")
        assert pos is not None and pos.signed_quantity == D(10)
        assert len(u.fills.for_order(req.client_order_id)) == 1
        assert any(e.kind == "reconciliation" and e.rule == RepairKind.ADOPTED_FILL
                   for e in u.journal.risk_events())


def test_reconcile_when_run_twice_then_second_run_changes_nothing() -> None:
    broker, uow, clock = _setup()
    req = _req("b")
    _store(uow, req, T0)
    broker.submit_order(req)
    broker.bar("AAPL", 101, 102, 100, 101, ts=T0 + timedelta(minutes=1))
    Reconciler(uow, broker, clock).run()
    again = Reconciler(uow, broker, clock).run()
    assert again.clean and not again.halted


def test_reconcile_when_order_never_reached_broker_past_grace_then_marked_rejected() -> None:
    broker, uow, clock = _setup()
    req = _req("c")
    _store(uow, req, T0)
    clock.advance(timedelta(minutes=5))
    report = Reconciler(uow, broker, clock, grace=timedelta(seconds=60)).run()
    assert report.count(RepairKind.MARKED_NEVER_SEEN) == 1
    order = _local(uow, req.client_order_id)
    assert order.status is OrderStatus.REJECTED
    assert order.reject_reason is not None and "never reached" in order.reject_reason


def test_reconcile_when_unknown_order_is_younger_than_grace_then_left_in_flight() -> None:
    broker, uow, clock = _setup()
    req = _req("d")
    _store(uow, req, T0)
    clock.advance(timedelta(seconds=10))
    report = Reconciler(uow, broker, clock, grace=timedelta(seconds=60)).run()
    assert report.clean
    assert _local(uow, req.client_order_id).status is OrderStatus.INITIALIZED


def test_reconcile_when_broker_canceled_a_working_order_then_status_adopted() -> None:
    broker, uow, clock = _setup()
    req = _req("e", order_type="limit", limit_price=D(50), time_in_force="gtc")
    _store(uow, req, T0)
    broker.submit_order(req)
    broker.cancel_order(req.client_order_id)
    report = Reconciler(uow, broker, clock).run()
    assert report.count(RepairKind.ADOPTED_STATUS) == 1
    assert _local(uow, req.client_order_id).status is OrderStatus.CANCELED


def test_reconcile_when_broker_holds_unexplained_position_then_halted_and_recorded() -> None:
    broker, uow, clock = _setup()
    stray = SubmitOrder(client_order_id="manual-1", ticker="AAPL", side="buy", quantity=5)
    broker.submit_order(stray)  # placed by hand, outside the bot
    broker.bar("AAPL", 100, 101, 99, 100, ts=T0 + timedelta(minutes=1))
    notifier = RecordingNotifier()
    report = Reconciler(uow, broker, clock, notifier=notifier).run()
    assert report.halted
    assert [n.severity for n in notifier.sent] == [Severity.CRITICAL]
    assert "HALTED" in notifier.sent[0].title and "AAPL" in notifier.sent[0].body
    assert Reconciler(uow, broker, clock, notifier=RecordingNotifier(fail=True)).run().halted
    assert report.count(RepairKind.POSITION_MISMATCH) == 1
    assert report.count(RepairKind.UNKNOWN_BROKER_ORDER) == 1
    with uow as u:
        st = RiskService.load(u)
        events = u.journal.risk_events()
    assert st.state is RiskState.HALTED and HALT_RULE in st.tripped_rules
    assert any(e.rule == HALT_RULE and e.kind == "trip" for e in events)
    assert broker.get_positions()[0].quantity == D(5)  # nothing changed at the broker


def test_reconcile_when_broker_has_order_without_local_row_and_no_position_then_flag_only(
) -> None:
    broker, uow, clock = _setup()
    broker.submit_order(SubmitOrder(client_order_id="manual-2", ticker="AAPL", side="buy",
                                    quantity=5, order_type="limit", limit_price=D(10)))
    report = Reconciler(uow, broker, clock).run()
    assert report.count(RepairKind.UNKNOWN_BROKER_ORDER) == 1 and not report.halted


class _DownBroker(FakeBroker):
    """A broker whose order lookups fail (network down)."""

    def get_order_by_client_id(self, client_order_id: str) -> OrderReport | None:
        raise BrokerUnavailable("connection refused")


def test_reconcile_when_broker_unreachable_then_order_left_as_is_and_reported() -> None:
    clock = TestClock(T0)
    broker, uow = _DownBroker(clock=clock), InMemoryUnitOfWork()
    req = _req("f")
    _store(uow, req, T0)
    clock.advance(timedelta(hours=1))
    report = Reconciler(uow, broker, clock).run()
    assert report.count(RepairKind.UNREACHABLE) == 1 and not report.halted
    assert _local(uow, req.client_order_id).status is OrderStatus.INITIALIZED


def test_periodic_reconciler_when_ticked_then_runs_at_start_and_every_interval() -> None:
    broker, uow, clock = _setup()
    p = PeriodicReconciler(Reconciler(uow, broker, clock), clock, timedelta(minutes=5))
    assert p.tick() is not None
    clock.advance(timedelta(minutes=1))
    assert p.tick() is None
    clock.advance(timedelta(minutes=5))
    assert p.tick() is not None


def test_progress_fill_when_average_moves_then_price_of_the_gap_is_implied() -> None:
    rep = OrderReport(client_order_id="c1", broker_order_id="b1", ticker="AAPL", side=Side.BUY,
                      quantity=D(30), order_type=OrderType.MARKET,
                      status=OrderStatus.PARTIALLY_FILLED, filled_qty=D(20),
                      filled_avg_price=D(101))
    fill = progress_fill(rep, D(10), D(100), T0)
    assert fill is not None and fill.quantity == D(10) and fill.price == D(102)
    assert fill.fill_id == progress_fill_id("b1", D(20)) == "b1:20"
    assert progress_fill(rep, D(20), D(101), T0) is None


def test_progress_fill_uses_the_exact_notional_of_the_fills_before() -> None:
    # 3 filled at 100, 100, 101 (notional 301, average 100.333...): the broker then reports
    # 6 filled at an average of 101; the gap's price is (606 - 301) / 3 = 101.666667
    rep = OrderReport(client_order_id="c1", broker_order_id="b1", ticker="AAPL", side=Side.BUY,
                      quantity=D(10), order_type=OrderType.MARKET,
                      status=OrderStatus.PARTIALLY_FILLED, filled_qty=D(6),
                      filled_avg_price=D(101))
    fill = progress_fill(rep, D(3), None, T0, prev_notional=D(301))
    assert fill is not None and fill.price == D("101.666667")
    # the notional wins over an average that disagrees with it
    again = progress_fill(rep, D(3), D(90), T0, prev_notional=D(301))
    assert again is not None and again.price == fill.price




def test_apply_fill_when_learned_after_a_later_fill_then_closed_position_keeps_chronology() -> None:
    from adapters.memory.uow import InMemoryUnitOfWork
    from application.reconcile import apply_fill_to_positions
    from domain.events import Fill
    from domain.values import Side

    t0 = datetime(2024, 2, 9, 21, tzinfo=UTC)
    t1 = datetime(2024, 2, 12, 21, tzinfo=UTC)
    buy = Fill(fill_id="b", client_order_id="cb", ticker="MSFT", side=Side.BUY,
               quantity=Decimal(4), price=Decimal("98.02"), ts_event=t0)
    sell = Fill(fill_id="s", client_order_id="cs", ticker="MSFT", side=Side.SELL,
                quantity=Decimal(4), price=Decimal("98.32"), ts_event=t1)
    uow = InMemoryUnitOfWork()
    with uow as u:  # the later sell is learned first (stream), the buy later (reconciliation)
        apply_fill_to_positions(u, sell, first_fill_of_order=True)
        apply_fill_to_positions(u, buy, first_fill_of_order=True)
        u.commit()
    with uow as u:
        (closed,) = u.positions.list_closed()
        assert u.positions.list_open() == []
    assert closed.closed_at >= closed.opened_at
    assert closed.realized_pnl == (Decimal("98.32") - Decimal("98.02")) * 4
