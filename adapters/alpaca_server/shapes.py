"""How the loopback server writes orders, positions, the account and assets as Alpaca JSON."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from adapters.alpaca_server.core import OrderMeta, ServerCore
from adapters.alpaca_server.wire import ACCOUNT_ID, ACCOUNT_NUMBER, iso, num_str, uid
from domain import fill_rules as fr
from domain.account import BrokerPosition
from domain.events import OrderStatus
from domain.orders import OrderReport
from domain.values import OrderType, Side


class JsonShapes(ServerCore):
    """Alpaca's JSON for the exchange's reports, plus what the server knows on top."""

    def _trail_state(self, r: OrderReport) -> tuple[Decimal | None, Decimal | None]:
        """Return the trailing stop's watermark and current stop price, when working."""
        for od in getattr(self.backend, "working_orders", lambda _t: [])(r.ticker):
            if getattr(od, "coid", None) != r.client_order_id:
                continue
            wm = float(od.wm)
            if math.isnan(wm):
                wm = float(od.ref)
            if wm <= 0.0:
                return None, None
            level = fr.trailing_level(od.sign, wm, od.trail_abs, od.trail_pct)
            return Decimal(repr(round(wm, 4))).normalize(), \
                Decimal(repr(round(level, 2))).normalize()
        return None, None

    def _order_json(self, r: OrderReport, *, nested: bool = True) -> dict[str, Any]:
        m = self._meta.get(r.client_order_id) or OrderMeta()
        req = m.request
        typ = r.order_type.value
        status = "replaced" if m.replaced_by is not None else r.status.value
        order_class = m.order_class or ("" if r.order_class.value == "simple"
                                        else r.order_class.value)
        legs: list[dict[str, Any]] | None = None
        if nested:
            subs = list(r.legs) or [x for c in m.legs if (x := self._report(c)) is not None]
            legs = [self._order_json(x) for x in subs] or None
        trail_price = req.trail_price if req is not None else None
        trail_percent = req.trail_percent if req is not None else None
        hwm, stop = (None, r.stop_price)
        if r.order_type is OrderType.TRAILING_STOP:
            hwm, stop = self._trail_state(r)
        updated = r.updated_at or r.created_at
        out: dict[str, Any] = {
            "id": self._order_uuid(r.client_order_id), "client_order_id": r.client_order_id,
            "created_at": iso(r.created_at), "updated_at": iso(m.replaced_at or updated),
            "submitted_at": iso(r.created_at),
            "filled_at": iso(updated) if r.status is OrderStatus.FILLED else None,
            "expired_at": iso(updated) if r.status is OrderStatus.EXPIRED else None,
            "expires_at": None,
            "canceled_at": iso(updated) if r.status is OrderStatus.CANCELED and
            m.replaced_by is None else None,
            "failed_at": iso(updated) if r.status is OrderStatus.REJECTED else None,
            "replaced_at": iso(m.replaced_at),
            "replaced_by": self._order_uuid(m.replaced_by) if m.replaced_by else None,
            "replaces": self._order_uuid(m.replaces) if m.replaces else None,
            "asset_id": uid("asset", r.ticker), "symbol": r.ticker, "asset_class": "us_equity",
            "notional": num_str(m.notional), "qty": None if m.notional is not None and
            r.filled_qty < r.quantity else num_str(r.quantity),
            "filled_qty": num_str(r.filled_qty), "filled_avg_price": num_str(r.filled_avg_price),
            "order_class": order_class, "order_type": typ, "type": typ, "side": r.side.value,
            "time_in_force": r.time_in_force.value, "limit_price": num_str(r.limit_price),
            "stop_price": num_str(stop), "status": status,
            "extended_hours": bool(req.extended_hours) if req is not None else False,
            "legs": legs, "trail_percent": num_str(trail_percent), "trail_price": num_str(trail_price),
            "hwm": num_str(hwm), "position_intent": None,
        }
        return self.order_hook(out) if self.order_hook is not None else out

    def _held_for_orders(self, ticker: str, qty: Decimal) -> Decimal:
        """Return the shares of a position that open exit orders already hold (like Alpaca).

        The legs of a bracket or OCO group hold the same shares once, not twice.
        """
        exit_side = Side.SELL if qty > 0 else Side.BUY
        held = Decimal(0)
        for r in self._top_reports():
            if r.ticker != ticker:
                continue
            m = self._meta.get(r.client_order_id) or OrderMeta()
            if m.parent is not None:
                continue  # counted with its group
            group = [r, *r.legs, *[x for c in m.legs if (x := self._report(c)) is not None]]
            leaves = [x.quantity - x.filled_qty for x in group
                      if x.side is exit_side and x.status.is_open and
                      x.status is not OrderStatus.HELD]
            if leaves:
                held += max(leaves)
        return min(held, abs(qty))

    def _position_json(self, p: BrokerPosition) -> dict[str, Any]:
        qty = p.quantity
        available = abs(qty) - self._held_for_orders(p.ticker, qty)
        cost = abs(qty) * p.avg_entry_price
        mv = p.market_value if p.market_value is not None else qty * p.avg_entry_price
        upl = p.unrealized_pnl if p.unrealized_pnl is not None else Decimal(0)
        return {
            "asset_id": uid("asset", p.ticker), "symbol": p.ticker, "exchange": "NASDAQ",
            "asset_class": "us_equity", "asset_marginable": True,
            "avg_entry_price": num_str(p.avg_entry_price), "qty": num_str(qty),
            "qty_available": num_str(available if qty > 0 else -available),
            "side": "long" if qty > 0 else "short",
            "market_value": num_str(mv), "cost_basis": num_str(cost), "unrealized_pl": num_str(upl),
            "unrealized_plpc": num_str(upl / cost if cost else Decimal(0)),
            "unrealized_intraday_pl": num_str(upl), "unrealized_intraday_plpc": "0",
            "current_price": num_str(p.current_price), "lastday_price": num_str(p.current_price),
            "change_today": "0",
        }

    def _account_json(self) -> dict[str, Any]:
        a = self.backend.get_account()
        return {
            "id": ACCOUNT_ID, "account_number": ACCOUNT_NUMBER, "status": "ACTIVE",
            "crypto_status": "ACTIVE", "currency": a.currency, "cash": num_str(a.cash),
            "buying_power": num_str(a.buying_power), "regt_buying_power": num_str(a.buying_power),
            "daytrading_buying_power": num_str(a.buying_power),
            "non_marginable_buying_power": num_str(a.buying_power),
            "equity": num_str(a.equity), "last_equity": num_str(a.equity),
            "portfolio_value": num_str(a.equity), "long_market_value": num_str(a.long_market_value),
            "short_market_value": num_str(a.short_market_value), "initial_margin": "0",
            "maintenance_margin": "0", "last_maintenance_margin": "0", "sma": "0",
            "daytrade_count": 0, "multiplier": "1", "pattern_day_trader": False,
            "trading_blocked": a.trading_blocked, "transfers_blocked": False,
            "account_blocked": False, "trade_suspended_by_user": False,
            "shorting_enabled": False, "created_at": "2024-01-01T00:00:00Z",
        }

    def _asset_json(self, symbol: str) -> dict[str, Any]:
        return {"id": uid("asset", symbol), "class": "us_equity", "exchange": "NASDAQ",
                "symbol": symbol, "name": symbol, "status": "active", "tradable": True,
                "marginable": True, "shortable": True, "easy_to_borrow": True,
                "fractionable": True, "maintenance_margin_requirement": 30,
                "attributes": []}

