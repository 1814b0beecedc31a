"""Account endpoints: account, configurations, clock, calendar, assets, watchlists, history."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from adapters.alpaca_server import marketdata as md
from adapters.alpaca_server.shapes import JsonShapes
from adapters.alpaca_server.wire import ACCOUNT_ID, iso, not_found, uid, unprocessable
from adapters.simulated.sessions import sessions_for
from domain.market import MarketClock


class AccountRoutes(JsonShapes):
    """The account-level endpoints that neither place nor match orders."""

    # account, clock, calendar, assets -------------------------------------------------------
    def _get_account(self, request: Request) -> Response:
        return JSONResponse(self._account_json())

    def _get_configurations(self, request: Request) -> Response:
        return JSONResponse(self._configurations)

    def _patch_configurations(self, request: Request) -> Response:
        body = {k: v for k, v in self._json_object(request).items() if v is not None}
        unknown = sorted(set(body) - set(self._configurations))
        if unknown:
            raise unprocessable(f"unknown configuration field(s) {unknown}; expected "
                                 f"{sorted(self._configurations)}")
        self._configurations.update(body)
        return JSONResponse(self._configurations)

    def _sessions(self) -> Any:
        if self._ref_sessions is None:
            self._ref_sessions = sessions_for(self._reference_calendar)
        return self._ref_sessions

    def market_clock(self) -> MarketClock:
        """Return the clock; an always-open exchange gets real next open/close times."""
        c: MarketClock = self.backend.get_clock()
        if c.is_open and c.next_close <= c.timestamp:
            return md.always_open_clock(c.timestamp, self._sessions())
        return c

    def _get_clock(self, request: Request) -> Response:
        c = self.market_clock()
        return JSONResponse({"timestamp": iso(c.timestamp), "is_open": c.is_open,
                             "next_open": iso(c.next_open), "next_close": iso(c.next_close)})

    def _get_calendar(self, request: Request) -> Response:
        from adapters.data.calendar import get_calendar  # noqa: PLC0415 - slow import

        q = request.query_params
        today = self.now().astimezone(md.NEW_YORK).date()
        start = md.parse_date("start", q.get("start")) or today - timedelta(days=30)
        end = md.parse_date("end", q.get("end")) or today + timedelta(days=30)
        if end < start:
            raise md.BadParam("end", str(end), f"a date on or after start {start}")
        cal = get_calendar(self._reference_calendar, start=str(min(start, today)))
        return JSONResponse(md.calendar_rows(cal.schedule, start, end))

    def _get_assets(self, request: Request) -> Response:
        q = request.query_params
        status = q.get("status", "active")
        if status not in ("active", "inactive"):
            raise md.BadParam("status", status, "active or inactive")
        if q.get("asset_class", "us_equity") != "us_equity" or status == "inactive":
            return JSONResponse([])
        return JSONResponse([self._asset_json(s) for s in self._symbols_known()])

    def _resolve_symbol(self, symbol_or_id: str) -> str:
        for s in self._symbols_known():
            if symbol_or_id in (s, uid("asset", s)):
                return s
        return symbol_or_id

    def _get_asset(self, request: Request) -> Response:
        symbol = self._resolve_symbol(request.path_params["symbol_or_id"])
        if symbol not in self._symbols_known():
            raise not_found(f"asset not found for {symbol}")
        return JSONResponse(self._asset_json(symbol))

    # watchlists -----------------------------------------------------------------------------
    def _watchlist(self, wid: str) -> dict[str, Any]:
        wl = self._watchlists.get(wid)
        if wl is None:
            raise not_found(f"watchlist not found: {wid}")
        return wl

    def _watchlist_json(self, wl: dict[str, Any]) -> dict[str, Any]:
        return {**{k: v for k, v in wl.items() if k != "symbols"},
                "assets": [self._asset_json(s) for s in wl["symbols"]]}

    def _symbols_body(self, body: dict[str, Any], name: str = "symbols") -> list[str]:
        symbols = body.get(name) or []
        if not isinstance(symbols, list) or not all(isinstance(s, str) for s in symbols):
            raise unprocessable(f"invalid {name} {symbols!r}: expected a list of tickers")
        return [s.upper() for s in symbols]

    def _get_watchlists(self, request: Request) -> Response:
        return JSONResponse([{k: v for k, v in wl.items() if k != "symbols"}
                             for wl in self._watchlists.values()])

    def _create_watchlist(self, request: Request) -> Response:
        body = self._json_object(request)
        name = body.get("name")
        if not isinstance(name, str) or not name:
            raise unprocessable(f"invalid name {name!r}: expected a non-empty string")
        now = iso(self.now())
        wid = uid("watchlist", f"{name}-{len(self._watchlists)}")
        self._watchlists[wid] = {"id": wid, "account_id": ACCOUNT_ID, "name": name,
                                 "created_at": now, "updated_at": now,
                                 "symbols": self._symbols_body(body)}
        return JSONResponse(self._watchlist_json(self._watchlists[wid]))

    def _get_watchlist(self, request: Request) -> Response:
        return JSONResponse(self._watchlist_json(self._watchlist(request.path_params["wid"])))

    def _update_watchlist(self, request: Request) -> Response:
        wl = self._watchlist(request.path_params["wid"])
        body = self._json_object(request)
        if body.get("name") is not None:
            wl["name"] = str(body["name"])
        if body.get("symbols") is not None:
            wl["symbols"] = self._symbols_body(body)
        wl["updated_at"] = iso(self.now())
        return JSONResponse(self._watchlist_json(wl))

    def _add_to_watchlist(self, request: Request) -> Response:
        wl = self._watchlist(request.path_params["wid"])
        symbol = self._json_object(request).get("symbol")
        if not isinstance(symbol, str) or not symbol:
            raise unprocessable(f"invalid symbol {symbol!r}: expected a ticker")
        if symbol.upper() not in wl["symbols"]:
            wl["symbols"].append(symbol.upper())
        return JSONResponse(self._watchlist_json(wl))

    def _delete_watchlist(self, request: Request) -> Response:
        self._watchlist(request.path_params["wid"])
        del self._watchlists[request.path_params["wid"]]
        return Response(status_code=204)

    def _remove_from_watchlist(self, request: Request) -> Response:
        wl = self._watchlist(request.path_params["wid"])
        symbol = request.path_params["symbol"].upper()
        if symbol not in wl["symbols"]:
            raise not_found(f"{symbol} is not in watchlist {wl['id']}")
        wl["symbols"].remove(symbol)
        return JSONResponse(self._watchlist_json(wl))

    # account history ---------------------------------------------------------------------------
    def _portfolio_history(self, request: Request) -> Response:
        q = request.query_params
        amount, unit = md.parse_timeframe(q.get("timeframe") or "1D")
        end = md.parse_ts("end", q.get("end")) or self.now()
        start = md.parse_ts("start", q.get("start"))
        period = q.get("period")
        if start is None and period:
            n, kind = period[:-1], period[-1:]
            days = {"D": 1, "W": 7, "M": 30, "A": 365}.get(kind)
            if not n.isdigit() or days is None:
                raise md.BadParam("period", period, "<number><D|W|M|A>, e.g. 1M")
            start = end - timedelta(days=int(n) * days)
        points: list[tuple[datetime, Decimal]] = []
        keys: list[tuple[int, ...]] = []
        base: Decimal | None = None
        for ts, eq in self._equity:
            if (start is not None and ts < start) or ts > end:
                continue
            base = eq if base is None else base
            k = md.bucket(ts, amount, unit)
            if keys and keys[-1] == k:
                points[-1] = (points[-1][0], eq)  # the bucket's last equity
            else:
                keys.append(k)
                points.append((ts, eq))
        if base is None:
            base = self.backend.get_account().equity
        return JSONResponse({
            "timestamp": [int(ts.timestamp()) for ts, _ in points],
            "equity": [float(eq) for _, eq in points],
            "profit_loss": [float(eq - base) for _, eq in points],
            "profit_loss_pct": [float((eq - base) / base) if base else 0.0 for _, eq in points],
            "base_value": float(base), "timeframe": q.get("timeframe") or "1D"})

    def _activities_ep(self, request: Request) -> Response:
        q = request.query_params
        kinds = {request.path_params["activity_type"]} if "activity_type" in \
            request.path_params else {k for k in q.get("activity_types", "").split(",") if k}
        day = md.parse_date("date", q.get("date"))
        after, until = md.parse_ts("after", q.get("after")), md.parse_ts("until", q.get("until"))
        direction = q.get("direction", "desc")
        if direction not in ("asc", "desc"):
            raise md.BadParam("direction", direction, "asc or desc")
        size = md.parse_int("page_size", q.get("page_size"), 100, 1, 100)
        rows = []
        for a in self._activities:
            t = md.parse_ts("transaction_time", a["transaction_time"])
            assert t is not None  # noqa: S101 - written by the server
            if (kinds and a["activity_type"] not in kinds) or \
                    (day is not None and t.astimezone(md.NEW_YORK).date() != day) or \
                    (after is not None and t <= after) or (until is not None and t > until):
                continue
            rows.append(a)
        if direction == "desc":
            rows.reverse()
        token = q.get("page_token")
        if token:
            ids = [a["id"] for a in rows]
            if token not in ids:
                raise md.BadParam("page_token", token, "the id of an activity")
            rows = rows[ids.index(token) + 1:]
        return JSONResponse(rows[:size])

