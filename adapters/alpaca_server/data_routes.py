"""Stock market data v2 endpoints over the bars the server has seen (never the future)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from adapters.alpaca_server import marketdata as md
from adapters.alpaca_server.core import ServerCore
from adapters.alpaca_server.wire import not_found
from domain.market import Bar


class MarketDataRoutes(ServerCore):
    """Bars, trades, quotes, latest values and snapshots, paged like Alpaca."""

    def _known_bars(self, symbol: str) -> list[Bar]:
        """Return the bars of ``symbol`` up to the market's time (never the future)."""
        now = self.now()
        return [b for b in self._bars.get(symbol, []) if b.ts <= now]

    def _symbols(self, request: Request) -> list[str]:
        symbols = [s.strip() for s in request.query_params.get("symbols", "").split(",")
                   if s.strip()]
        if not symbols:
            raise md.BadParam("symbols", request.query_params.get("symbols"),
                              "a comma-separated list of tickers")
        return symbols

    def _series(self, request: Request, symbol: str, kind: str) -> list[Bar]:
        q = request.query_params
        start, end = md.parse_ts("start", q.get("start")), md.parse_ts("end", q.get("end"))
        bars = [b for b in self._known_bars(symbol)
                if (start is None or b.ts >= start) and (end is None or b.ts <= end)]
        if kind == "bars":
            bars = md.aggregate(bars, *md.parse_timeframe(q.get("timeframe")))
        return bars

    def _page(self, request: Request, items: list[tuple[str, dict[str, Any]]]
              ) -> tuple[list[tuple[str, dict[str, Any]]], str | None]:
        q = request.query_params
        limit = md.parse_int("limit", q.get("limit"), 1000, 1, 10000)
        sort = q.get("sort", "asc")
        if sort not in ("asc", "desc"):
            raise md.BadParam("sort", sort, "asc or desc")
        token = q.get("page_token")
        offset = 0
        if token:
            if not token.isdigit():
                raise md.BadParam("page_token", token, "a token from next_page_token")
            offset = int(token)
        if sort == "desc":
            items = list(reversed(items))
        page = items[offset:offset + limit]
        nxt = str(offset + limit) if offset + limit < len(items) else None
        return page, nxt

    def _multi(self, request: Request, kind: str) -> Response:
        shape = {"bars": md.bar_json, "trades": md.trade_json, "quotes": md.quote_json}[kind]
        items = [(s, shape(b)) for s in self._symbols(request)
                 for b in self._series(request, s, kind)]
        page, nxt = self._page(request, items)
        out: dict[str, list[dict[str, Any]]] = {}
        for s, row in page:
            out.setdefault(s, []).append(row)
        return JSONResponse({kind: out, "next_page_token": nxt})

    def _single(self, request: Request, kind: str) -> Response:
        symbol = request.path_params["symbol"]
        shape = {"bars": md.bar_json, "trades": md.trade_json, "quotes": md.quote_json}[kind]
        items = [(symbol, shape(b)) for b in self._series(request, symbol, kind)]
        page, nxt = self._page(request, items)
        return JSONResponse({kind: [row for _, row in page], "symbol": symbol,
                             "next_page_token": nxt})

    def _bars_ep(self, request: Request) -> Response:
        return self._multi(request, "bars")

    def _trades_ep(self, request: Request) -> Response:
        return self._multi(request, "trades")

    def _quotes_ep(self, request: Request) -> Response:
        return self._multi(request, "quotes")

    def _symbol_bars(self, request: Request) -> Response:
        return self._single(request, "bars")

    def _symbol_trades(self, request: Request) -> Response:
        return self._single(request, "trades")

    def _symbol_quotes(self, request: Request) -> Response:
        return self._single(request, "quotes")

    def _latest(self, request: Request, key: str,
                shape: Callable[[Bar], dict[str, Any]]) -> Response:
        out = {s: shape(bars[-1]) for s in self._symbols(request)
               if (bars := self._known_bars(s))}
        return JSONResponse({key: out})

    def _latest_bars(self, request: Request) -> Response:
        return self._latest(request, "bars", md.bar_json)

    def _latest_trades(self, request: Request) -> Response:
        return self._latest(request, "trades", md.trade_json)

    def _latest_quotes(self, request: Request) -> Response:
        return self._latest(request, "quotes", md.quote_json)

    def _symbol_latest(self, request: Request, key: str,
                       shape: Callable[[Bar], dict[str, Any]]) -> Response:
        symbol = request.path_params["symbol"]
        bars = self._known_bars(symbol)
        if not bars:
            raise not_found(f"no {key} found for {symbol}")
        return JSONResponse({"symbol": symbol, key: shape(bars[-1])})

    def _symbol_latest_bar(self, request: Request) -> Response:
        return self._symbol_latest(request, "bar", md.bar_json)

    def _symbol_latest_trade(self, request: Request) -> Response:
        return self._symbol_latest(request, "trade", md.trade_json)

    def _symbol_latest_quote(self, request: Request) -> Response:
        return self._symbol_latest(request, "quote", md.quote_json)

    def _snapshots(self, request: Request) -> Response:
        return JSONResponse({s: md.snapshot_json(bars) for s in self._symbols(request)
                             if (bars := self._known_bars(s))})

    def _symbol_snapshot(self, request: Request) -> Response:
        symbol = request.path_params["symbol"]
        bars = self._known_bars(symbol)
        if not bars:
            raise not_found(f"no snapshot found for {symbol}")
        return JSONResponse({"symbol": symbol, **md.snapshot_json(bars)})

