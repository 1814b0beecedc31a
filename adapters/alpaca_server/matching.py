"""Orders the server holds on top of the exchange: OCO and OTO legs, fills into the stream.

The exchange matches simple and bracket orders bar by bar; the server drives it
(:meth:`~OrderMatching.bar`), turns its events into ``trade_updates`` messages and account
activities, cancels the other leg of a one-cancels-other pair, releases the held leg of a
one-triggers-other order when its parent is done, and fills market orders at once when asked
to behave like a live session.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs

from adapters.alpaca_server.core import OrderMeta
from adapters.alpaca_server.shapes import JsonShapes
from adapters.alpaca_server.wire import iso, num_str, uid
from adapters.simulated.sessions import ns_from_dt
from domain.errors import DomainError
from domain.events import OrderEvent, OrderFilled, OrderStatus, OrderStatusChanged
from domain.market import Bar
from domain.orders import OrderReport
from domain.values import OrderType, Side


class OrderMatching(JsonShapes):
    """Drive the exchange and keep the server-held order logic in step with it."""

    def bar(self, ticker: str, open_: float, high: float, low: float, close: float,
            volume: float = 1_000_000, ts: datetime | None = None) -> None:
        """Advance ``ticker`` by one bar ending at ``ts`` (default: now on the backend's clock).

        Working orders match against it and their fills go to the trade-updates stream.
        """
        with self.lock:
            self._tick_clock()
            when = ts or self.now()
            self._tick_clock(when)
            self._resolve_oco(ticker, open_, high, low)
            on_bar = getattr(self.backend, "on_bar", None)
            if on_bar is not None:
                on_bar(ticker, ns_from_dt(when), open_, high, low, close, volume)
            else:
                self.backend.bar(ticker, open_, high, low, close,  # type: ignore[attr-defined]
                                 volume, ts=when)
            self._bars.setdefault(ticker, []).append(
                Bar(ticker=ticker, ts=when, open=open_, high=high, low=low, close=close,
                    volume=volume))
            self._drain()
            self._equity.append((when, self.backend.get_account().equity))

    def set_time(self, ts: datetime) -> None:
        """Move the exchange's clock to ``ts`` without a bar (day orders expire at closes)."""
        with self.lock:
            self._tick_clock(ts)
            advance = getattr(self.backend, "advance_to", None)
            if advance is not None:
                advance(ts)
            self._drain()

    def all_orders(self) -> list[dict[str, Any]]:
        """Return every order the exchange holds as Alpaca JSON (oldest first)."""
        with self.lock:
            return [self._order_json(r) for r in reversed(self._top_reports())]

    # --- events -> trade_updates ---------------------------------------------------------
    def _emit(self, event: str, report: OrderReport, ts: datetime | None,
              **extra: Any) -> None:
        data: dict[str, Any] = {"event": event, "timestamp": iso(ts),
                                "order": self._order_json(report)}
        data.update(extra)
        self._events.append({"stream": "trade_updates", "data": data})

    def _drain(self) -> None:
        """Move the backend's new events into the stream log (called under the lock).

        Also runs the server-held order logic: a fill of one OCO leg cancels the other, an
        OTO parent that is done activates (or cancels) its held leg.
        """
        for _ in range(100):
            events = self.backend.poll_events()
            if not events:
                return
            for ev in events:
                self._on_event(ev)

    def _on_event(self, ev: OrderEvent) -> None:
        coid = ev.client_order_id
        report = self.backend.get_order_by_client_id(coid)
        if report is None:
            return
        m = self._meta.get(coid)
        if isinstance(ev, OrderFilled):
            f = ev.fill
            done = self._fill_qty.get(coid, Decimal(0)) + f.quantity
            self._fill_qty[coid] = done
            event = "fill" if done >= report.quantity else "partial_fill"
            pos = self._position_qty(f.ticker)
            self._emit(event, report, ev.ts_event, execution_id=uid("fill", f.fill_id),
                       price=num_str(f.price), qty=num_str(f.quantity), position_qty=num_str(pos))
            # the order as of this fill (later fills may already be applied)
            self._events[-1]["data"]["order"]["filled_qty"] = num_str(done)
            self._activities.append({
                "id": f"{ev.ts_event.strftime('%Y%m%d%H%M%S%f')}::{uid('fill', f.fill_id)}",
                "activity_type": "FILL", "transaction_time": iso(ev.ts_event), "type": event,
                "price": num_str(f.price), "qty": num_str(f.quantity), "side": f.side.value,
                "symbol": f.ticker, "leaves_qty": num_str(report.quantity - done),
                "order_id": self._order_uuid(coid), "cum_qty": num_str(done),
                "order_status": "filled" if event == "fill" else "partially_filled"})
            if m is not None and m.order_class == "oco":
                for other in self._oco_group(coid):
                    if other != coid:
                        self._cancel_quietly(other)
        elif isinstance(ev, OrderStatusChanged):
            if m is not None and m.replaced_by is not None and \
                    ev.status is OrderStatus.CANCELED:
                self._emit("replaced", report, ev.ts_event)
            else:
                self._emit(ev.status.value, report, ev.ts_event)
            if m is not None and m.order_class == "oco" and ev.status.is_terminal:
                for other in self._oco_group(coid):
                    if other != coid:
                        self._cancel_quietly(other)
        if m is not None and m.legs and report.status.is_terminal:
            self._release_legs(report, m)

    def _oco_group(self, coid: str) -> list[str]:
        m = self._meta.get(coid)
        if m is None:
            return []
        root = m.parent or coid
        return [root, *self._m(root).legs]

    def _cancel_quietly(self, coid: str) -> None:
        r = self.backend.get_order_by_client_id(coid)
        if r is not None and r.status.is_open:
            self.backend.cancel_order(coid)

    def _release_legs(self, parent: OrderReport, m: OrderMeta) -> None:
        """An OTO parent is done: send its held leg for the filled quantity, or cancel it."""
        for leg_id in m.legs:
            leg = self._meta.get(leg_id)
            if leg is None or not leg.held or leg.request is None or \
                    leg.held_status is not OrderStatus.HELD:
                continue
            now = self.now()
            if parent.filled_qty > 0:
                req = attrs.evolve(leg.request, quantity=parent.filled_qty)
                leg.held = False
                try:
                    self.backend.submit_order(req)
                    leg.request = req
                except DomainError as exc:
                    leg.held, leg.held_status, leg.held_updated = True, \
                        OrderStatus.REJECTED, now
                    held = self._report(leg_id)
                    if held is not None:
                        self._emit("rejected", held, now, reason=str(exc))
            else:
                leg.held_status, leg.held_updated = OrderStatus.CANCELED, now
                held = self._report(leg_id)
                if held is not None:
                    self._emit("canceled", held, now)

    def _resolve_oco(self, ticker: str, o: float, h: float, lo: float) -> None:
        """Before a bar: when both legs of an OCO pair would trade in it, keep the stop.

        The exchange matches the two legs independently; like its brackets (stop first,
        the adverse case) the take-profit leg is canceled when the bar reaches both.
        """
        for coid in list(self._oco_open.get(ticker, ())):
            m = self._meta[coid]
            tp, sl = self.backend.get_order_by_client_id(coid), \
                self.backend.get_order_by_client_id(m.legs[0])
            if tp is None or sl is None or not tp.status.is_open or not sl.status.is_open:
                self._oco_open[ticker].discard(coid)
                continue
            if tp.limit_price is None or sl.stop_price is None:
                continue
            lim, stop = float(tp.limit_price), float(sl.stop_price)
            if tp.side is Side.SELL:
                both = max(o, h) >= lim and min(o, lo) <= stop
            else:
                both = min(o, lo) <= lim and max(o, h) >= stop
            if both:
                self.backend.cancel_order(coid)

    def _fill_now(self, report: OrderReport | None) -> None:
        """Trade a just-submitted market order at the last price when the market is open.

        The exchange only fills in bars that end after the submit, so the current price is
        fed to it as a one-price trade a microsecond later (working orders of the ticker see
        that price too, as they would on a real market).
        """
        on_price = getattr(self.backend, "on_price", None)
        if not self.fill_market_now or report is None or on_price is None or \
                report.order_type is not OrderType.MARKET or not report.status.is_open or \
                not self.backend.get_clock().is_open:
            return
        price = self._last_price(report.ticker)
        if price is None:
            return
        when = self.now() + timedelta(microseconds=1)
        self._tick_clock(when)
        on_price(report.ticker, float(price), when, 0.0)

    def _cancel_one(self, report: OrderReport) -> None:
        m = self._meta.get(report.client_order_id)
        if m is not None and m.held:
            m.held_status, m.held_updated = OrderStatus.CANCELED, self.now()
            self._emit("canceled", self._report(report.client_order_id) or report,
                       m.held_updated)
            return
        self.backend.cancel_order(report.client_order_id)
        for leg in (m.legs if m is not None else []):
            lm = self._meta[leg]
            if lm.held and lm.held_status is OrderStatus.HELD and report.filled_qty == 0:
                lm.held_status, lm.held_updated = OrderStatus.CANCELED, self.now()

