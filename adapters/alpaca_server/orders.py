"""The trading endpoints: ``/v2/orders`` (submit, list, get, cancel, replace) and ``/v2/positions``."""

from __future__ import annotations

from decimal import ROUND_DOWN
from typing import Any

import attrs
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from adapters.alpaca_server import marketdata as md
from adapters.alpaca_server.core import OrderMeta
from adapters.alpaca_server.matching import OrderMatching
from adapters.alpaca_server.wire import (
    NINE,
    ApiError,
    not_found,
    num_str,
    parse_bool,
    parse_dec,
    parse_price,
    uid,
    unprocessable,
)
from domain.account import BrokerPosition
from domain.commands import SubmitOrder
from domain.errors import (
    DomainError,
    DuplicateClientOrderId,
    InsufficientBuyingPower,
    MarketClosed,
    OrderRejected,
)
from domain.orders import OrderReport
from domain.values import OrderClass, OrderType, Side


class OrderRoutes(OrderMatching):
    """Order and position endpoints: notional, fractional, OCO/OTO orders, partial closes."""

    def _parse_order(self, body: dict[str, Any]) -> tuple[SubmitOrder, OrderMeta, list[SubmitOrder]]:
        """Build the exchange request(s) of a POST /v2/orders body (422 on bad input).

        Returns the primary request, its metadata and the server-held legs (OCO stop, OTO
        exit).
        """
        symbol = body.get("symbol")
        if not isinstance(symbol, str) or not symbol:
            raise unprocessable(f"invalid symbol {symbol!r}: expected a ticker string")
        order_class = body.get("order_class") or "simple"
        if order_class not in ("simple", "bracket", "oco", "oto"):
            raise unprocessable(f"invalid order_class {order_class!r}: expected simple, "
                                 "bracket, oco or oto")
        tp, sl = body.get("take_profit"), body.get("stop_loss")
        for name, leg in (("take_profit", tp), ("stop_loss", sl)):
            if leg is not None and not isinstance(leg, dict):
                raise unprocessable(f"invalid {name} {leg!r}: expected an object")
        tp, sl = tp or {}, sl or {}
        qty, notional = body.get("qty"), body.get("notional")
        if qty is not None and notional is not None:
            raise unprocessable("qty and notional are mutually exclusive")
        meta = OrderMeta(order_class=order_class if order_class in ("oco", "oto") else None)
        typ = body.get("type") or body.get("order_type") or "market"
        tif = body.get("time_in_force") or "day"
        if notional is not None:
            amount = parse_dec("notional", notional)
            if typ != "market" or tif != "day" or order_class != "simple":
                raise unprocessable("notional orders must be simple market day orders")
            price = self._last_price(symbol)
            if price is None or price <= 0:
                raise ApiError(403, 40310000, f"no price known for {symbol}: cannot size a "
                               "notional order")
            qty = (amount / price).quantize(NINE, rounding=ROUND_DOWN).normalize()
            meta.notional = amount
        if qty is None:
            raise unprocessable("qty or notional is required")
        quantity = parse_dec("qty", qty)
        if quantity != quantity.to_integral_value() and (
                tif != "day" or order_class != "simple" or typ == "trailing_stop"):
            raise unprocessable("fractional orders must be simple DAY orders of type "
                                     "market, limit, stop or stop_limit")
        cid = body.get("client_order_id") or self._next_cid()
        if not isinstance(cid, str) or len(cid) > 128:
            raise unprocessable(f"invalid client_order_id {cid!r}: expected a string of at "
                                 "most 128 characters")
        if cid in self._meta and self._meta[cid].held:
            raise DuplicateClientOrderId(cid)
        common: dict[str, Any] = {"ticker": symbol, "side": body.get("side"),
                                  "quantity": quantity}
        held: list[SubmitOrder] = []
        if order_class == "oco":
            if typ != "limit" or not tp or not sl:
                raise unprocessable("an oco order is a limit order with take_profit and "
                                     "stop_loss")
            req = SubmitOrder(client_order_id=cid, order_type="limit", time_in_force=tif,
                              limit_price=parse_price(tp.get("limit_price")), **common)
            held.append(SubmitOrder(
                client_order_id=uid("leg", cid), time_in_force=tif,
                order_type="stop_limit" if sl.get("limit_price") is not None else "stop",
                stop_price=parse_price(sl.get("stop_price")), limit_price=parse_price(sl.get("limit_price")),
                **common))
            return req, meta, held
        if order_class == "oto" and bool(tp) == bool(sl):
            raise unprocessable("an oto order needs exactly one of take_profit or stop_loss")
        req = SubmitOrder(
            client_order_id=cid, order_type=typ, time_in_force=tif,
            limit_price=parse_price(body.get("limit_price")), stop_price=parse_price(body.get("stop_price")),
            trail_price=parse_price(body.get("trail_price")),
            trail_percent=parse_price(body.get("trail_percent")),
            order_class="bracket" if order_class == "bracket" else "simple",
            take_profit_price=parse_price(tp.get("limit_price")) if order_class == "bracket" else None,
            stop_loss_price=parse_price(sl.get("stop_price")) if order_class == "bracket" else None,
            stop_loss_limit_price=parse_price(sl.get("limit_price")) if order_class == "bracket"
            else None,
            extended_hours=parse_bool("extended_hours", body.get("extended_hours")), **common)
        if order_class == "oto":
            exit_side = Side.SELL if req.side is Side.BUY else Side.BUY
            leg_common = {**common, "side": exit_side}
            if tp:
                held.append(SubmitOrder(client_order_id=uid("leg", cid), order_type="limit",
                                        time_in_force="gtc",
                                        limit_price=parse_price(tp.get("limit_price")), **leg_common))
            else:
                held.append(SubmitOrder(
                    client_order_id=uid("leg", cid), time_in_force="gtc",
                    order_type="stop_limit" if sl.get("limit_price") is not None else "stop",
                    stop_price=parse_price(sl.get("stop_price")),
                    limit_price=parse_price(sl.get("limit_price")), **leg_common))
        return req, meta, held

    def _post_order(self, request: Request) -> Response:
        self.post_orders += 1
        body = self._json_object(request)
        req, meta, legs = self._parse_order(body)
        meta.request = req
        try:
            report = self.backend.submit_order(req)
        except DuplicateClientOrderId:
            self.duplicate_posts += 1
            raise unprocessable("client_order_id must be unique") from None
        except InsufficientBuyingPower:
            raise ApiError(403, 40310000, "insufficient buying power") from None
        except MarketClosed as exc:
            raise ApiError(403, 40310000, f"market is closed: {exc.reason}") from None
        except OrderRejected as exc:
            raise unprocessable(str(exc.reason)) from None
        self._meta[req.client_order_id] = meta
        now = report.created_at or self.now()
        for leg in legs:
            lm = OrderMeta(request=leg, order_class=meta.order_class,
                       parent=req.client_order_id, held=meta.order_class == "oto")
            meta.legs.append(leg.client_order_id)
            self._meta[leg.client_order_id] = lm
            self._created[leg.client_order_id] = now
            if meta.order_class == "oco":
                try:
                    self.backend.submit_order(leg)
                except DomainError:
                    self.backend.cancel_order(req.client_order_id)
                    self._drain()
                    raise
        if meta.order_class == "oco":
            self._oco_open.setdefault(req.ticker, set()).add(req.client_order_id)
        self._fill_now(report)
        self._drain()
        fresh = self.backend.get_order_by_client_id(req.client_order_id) or report
        return JSONResponse(self._order_json(fresh))

    def _get_orders(self, request: Request) -> Response:
        q = request.query_params
        status = q.get("status", "open")
        if status not in ("open", "closed", "all"):
            raise md.BadParam("status", status, "open, closed or all")
        limit = md.parse_int("limit", q.get("limit"), 50, 1, 500)
        after, until = md.parse_ts("after", q.get("after")), md.parse_ts("until", q.get("until"))
        direction = q.get("direction", "desc")
        if direction not in ("asc", "desc"):
            raise md.BadParam("direction", direction, "asc or desc")
        side = q.get("side")
        if side not in (None, "buy", "sell"):
            raise md.BadParam("side", side, "buy or sell")
        nested = parse_bool("nested", q.get("nested"))
        symbols = {s.strip() for s in q.get("symbols", "").split(",") if s.strip()}
        rows: list[OrderReport] = []
        for r in self._top_reports():
            if (self._meta.get(r.client_order_id) or OrderMeta()).parent is not None and nested:
                continue
            rows.append(r)
            if not nested:
                rows.extend(r.legs)

        def keep(r: OrderReport) -> bool:
            created = r.created_at
            return ((status == "all" or r.status.is_open == (status == "open"))
                    and (not symbols or r.ticker in symbols)
                    and (side is None or r.side.value == side)
                    and (after is None or (created is not None and created > after))
                    and (until is None or (created is not None and created <= until)))

        rows = [r for r in rows if keep(r)]
        if direction == "asc":
            rows.reverse()
        return JSONResponse([self._order_json(r, nested=nested) for r in rows[:limit]])

    def _get_by_cid(self, request: Request) -> Response:
        cid = request.query_params.get("client_order_id", "")
        report = self._report(cid)
        if report is None:
            raise not_found("order not found")
        return JSONResponse(self._order_json(report))

    def _get_order(self, request: Request) -> Response:
        report = self._lookup(request.path_params["order_id"])
        nested = request.query_params.get("nested")
        return JSONResponse(self._order_json(report, nested=nested != "false"))

    def _cancel_order(self, request: Request) -> Response:
        report = self._lookup(request.path_params["order_id"])
        if not report.status.is_open:
            raise ApiError(422, 42210000, f"order is not cancelable (status {report.status})")
        self._cancel_one(report)
        self._drain()
        return Response(status_code=204)

    def _cancel_all(self, request: Request) -> Response:
        out = []
        for r in self._top_reports():
            if r.status.is_open:
                self._cancel_one(r)
                out.append({"id": self._order_uuid(r.client_order_id), "status": 200,
                            "body": None})
        self._drain()
        return JSONResponse(out, status_code=207)

    def _replace_order(self, request: Request) -> Response:
        old = self._lookup(request.path_params["order_id"])
        body = self._json_object(request)
        allowed = {"qty", "time_in_force", "limit_price", "stop_price", "trail",
                   "client_order_id"}
        unknown = sorted(set(body) - allowed)
        if unknown:
            raise unprocessable(f"unknown field(s) {unknown}; expected {sorted(allowed)}")
        m = self._meta.get(old.client_order_id)
        req = m.request if m is not None else None
        if req is None or m is None or m.held or m.order_class is not None or m.legs or \
                old.order_class is not OrderClass.SIMPLE:
            raise ApiError(422, 42210000, "order is not replaceable (only simple orders "
                           "placed through this server are)")
        if not old.status.is_open or old.filled_qty > 0:
            raise ApiError(422, 42210000, f"order is not replaceable (status {old.status}, "
                           f"filled {old.filled_qty})")
        cid = body.get("client_order_id") or self._next_cid()
        changes: dict[str, Any] = {"client_order_id": cid}
        if body.get("qty") is not None:
            changes["quantity"] = parse_dec("qty", body["qty"])
        if body.get("time_in_force") is not None:
            changes["time_in_force"] = body["time_in_force"]
        for name in ("limit_price", "stop_price"):
            if body.get(name) is not None:
                changes[name] = parse_price(body[name])
        if body.get("trail") is not None:
            if req.order_type is not OrderType.TRAILING_STOP:
                raise unprocessable("trail applies to trailing_stop orders only")
            field = "trail_percent" if req.trail_percent is not None else "trail_price"
            changes[field] = parse_price(body["trail"])
        new_req = attrs.evolve(req, **changes)  # validates like a new order (422)
        if new_req.quantity != new_req.quantity.to_integral_value() and (
                new_req.time_in_force.value != "day" or
                new_req.order_type is OrderType.TRAILING_STOP):
            raise unprocessable("fractional orders must be DAY orders of type market, limit, "
                                 "stop or stop_limit")
        if self._report(cid) is not None:
            raise unprocessable("client_order_id must be unique")
        self.backend.cancel_order(old.client_order_id)
        now = self.now()
        m.replaced_by, m.replaced_at = cid, now
        try:
            self.backend.submit_order(new_req)
        except DomainError as exc:
            m.replaced_by, m.replaced_at = None, None
            self._drain()
            raise ApiError(403 if isinstance(exc, InsufficientBuyingPower) else 422,
                           40310000 if isinstance(exc, InsufficientBuyingPower) else 40010001,
                           f"replacement refused, original order canceled: "
                           f"{getattr(exc, 'reason', exc)}") from None
        self._meta[cid] = OrderMeta(request=new_req, replaces=old.client_order_id)
        self._drain()
        report = self.backend.get_order_by_client_id(cid)
        assert report is not None  # noqa: S101 - just submitted
        return JSONResponse(self._order_json(report))

    # positions ---------------------------------------------------------------------------------
    def _get_positions(self, request: Request) -> Response:
        return JSONResponse([self._position_json(p) for p in self.backend.get_positions()])

    def _find_position(self, symbol_or_id: str) -> BrokerPosition | None:
        for p in self.backend.get_positions():
            if symbol_or_id in (p.ticker, uid("asset", p.ticker)):
                return p
        return None

    def _get_position(self, request: Request) -> Response:
        symbol = request.path_params["symbol"]
        p = self._find_position(symbol)
        if p is None:
            raise not_found(f"position does not exist: {symbol}")
        return JSONResponse(self._position_json(p))

    def _close_position(self, request: Request) -> Response:
        symbol = request.path_params["symbol"]
        q = request.query_params
        qty_s, pct_s = q.get("qty"), q.get("percentage")
        if qty_s is not None and pct_s is not None:
            raise unprocessable("only one of qty or percentage may be given")
        p = self._find_position(symbol)
        if p is None:
            raise not_found(f"position does not exist: {symbol}")
        held = abs(p.quantity)
        available = held - self._held_for_orders(p.ticker, p.quantity)
        if qty_s is None and pct_s is None:
            amount = held
        elif qty_s is not None:
            amount = parse_dec("qty", qty_s)
        else:
            pct = parse_dec("percentage", pct_s)
            if pct > 100:
                raise unprocessable(f"invalid percentage {pct_s!r}: expected 0 < p <= 100")
            amount = (held * pct / 100).quantize(NINE, rounding=ROUND_DOWN)
            if amount <= 0:
                raise unprocessable(f"percentage {pct_s} of {num_str(held)} shares is nothing")
        if amount > available:
            raise ApiError(403, 40310000, f"insufficient qty available for order "
                           f"(requested: {num_str(amount)}, available: {num_str(available)})")
        if amount == held:
            report = self.backend.close_position(p.ticker)
        else:
            side = Side.SELL if p.quantity > 0 else Side.BUY
            req = SubmitOrder(client_order_id=self._next_cid(), ticker=p.ticker, side=side,
                              quantity=amount)
            self._meta[req.client_order_id] = OrderMeta(request=req)
            report = self.backend.submit_order(req)
        if report is None:
            raise not_found(f"position does not exist: {symbol}")
        self._fill_now(report)
        self._drain()
        return JSONResponse(self._order_json(report))

    def _close_all(self, request: Request) -> Response:
        if parse_bool("cancel_orders", request.query_params.get("cancel_orders")):
            for r in self._top_reports():
                if r.status.is_open:
                    self._cancel_one(r)
        out = []
        for p in self.backend.get_positions():
            report = self.backend.close_position(p.ticker)
            if report is not None:
                self._fill_now(report)
                out.append({"symbol": p.ticker, "status": 200, "body": self._order_json(report)})
        self._drain()
        return JSONResponse(out, status_code=207)

