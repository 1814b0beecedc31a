"""The simulated exchange's order book and matcher: working orders, fills, expiries.

:class:`OrderBook` holds the matching and the submit checks of
:class:`~adapters.simulated.exchange.SimulatedExchange` (which inherits it and owns the state:
the working orders per ticker, the event queue, the ledger); :class:`_Order` is a working
order in floats for matching and Decimal for money. The rules are in the exchange's module
docstring and ``docs/simulator.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from math import isnan
from typing import TYPE_CHECKING

from adapters.simulated.order import (
    _BASIS,
    _CENT,
    _EXPIRED,
    _FAR,
    _LMT,
    _MKT,
    _OPEN_STATES,
    _STP,
    _STPLMT,
    S,
    _d,
    _Order,
)
from adapters.simulated.sessions import Sessions, dt_from_ns
from domain import fill_rules as fr
from domain.account import Account
from domain.clock import Clock
from domain.commands import SubmitOrder
from domain.errors import InsufficientBuyingPower, InvalidOrder, OrderRejected
from domain.events import Fill, OrderStatus
from domain.portfolio import Ledger
from domain.values import ZERO, OrderClass, OrderType, Side, TimeInForce

if TYPE_CHECKING:
    from adapters.simulated.exchange import ExchangeConfig

__all__ = ["OrderBook"]


class OrderBook:
    """Matching, fills, expiries and submit checks over the exchange's state."""

    config: ExchangeConfig
    clock: Clock
    sessions: Sessions
    ledger: Ledger
    cash_f: float
    pos_f: dict[str, float]
    fill_count: int
    _orders: dict[str, _Order]
    _by_bid: dict[str, _Order]
    _working: dict[str, list[_Order]]
    _events: list[Fill | tuple[str, str, OrderStatus, datetime, str | None]]
    _last: dict[str, tuple[int, float, float, float, float, float]]
    _next_expiry: int
    _rate: float | None
    _slip: float
    _volf: float
    _stop_first: bool
    _new_legs: list[_Order]
    _emit_events: bool
    _commission: Callable[[float, float], float]
    _charges: bool
    _dt_ns: int
    _dt: datetime
    _mult_f: float
    _retain: bool

    if TYPE_CHECKING:  # provided by the price history and the exchange facade
        def equity_f(self) -> float: ...

        def get_account(self) -> Account: ...

    def _slippage(self, o: float, h: float, lo: float) -> float:
        if self._volf and o > 0.0:
            return self._slip + self._volf * (h - lo) / o * 1e4
        return self._slip

    def _match(self, ticker: str, work: list[_Order], ts_ns: int, o: float, h: float,
               lo: float, c: float, v: float) -> None:
        sessions = self.sessions
        regular = sessions.is_regular_bar(ts_ns)
        avail = fr.participation_cap(v, self._rate)
        done: set[int] = set()
        batch = list(work)
        while batch:
            self._new_legs = []
            avail = self._match_batch(batch, done, regular, avail, ts_ns, o, h, lo, c)
            batch = self._new_legs

    def _match_batch(self, batch: list[_Order], done: set[int], regular: bool, avail: float,
                     ts_ns: int, o: float, h: float, lo: float, c: float) -> float:
        sessions = self.sessions
        for od in batch:
            if id(od) in done or od.status not in _OPEN_STATES or ts_ns <= od.eligible_ns:
                continue
            if not regular and not (od.extended and sessions.is_extended_bar(ts_ns)):
                continue
            if avail < 1.0:
                if od.tif in (TimeInForce.IOC, TimeInForce.FOK, TimeInForce.OPG):
                    self._finish(od, S.CANCELED, ts_ns)
                continue
            sib = od.sibling
            if sib is not None and sib.status in _OPEN_STATES and ts_ns > sib.eligible_ns:
                done.add(id(sib))
                p1: float | None = self._price(od, ts_ns, o, h, lo, c)
                p2: float | None = self._price(sib, ts_ns, o, h, lo, c)
                if p1 is not None and p2 is not None:
                    sl_first = self._stop_first
                    first, fpx = (od, p1) if (od.role == "sl") == sl_first else (sib, p2)
                    avail = self._take(first, fpx, avail, ts_ns)
                    continue
                if p2 is not None:
                    od, p1 = sib, p2
                if p1 is not None:
                    avail = self._take(od, p1, avail, ts_ns)
                continue
            px = self._price(od, ts_ns, o, h, lo, c)
            tif = od.tif
            if px is None:
                if tif in (TimeInForce.IOC, TimeInForce.FOK, TimeInForce.OPG) or (
                    tif is TimeInForce.CLS and sessions.is_session_close(ts_ns)
                ):
                    self._finish(od, S.CANCELED, ts_ns)
                continue
            if tif is TimeInForce.FOK and Decimal(int(min(avail, 1e15))) < od.leaves:
                self._finish(od, S.CANCELED, ts_ns)
                continue
            avail = self._take(od, px, avail, ts_ns)
            if tif in (TimeInForce.IOC, TimeInForce.OPG, TimeInForce.CLS) and \
                    od.status in _OPEN_STATES:
                self._finish(od, S.CANCELED, ts_ns)
        return avail

    def _price(self, od: _Order, ts_ns: int, o: float, h: float, lo: float,
               c: float) -> float | None:
        tif = od.tif
        if tif is TimeInForce.OPG:
            if od.tried:
                return None
            od.tried = True
            if od.code == _MKT:
                return fr.market_price(od.sign, o, h, lo, self._slippage(o, h, lo))
            if od.code == _LMT:
                ok = o <= od.limit if od.sign > 0 else o >= od.limit
                return o if ok else None
            return None
        if tif is TimeInForce.CLS:
            if not self.sessions.is_session_close(ts_ns):
                return None
            if od.code == _MKT:
                return fr.clamp(c * (1.0 + od.sign * self._slippage(o, h, lo) * 1e-4), lo, h)
            if od.code == _LMT:
                ok = c <= od.limit if od.sign > 0 else c >= od.limit
                return c if ok else None
            return None
        code = od.code
        if code == _MKT:
            return fr.market_price(od.sign, o, h, lo, self._slippage(o, h, lo))
        if code == _LMT:
            return fr.limit_price(od.sign, od.limit, o, h, lo)
        if code == _STP:
            return fr.stop_price(od.sign, od.stop, o, h, lo, self._slippage(o, h, lo))
        if code == _STPLMT:
            if od.triggered:
                return fr.limit_price(od.sign, od.limit, o, h, lo)
            trig, px = fr.stop_limit_price(od.sign, od.stop, od.limit, o, h, lo)
            if trig:
                od.triggered = True
            return px
        # trailing stop: the watermark starts at the reference price of the submit
        wm = od.wm
        if isnan(wm):
            wm = od.ref if od.ref > 0.0 else o
        new_wm, px = fr.trailing_step(od.sign, wm, od.trail_abs, od.trail_pct, o, h, lo,
                                      self._slippage(o, h, lo))
        od.wm = new_wm
        return px

    def _take(self, od: _Order, px: float, avail: float, ts_ns: int) -> float:
        qty = od.leaves
        parent = od.parent
        if parent is not None:
            sib = od.sibling
            room = parent.filled - od.filled - (sib.filled if sib is not None else ZERO)
            qty = min(qty, room)
        if avail != float("inf"):
            qty = min(qty, Decimal(int(avail)))
        if qty <= 0:
            return avail
        self._fill(od, qty, px, ts_ns)
        return avail - float(qty)

    def _fill(self, od: _Order, qty: Decimal, px: float, ts_ns: int) -> None:
        last = self._last.get(od.ticker)
        px = round(px, 4)
        if last is not None:
            px = fr.clamp(px, last[3], last[2])
        price = _d(px)
        qf = float(qty)
        fee = self._commission(qf, px) if self._charges else 0.0
        comm = _d(round(fee, 6)) if fee else ZERO
        od.nfills += 1
        if ts_ns != self._dt_ns:
            self._dt_ns, self._dt = ts_ns, dt_from_ns(ts_ns)
        ts = self._dt
        fill = Fill(fill_id=f"{od.bid}-{od.nfills}", client_order_id=od.coid, ticker=od.ticker,
                    side=od.side, quantity=qty, price=price, ts_event=ts, commission=comm,
                    ts_init=ts, broker_order_id=od.bid)
        self.ledger.apply_fill(fill)
        self.fill_count += 1
        self.cash_f -= od.sign * qf * px + float(comm)
        self.pos_f[od.ticker] = self.pos_f.get(od.ticker, 0.0) + od.sign * qf
        notional = (od.avg or ZERO) * od.filled + qty * price
        od.filled += qty
        od.avg = notional / od.filled
        od.commission += comm
        od.status = S.FILLED if od.filled == od.qty else S.PARTIALLY_FILLED
        od.updated = ts
        if self._emit_events:
            self._events.append(fill)
        if od.status is S.FILLED:
            self._unwork(od)
        for leg in od.legs:  # a bracket entry filled: its legs start working
            if leg.status is S.HELD:
                leg.status = S.NEW
                leg.updated = ts
                # the stop leg may trade in the entry's bar (adverse first); the target only
                # from the next bar unless target_first is configured
                leg.eligible_ns = ts_ns - 1 if (leg.role == "sl" or not self._stop_first) \
                    else ts_ns
                self._emit(leg, S.NEW, ts)
                self._working.setdefault(leg.ticker, []).append(leg)
                self._new_legs.append(leg)
        sib = od.sibling
        if od.status is S.FILLED and sib is not None and sib.status.is_open:
            self._finish(sib, S.CANCELED, ts_ns, reason="oco: other leg filled")

    def _unwork(self, od: _Order) -> None:
        work = self._working.get(od.ticker)
        if work is not None and od in work:
            work.remove(od)
        if not self._retain and not od.status.is_open:
            root = od.parent or od
            if not root.status.is_open and not any(leg.status.is_open for leg in root.legs):
                self._forget(root)

    def _forget(self, od: _Order) -> None:
        for x in (od, *od.legs):
            self._orders.pop(x.coid, None)
            self._by_bid.pop(x.bid, None)
        led = self.ledger
        led.closed.clear()
        led.seen_fills.clear()

    def _emit(self, od: _Order, status: OrderStatus, ts: datetime, reason: str | None = None
              ) -> None:
        # events are built when polled: a backtest nobody polls pays nothing for them
        if self._emit_events:
            self._events.append((od.coid, od.bid, status, ts, reason))

    def _finish(self, od: _Order, status: OrderStatus, ts_ns: int,
                reason: str | None = None) -> None:
        od.status = status
        ts = dt_from_ns(ts_ns) if ts_ns else self.clock.now()
        od.updated = ts
        self._unwork(od)
        self._emit(od, status, ts, reason)
        for leg in od.legs:
            if leg.status is S.HELD or (leg.status.is_open and od.filled == 0):
                self._finish(leg, S.CANCELED, ts_ns, reason="parent closed unfilled")

    def _expire(self, now_ns: int) -> None:
        # expire every working order whose session ended at or before ``now_ns``, stamped at
        # its session's end (not at the bar that revealed it), and recompute the next expiry
        nxt = _FAR
        for work in list(self._working.values()):
            for od in list(work):
                if od.expiry_ns <= now_ns:
                    if od.status.is_open:
                        self._finish(od, S.EXPIRED, od.expiry_ns, reason=_EXPIRED)
                elif od.expiry_ns < nxt:
                    nxt = od.expiry_ns
        self._next_expiry = nxt

    def _add_legs(self, parent: _Order, now: datetime, now_ns: int) -> None:
        r = parent.req
        exit_side = Side.SELL if r.side is Side.BUY else Side.BUY
        tp = SubmitOrder(client_order_id=f"{r.client_order_id[:45]}-tp", ticker=r.ticker,
                         side=exit_side, quantity=r.quantity, order_type=OrderType.LIMIT,
                         limit_price=r.take_profit_price, time_in_force=TimeInForce.GTC)
        sl_type = OrderType.STOP_LIMIT if r.stop_loss_limit_price is not None else OrderType.STOP
        sl = SubmitOrder(client_order_id=f"{r.client_order_id[:45]}-sl", ticker=r.ticker,
                         side=exit_side, quantity=r.quantity, order_type=sl_type,
                         stop_price=r.stop_loss_price, limit_price=r.stop_loss_limit_price,
                         time_in_force=TimeInForce.GTC)
        legs = []
        for req, role in ((tp, "tp"), (sl, "sl")):
            leg = _Order(req, f"{parent.bid}-{role}", now, now_ns)
            leg.role, leg.parent, leg.status = role, parent, S.HELD
            self._orders[leg.coid] = leg
            self._by_bid[leg.bid] = leg
            self._emit(leg, S.HELD, now)
            legs.append(leg)
        legs[0].sibling, legs[1].sibling = legs[1], legs[0]
        parent.legs = legs

    def _check_prices(self, r: SubmitOrder) -> None:
        if not self.config.enforce_tick_size or (
            r.order_type is OrderType.MARKET and r.order_class is OrderClass.SIMPLE
        ):
            return
        for name in ("limit_price", "stop_price", "take_profit_price", "stop_loss_price",
                     "stop_loss_limit_price", "trail_price"):
            p = getattr(r, name)
            if p is None:
                continue
            tick = _CENT if p >= 1 else _BASIS
            if p != p.quantize(tick):
                raise InvalidOrder(
                    f"invalid {name} {p}: sub-penny increment does not fulfill minimum pricing "
                    f"criteria (tick {tick})", r.client_order_id)

    def _reference(self, r: SubmitOrder) -> float:
        last = self._last.get(r.ticker)
        if r.limit_price is not None:
            return float(r.limit_price)
        if r.stop_price is not None:
            return float(r.stop_price)
        if last is None:
            raise InvalidOrder(f"no price known for {r.ticker}: asset is not tradable yet",
                               r.client_order_id)
        return last[4]

    def _check_buying_power(self, r: SubmitOrder, ref: float) -> None:
        held = self.pos_f.get(r.ticker, 0.0)
        sign = 1 if r.side is Side.BUY else -1
        q = float(r.quantity)
        # the part of the order that reduces the held position needs no buying power
        reducing = min(q, abs(held)) if held * sign < 0 else 0.0
        opening = q - reducing
        if opening <= 0:
            return
        if sign < 0 and not self.config.allow_short:
            raise OrderRejected(
                f"insufficient qty available for order (requested: {r.quantity}, available: "
                f"{abs(held) if held > 0 else 0})", r.client_order_id)
        if r.order_class is OrderClass.BRACKET and not self.config.allow_short and sign < 0:
            raise OrderRejected("short brackets need allow_short", r.client_order_id)
        mult = self._mult_f
        eq_f = self.equity_f()
        gross_f = sum(abs(q) * self._last[t][4] for t, q in self.pos_f.items() if q)
        if not any(self._working.values()) and opening * ref < 0.99 * (eq_f * mult - gross_f):
            return  # clearly affordable: skip the exact Decimal check
        acct = self.get_account()
        reserved = _d(round(sum(
            float(od.leaves) * od.ref for w in self._working.values() for od in w
            if od.parent is None and not self._reduces(od)), 2))
        need = _d(round(opening * ref, 2))
        bp = acct.buying_power - reserved
        if need > bp:
            raise InsufficientBuyingPower(
                f"insufficient buying power (required: {need}, available: {max(bp, ZERO)})",
                r.client_order_id)

    def _reduces(self, od: _Order) -> bool:
        held = self.pos_f.get(od.ticker, 0.0)
        return held * od.sign < 0 and float(od.leaves) <= abs(held)

    def has_working(self, ticker: str | None = None) -> bool:
        """Return True when any order (of ``ticker``) is working."""
        if ticker is None:
            return any(self._working.values())
        return bool(self._working.get(ticker))

    def working_orders(self, ticker: str) -> list[_Order]:
        """Return the working orders of ``ticker`` (internal records; read-only use)."""
        return list(self._working.get(ticker, ()))

    @property
    def next_expiry_ns(self) -> int:
        """Return when the next day order expires (a huge number when none)."""
        return self._next_expiry
