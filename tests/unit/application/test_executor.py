"""Order executor with fakes: persist before send, never a second order, fills, timeouts."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from adapters.memory.broker import FakeBroker
from application.executor import PLAN_KEY
from domain.commands import SubmitOrder
from domain.errors import BrokerUnavailable
from domain.events import OrderStatus
from domain.ids import client_order_id
from domain.orders import OrderReport
from domain.signal import Signal
from tests.unit.application.conftest import World


def signal(w: World, sid: str = "s1", ticker: str = "AAPL", action: str = "buy",
           confidence: float = 0.9) -> Signal:
    return Signal(signal_id=sid, ticker=ticker, action=action, confidence=confidence,
                  ts=w.clock.now(), catalyst_score=0.8, strategy="t")


def execute(w: World, sig: Signal) -> object:
    with w.uow as u:
        res = w.executor.execute(sig, u, w.clock.now())
        u.commit()
    return res


class CheckingBroker(FakeBroker):
    """Asserts, at submit time, that the order is already committed in the unit of work."""

    def __init__(self, world: World) -> None:
        super().__init__(Decimal(100_000), clock=world.clock)
        self.world = world
        self.seen_committed: list[bool] = []

    def submit_order(self, request: SubmitOrder) -> OrderReport:
        self.seen_committed.append(request.client_order_id in self.world.uow._committed.orders)
        return super().submit_order(request)


class AcceptThenTimeout(FakeBroker):
    """Accepts the order, then loses the answer (an ambiguous failure)."""

    def submit_order(self, request: SubmitOrder) -> OrderReport:
        super().submit_order(request)
        raise BrokerUnavailable("read timeout")


class DownOnce(FakeBroker):
    """Fails the first submit before the order reaches the exchange."""

    def __init__(self, *a: object, **k: object) -> None:
        super().__init__(*a, **k)  # type: ignore[arg-type]
        self.down = True

    def submit_order(self, request: SubmitOrder) -> OrderReport:
        if self.down:
            self.down = False
            self.submit_calls += 1
            raise BrokerUnavailable("connection refused")
        return super().submit_order(request)


def use_broker(w: World, broker: FakeBroker) -> None:
    w.broker = broker
    w.executor.broker = broker
    w.risk._broker = broker


def test_execute_when_buy_signal_then_order_committed_before_it_is_sent() -> None:
    w = World()
    use_broker(w, CheckingBroker(w))
    w.history("AAPL")
    res = execute(w, signal(w))
    assert res.status == "submitted"  # type: ignore[attr-defined]
    assert w.broker.seen_committed == [True]  # type: ignore[attr-defined]
    with w.uow as u:
        order = u.orders.get(client_order_id("s1", "entry", "t"))
        assert order is not None and order.status is OrderStatus.NEW
        assert u.state.get(PLAN_KEY + order.client_order_id) is not None
        stages = [(r.stage, r.success) for r in u.journal.executions()]
    assert stages == [("persist", True), ("submit", True)]


def test_execute_when_next_bar_fills_then_position_opened_with_atr_stop_and_target() -> None:
    w = World()
    w.history("AAPL", price=100.0)
    execute(w, signal(w))
    w.bar("AAPL", 101, 102, 100, 101.5)
    w.events()
    with w.uow as u:
        (pos,) = u.positions.list_open()
        fills = u.fills.for_order(pos.entry_order_id or "")
    assert pos.avg_entry_price == Decimal("101") and len(fills) == 1
    # ATR of the quiet history is 2.0: stop 2 ATR below, target 3 ATR above, re-anchored
    assert pos.stop_loss is not None and pos.take_profit is not None
    assert pos.stop_loss < pos.avg_entry_price < pos.take_profit
    assert (pos.avg_entry_price - pos.stop_loss) / pos.avg_entry_price >= Decimal("0.02")
    # confidence sizing: 10 % x 0.9 of 100k at 100 = 90 shares
    assert pos.quantity == 90


def test_execute_when_same_signal_twice_then_one_order_only() -> None:
    w = World()
    w.history("AAPL")
    execute(w, signal(w))
    res = execute(w, signal(w))
    assert res.status == "exists"  # type: ignore[attr-defined]
    assert w.broker.submit_calls == 1


def test_execute_when_submit_ambiguous_then_looked_up_not_resent() -> None:
    w = World()
    use_broker(w, AcceptThenTimeout(Decimal(100_000), clock=w.clock))
    w.history("AAPL")
    res = execute(w, signal(w))
    assert res.status == "submitted"  # type: ignore[attr-defined]
    assert w.broker.submit_calls == 1
    with w.uow as u:
        (order,) = u.orders.list()
    assert order.status is OrderStatus.NEW and order.broker_order_id


def test_execute_when_broker_never_got_it_then_retried_once_with_same_id() -> None:
    w = World()
    use_broker(w, DownOnce(Decimal(100_000), clock=w.clock))
    w.history("AAPL")
    res = execute(w, signal(w))
    assert res.status == "failed"  # type: ignore[attr-defined]
    with w.uow as u:
        (order,) = u.orders.list()
        assert order.status is OrderStatus.SUBMITTED
        w.executor.retry_unsent(u, w.clock.now())
        w.executor.retry_unsent(u, w.clock.now())
        u.commit()
    assert w.broker.submit_calls == 2
    assert len(w.broker.list_orders("all")) == 1


def test_execute_when_below_threshold_then_skipped_and_logged() -> None:
    w = World()
    w.history("AAPL")
    res = execute(w, signal(w, confidence=0.5))
    assert res.status == "skipped"  # type: ignore[attr-defined]
    with w.uow as u:
        (row,) = u.journal.executions()
    assert row.stage == "validate" and not row.success and "threshold" in (row.error_message or "")


def test_execute_when_unknown_ticker_then_failed_without_order() -> None:
    w = World()
    res = execute(w, signal(w, ticker="ZZZ"))
    assert res.status == "failed" and res.reason == "unknown_ticker"  # type: ignore[attr-defined]
    assert w.broker.submit_calls == 0


def test_execute_when_trading_halted_then_order_denied_by_risk() -> None:
    w = World()
    w.history("AAPL")
    w.risk.kill("test", "halt for the test")
    res = execute(w, signal(w))
    assert res.status == "rejected"  # type: ignore[attr-defined]
    assert w.broker.submit_calls == 0
    with w.uow as u:
        assert [r.stage for r in u.journal.executions()] == ["risk"]


def test_cancel_stale_when_order_not_filled_in_time_then_canceled() -> None:
    w = World(fill_timeout=timedelta(days=2))
    w.history("AAPL")
    execute(w, signal(w))
    w.clock.advance(timedelta(days=3))
    with w.uow as u:
        canceled = w.executor.cancel_stale(u, w.clock.now())
        u.commit()
    assert len(canceled) == 1
    w.events()
    with w.uow as u:
        (order,) = u.orders.list()
        rows = [r.stage for r in u.journal.executions()]
    assert order.status is OrderStatus.CANCELED
    assert rows[-1] == "cancel"


def test_execute_when_opposite_signal_on_open_position_then_position_closed() -> None:
    w = World()
    w.history("AAPL")
    execute(w, signal(w))
    w.bar("AAPL", 100, 101, 99.5, 100.5)
    w.events()
    res = execute(w, signal(w, sid="s2", action="sell"))
    assert res.status == "exit"  # type: ignore[attr-defined]
    w.bar("AAPL", 102, 103, 101, 102)
    w.events()
    with w.uow as u:
        assert u.positions.list_open() == []
        (closed,) = u.positions.list_closed()
    assert closed.exit_reason.value == "signal"
    assert closed.realized_pnl == (Decimal(102) - Decimal(100)) * closed.quantity


class SilentCancel(FakeBroker):
    """Cancels working orders on its own and loses the event (a dropped stream)."""

    def drop_all(self) -> None:
        for w in self._orders.values():
            w.status = OrderStatus.CANCELED
        self._events.clear()


def test_housekeeping_when_cancel_event_missed_then_status_polled_from_broker() -> None:
    w = World()
    use_broker(w, SilentCancel(Decimal(100_000), clock=w.clock))
    w.history("AAPL")
    execute(w, signal(w))
    w.broker.drop_all()  # type: ignore[attr-defined]
    with w.uow as u:
        w.executor.housekeeping(u, w.clock.now())
        u.commit()
    with w.uow as u:
        (order,) = u.orders.list()
    assert order.status is OrderStatus.CANCELED
