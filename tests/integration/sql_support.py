"""Builders shared by the persistence tests (contract, crash, CLI)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from domain.commands import SubmitOrder
from domain.events import Fill, OrderFilled, OrderStatus, OrderStatusChanged, OrderSubmitted
from domain.orders import Order
from domain.position import Position, TrailingStopConfig
from domain.values import PositionSide

T0 = datetime(2024, 3, 1, 14, 30, tzinfo=UTC)


def ts(minutes: int) -> datetime:
    """Return T0 plus ``minutes``."""
    return T0 + timedelta(minutes=minutes)


def make_order(cid: str = "ct-entry-1", *, ticker: str = "AAPL", side: str = "buy",
               qty: str = "10", minutes: int = 0, bracket: bool = False) -> Order:
    """Return a new order (a limit bracket with every price when ``bracket``)."""
    if bracket:
        req = SubmitOrder(
            client_order_id=cid, ticker=ticker, side=side, quantity=qty, order_type="limit",
            limit_price="100.05", order_class="bracket", take_profit_price="110.10",
            stop_loss_price="95.25", stop_loss_limit_price="95.00", signal_id="sig-1",
            strategy="momo", position_id="pos-x", time_in_force="gtc",
        )
    else:
        req = SubmitOrder(client_order_id=cid, ticker=ticker, side=side, quantity=qty)
    return Order.create(req, ts(minutes))


def make_fill(fill_id: str, cid: str, *, ticker: str = "AAPL", side: str = "buy",
              qty: str = "10", price: str = "100.1", minutes: int = 1,
              commission: str = "0.0035") -> Fill:
    """Return a fill of order ``cid``."""
    return Fill(fill_id, cid, ticker, side, qty, price, ts(minutes), Decimal(commission),
                ts_init=ts(minutes) + timedelta(seconds=1), broker_order_id=f"b-{cid}")


def fill_order(order: Order, fill: Fill) -> None:
    """Move ``order`` through submitted and accepted, then apply ``fill``."""
    if order.status is OrderStatus.INITIALIZED:
        order.apply(OrderSubmitted(client_order_id=order.client_order_id, ts_event=fill.ts_event))
        order.apply(OrderStatusChanged(client_order_id=order.client_order_id,
                                       ts_event=fill.ts_event, status="accepted",
                                       broker_order_id=f"b-{order.client_order_id}"))
    order.apply(OrderFilled(client_order_id=order.client_order_id, ts_event=fill.ts_event,
                            fill=fill))


def make_position(pid: str = "pos-1", *, ticker: str = "AAPL", fill: Fill | None = None,
                  minutes: int = 1) -> Position:
    """Return an open long position built from one entry fill, with every optional field set."""
    f = fill or make_fill(f"{pid}-f1", f"{pid}-entry", ticker=ticker, minutes=minutes)
    p = Position(position_id=pid, ticker=ticker, side=PositionSide.LONG, opened_at=f.ts_event,
                 strategy="momo", signal_id="sig-1", signal_confidence=0.8,
                 catalyst_score=7.5, rvol=3.25, atr=1.5, entry_order_id=f.client_order_id,
                 metadata={"alert_id": "a-1", "tags": ["fda"]})
    p.apply_fill(f)
    p.set_exits(stop_loss=Decimal("95"), take_profit=Decimal("110"),
                trailing=TrailingStopConfig(Decimal("0.05"), Decimal("0.03")))
    return p
