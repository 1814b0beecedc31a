"""A small in-memory broker: the reference fake for the BrokerPort contract.

It matches working orders against bars pushed with :meth:`FakeBroker.bar` by the same
conservative rules as the simulated exchange (market at the next open, limit never better
than its limit, stops fill at the open on a gap), without partial fills, calendars or
brackets. Money goes through the domain :class:`Ledger`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Literal

import attrs

from domain.account import Account, BrokerPosition
from domain.clock import Clock, TestClock
from domain.commands import SubmitOrder
from domain.errors import (
    DuplicateClientOrderId,
    InsufficientBuyingPower,
    InvalidOrder,
    OrderNotFound,
)
from domain.events import Fill, OrderEvent, OrderFilled, OrderStatus, OrderStatusChanged
from domain.ids import client_order_id as make_coid
from domain.ids import digest
from domain.market import MarketClock
from domain.orders import OrderReport
from domain.portfolio import Ledger
from domain.values import ZERO, OrderClass, OrderType, Side, TimeInForce, dec

S = OrderStatus


@attrs.define
class _Working:
    request: SubmitOrder
    broker_id: str
    created_at: datetime
    status: OrderStatus = S.NEW
    filled_qty: Decimal = ZERO
    avg_price: Decimal | None = None
    updated_at: datetime | None = None
    reject_reason: str | None = None

    def report(self) -> OrderReport:
        r = self.request
        return OrderReport(
            client_order_id=r.client_order_id, broker_order_id=self.broker_id, ticker=r.ticker,
            side=r.side, quantity=r.quantity, order_type=r.order_type, status=self.status,
            filled_qty=self.filled_qty, filled_avg_price=self.avg_price,
            limit_price=r.limit_price, stop_price=r.stop_price, time_in_force=r.time_in_force,
            order_class=r.order_class, created_at=self.created_at,
            updated_at=self.updated_at or self.created_at, reject_reason=self.reject_reason,
        )


class FakeBroker:
    """In-memory BrokerPort. Push bars with :meth:`bar`; read events with :meth:`poll_events`."""

    def __init__(self, starting_cash: Decimal = Decimal(100_000), clock: Clock | None = None,
                 commission_per_order: Decimal = ZERO) -> None:
        self.ledger = Ledger(cash=dec(starting_cash, "starting_cash"))
        self.clock: Clock = clock or TestClock(datetime(2024, 1, 2, 21, tzinfo=UTC))
        self.commission_per_order = commission_per_order
        self._orders: dict[str, _Working] = {}
        self._by_broker_id: dict[str, str] = {}
        self._events: list[OrderEvent] = []
        self._prices: dict[str, Decimal] = {}
        self._seq = 0
        self.submit_calls = 0

    # --- test driver -------------------------------------------------------------------
    def set_price(self, ticker: str, price: Decimal) -> None:
        """Set the last trade price without matching anything."""
        self._prices[ticker] = dec(price, "price")

    def bar(self, ticker: str, open_: float, high: float, low: float, close: float,
            volume: float = 1_000_000, ts: datetime | None = None) -> None:
        """Advance ``ticker`` by one bar and match its working orders against it."""
        if ts is None:
            clock = self.clock
            ts = clock.advance(timedelta(days=1)) if isinstance(clock, TestClock) else clock.now()
        o, h, lo, c = (dec(v, n) for v, n in ((open_, "open"), (high, "high"), (low, "low"),
                                                (close, "close")))
        for w in [w for w in self._orders.values() if w.request.ticker == ticker]:
            if w.status not in (S.NEW, S.ACCEPTED, S.PARTIALLY_FILLED):
                continue
            price = self._match(w.request, o, h, lo)
            if price is not None:
                self._fill(w, w.request.quantity - w.filled_qty, price, ts)
            elif w.request.time_in_force in (TimeInForce.IOC, TimeInForce.FOK):
                self._status(w, S.CANCELED, ts)
        self._prices[ticker] = c

    @staticmethod
    def _match(r: SubmitOrder, o: Decimal, h: Decimal, lo: Decimal) -> Decimal | None:
        buy = r.side is Side.BUY
        if r.order_type is OrderType.MARKET:
            return o
        if r.order_type is OrderType.LIMIT:
            lim = r.limit_price
            assert lim is not None
            if buy and lo < lim:
                return min(o, lim)
            if not buy and h > lim:
                return max(o, lim)
            return None
        if r.order_type is OrderType.STOP:
            stop = r.stop_price
            assert stop is not None
            if buy and h >= stop:
                return max(o, stop)
            if not buy and lo <= stop:
                return min(o, stop)
        return None

    # --- BrokerPort --------------------------------------------------------------------
    def submit_order(self, request: SubmitOrder) -> OrderReport:
        """Accept ``request`` (status new) or raise a domain error like Alpaca would."""
        self.submit_calls += 1
        if request.client_order_id in self._orders:
            raise DuplicateClientOrderId(request.client_order_id)
        if request.order_class is not OrderClass.SIMPLE or request.order_type in (
            OrderType.STOP_LIMIT, OrderType.TRAILING_STOP
        ):
            raise InvalidOrder(f"{request.order_class}/{request.order_type} not supported by "
                               "the fake broker", request.client_order_id)
        ref = request.limit_price or request.stop_price or self._prices.get(request.ticker)
        if ref is None:
            raise InvalidOrder(f"no price known for {request.ticker}", request.client_order_id)
        acct = self.get_account()
        held = self.ledger.positions.get(request.ticker)
        reducing = held is not None and request.side is held.side.exit_side and \
            request.quantity <= held.quantity
        if not reducing and request.quantity * ref > acct.buying_power:
            raise InsufficientBuyingPower(
                f"insufficient buying power: need {request.quantity * ref:.2f}, "
                f"have {acct.buying_power:.2f}", request.client_order_id)
        self._seq += 1
        bid = f"fake-{digest(request.client_order_id, self._seq, length=16)}"
        now = self.clock.now()
        w = _Working(request=request, broker_id=bid, created_at=now, updated_at=now)
        self._orders[request.client_order_id] = w
        self._by_broker_id[bid] = request.client_order_id
        self._events.append(OrderStatusChanged(client_order_id=request.client_order_id,
                                               ts_event=now, broker_order_id=bid, status=S.NEW))
        return w.report()

    def _fill(self, w: _Working, qty: Decimal, price: Decimal, ts: datetime) -> None:
        r = w.request
        self._seq += 1
        fill = Fill(fill_id=f"{w.broker_id}-f{self._seq}", client_order_id=r.client_order_id,
                    ticker=r.ticker, side=r.side, quantity=qty, price=price, ts_event=ts,
                    commission=self.commission_per_order, broker_order_id=w.broker_id)
        self.ledger.apply_fill(fill)
        notional = (w.avg_price or ZERO) * w.filled_qty + qty * price
        w.filled_qty += qty
        w.avg_price = notional / w.filled_qty
        w.status = S.FILLED if w.filled_qty == r.quantity else S.PARTIALLY_FILLED
        w.updated_at = ts
        self._events.append(OrderFilled(client_order_id=r.client_order_id, ts_event=ts,
                                        broker_order_id=w.broker_id, fill=fill))

    def _status(self, w: _Working, status: OrderStatus, ts: datetime) -> None:
        w.status = status
        w.updated_at = ts
        self._events.append(OrderStatusChanged(client_order_id=w.request.client_order_id,
                                               ts_event=ts, broker_order_id=w.broker_id,
                                               status=status))

    def cancel_order(self, client_order_id: str) -> None:
        """Cancel a working order (no-op on a finished one, like Alpaca's 422 aside)."""
        w = self._orders.get(client_order_id)
        if w is None:
            raise OrderNotFound(f"order {client_order_id} not found")
        if w.status.is_open:
            self._status(w, S.CANCELED, self.clock.now())

    def get_order(self, broker_order_id: str) -> OrderReport:
        """Return an order by broker id."""
        coid = self._by_broker_id.get(broker_order_id)
        if coid is None:
            raise OrderNotFound(f"order {broker_order_id} not found")
        return self._orders[coid].report()

    def get_order_by_client_id(self, client_order_id: str) -> OrderReport | None:
        """Return an order by client order id, or None."""
        w = self._orders.get(client_order_id)
        return w.report() if w is not None else None

    def list_orders(self, status: Literal["open", "closed", "all"] = "open") -> list[OrderReport]:
        """Return orders, newest first."""
        out = [w.report() for w in reversed(self._orders.values())]
        if status == "open":
            return [r for r in out if r.status.is_open]
        if status == "closed":
            return [r for r in out if not r.status.is_open]
        return out

    def get_positions(self) -> list[BrokerPosition]:
        """Return open positions with their marks."""
        out = []
        for t, p in sorted(self.ledger.positions.items()):
            price = self._prices.get(t)
            out.append(BrokerPosition(
                ticker=t, quantity=p.signed_quantity, avg_entry_price=p.avg_entry_price,
                current_price=price, market_value=p.market_value(price),
                unrealized_pnl=p.unrealized_pnl(price)))
        return out

    def get_account(self) -> Account:
        """Return the ledger's account at the last prices (cash account: no margin)."""
        return self.ledger.account(self._prices, ts=self.clock.now())

    def close_position(self, ticker: str) -> OrderReport | None:
        """Submit a market order that flattens ``ticker``."""
        p = self.ledger.positions.get(ticker)
        if p is None:
            return None
        self._seq += 1
        req = SubmitOrder(client_order_id=make_coid(f"close-{ticker}-{self._seq}", "close"),
                          ticker=ticker, side=p.side.exit_side, quantity=p.quantity)
        return self.submit_order(req)

    def close_all_positions(self, cancel_orders: bool = True) -> list[OrderReport]:
        """Cancel working orders (when asked) and flatten every position."""
        if cancel_orders:
            for coid, w in list(self._orders.items()):
                if w.status.is_open:
                    self.cancel_order(coid)
        out = []
        for t in sorted(self.ledger.positions):
            r = self.close_position(t)
            if r is not None:
                out.append(r)
        return out

    def get_clock(self) -> MarketClock:
        """Return an always-open clock (the fake has no calendar)."""
        now = self.clock.now()
        return MarketClock(timestamp=now, is_open=True, next_open=now,
                           next_close=now + timedelta(hours=6, minutes=30))

    def poll_events(self) -> list[OrderEvent]:
        """Return events not returned before."""
        out, self._events = self._events, []
        return out
