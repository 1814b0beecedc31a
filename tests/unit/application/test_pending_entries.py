"""The executor counts its own entry orders that are accepted but not yet filled."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from adapters.memory.broker import FakeBroker
from domain.events import OrderStatus
from domain.risk.config import RiskConfig
from domain.signal import Signal
from tests.unit.application.conftest import World


class PartialBroker(FakeBroker):
    """The fake broker, plus a partial fill on demand."""

    def partial_fill(self, client_order_id: str, qty: Decimal, price: Decimal) -> None:
        self._fill(self._orders[client_order_id], qty, price, self.clock.now())


def signal(w: World, sid: str, ticker: str = "AAPL", action: str = "buy",
           confidence: float = 1.0) -> Signal:
    return Signal(signal_id=sid, ticker=ticker, action=action, confidence=confidence,
                  ts=w.clock.now(), catalyst_score=0.8, strategy="t")


def same_step(w: World, *sigs: Signal) -> list[str]:
    with w.uow as u:
        out = [w.executor.execute(s, u, w.clock.now()).status for s in sigs]
        u.commit()
    return out


def test_two_signals_for_one_ticker_in_one_step_make_one_capped_entry() -> None:
    w = World()
    w.history("AAPL", price=100.0)
    # 0.75 x 10 % = 7.5 % of equity, then the second may only use the 2.5 % left under the cap
    statuses = same_step(w, signal(w, "s1", confidence=0.75), signal(w, "s2", confidence=1.0),
                         signal(w, "s3", confidence=1.0))
    assert statuses == ["submitted", "submitted", "skipped"]
    with w.uow as u:
        orders = u.orders.list()
        rows = [r for r in u.journal.executions() if r.stage == "size"]
    assert [o.quantity for o in orders] == [Decimal(75), Decimal(25)]
    assert "already committed" in (rows[0].error_message or "")
    w.bar("AAPL", 100, 101, 99, 100)
    w.events()
    with w.uow as u:
        (pos,) = u.positions.list_open()
    assert pos.quantity * Decimal(100) <= Decimal("0.10") * Decimal(100_000)


def test_a_canceled_entry_releases_its_reservation() -> None:
    w = World(fill_timeout=timedelta(days=1))
    w.history("AAPL", price=100.0)
    assert same_step(w, signal(w, "s1")) == ["submitted"]
    assert same_step(w, signal(w, "s2")) == ["skipped"]  # the first is still working
    w.clock.advance(timedelta(days=2))
    with w.uow as u:
        w.executor.cancel_stale(u, w.clock.now())
        u.commit()
    w.events()
    with w.uow as u:
        assert u.orders.get(u.orders.list()[0].client_order_id).status is OrderStatus.CANCELED
    assert same_step(w, signal(w, "s3")) == ["submitted"]
    with w.uow as u:
        assert u.orders.list()[-1].quantity == 100


def test_working_entries_count_against_the_open_position_limit() -> None:
    w = World()
    w.risk.policy = type(w.risk.policy)(RiskConfig(max_open_positions=2,
                                                   max_price_age_s=5 * 86400))
    for t in ("AAPL", "MSFT", "XOM"):
        w.history(t, price=100.0)
    statuses = same_step(w, *(signal(w, f"s-{t}", ticker=t, confidence=0.8)
                              for t in ("AAPL", "MSFT", "XOM")))
    assert statuses == ["submitted", "submitted", "rejected"]
    with w.uow as u:
        (rejected,) = [r for r in u.journal.executions() if r.stage == "risk"]
    assert rejected.metadata["rule"] == "max_open_positions"
    assert "every working entry" in (rejected.error_message or "")


def test_a_partially_filled_entry_counts_its_remainder() -> None:
    w = World()
    broker = PartialBroker(Decimal(100_000), clock=w.clock)
    w.broker = w.executor.broker = w.risk._broker = broker
    w.history("AAPL", price=100.0)
    assert same_step(w, signal(w, "s1", confidence=0.75)) == ["submitted"]
    with w.uow as u:
        (order,) = u.orders.list()
    broker.partial_fill(order.client_order_id, Decimal(20), Decimal(100))
    w.events()
    with w.uow as u:
        (pos,) = u.positions.list_open()
        assert u.orders.get(order.client_order_id).leaves_qty == 55  # type: ignore[union-attr]
    assert pos.quantity == 20
    # the limits shown by risk status count the 20 held and the 55 still working
    status = w.risk.status(w.broker.get_account(), [pos])
    (ticker,) = [lim for lim in status.limits if lim.name == "ticker_concentration"]
    assert ticker.value == Decimal(75 * 100) / w.broker.get_account().equity
