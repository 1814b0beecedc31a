"""A loopback Alpaca-compatible server: the REST endpoints and trade-updates WebSocket of alpaca-py.

It puts Alpaca's HTTP shape (paths, JSON with numbers as strings, error codes, the
``client_order_id`` uniqueness rule) in front of any in-process exchange that implements
:class:`application.ports.BrokerPort` plus a bar driver (``on_bar(ticker, ts_ns, o, h, l, c,
v)`` like :class:`adapters.simulated.SimulatedExchange`, the default, or ``bar(...)`` like
:class:`adapters.memory.FakeBroker`), and injects seeded faults
(:mod:`adapters.alpaca_server.faults`).

Point alpaca-py at it with ``TradingClient(key, secret, url_override=server.base_url)``,
``StockHistoricalDataClient(key, secret, url_override=server.base_url)`` and
``TradingStream(key, secret, url_override=server.stream_url)``.

Besides Alpaca's endpoints it serves a few of its own under ``/_sim`` (no auth on loopback):
``POST /_sim/bar`` (advance a ticker by one bar), ``GET /_sim/orders`` (every order, for
audits), ``POST /_sim/faults`` (change fault rates).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from adapters.alpaca_server.faults import REST_AFTER, REST_BEFORE, FaultPlan
from adapters.simulated.sessions import ns_from_dt
from domain.account import BrokerPosition
from domain.clock import TestClock
from domain.commands import SubmitOrder
from domain.errors import (
    DomainError,
    DuplicateClientOrderId,
    InsufficientBuyingPower,
    InvalidInput,
    MarketClosed,
    OrderNotFound,
    OrderRejected,
)
from domain.events import OrderEvent, OrderFilled, OrderStatus, OrderStatusChanged
from domain.ids import digest
from domain.market import Bar
from domain.orders import OrderReport

_NS = uuid.UUID("8a3c1f9e-0c7b-4f0e-9b61-6f3d2f1a7c55")
ACCOUNT_ID = str(uuid.uuid5(_NS, "account"))
ACCOUNT_NUMBER = "SIMLOOPBACK1"


class Backend(Protocol):
    """What the server needs from an exchange: the broker port plus a bar driver."""

    def submit_order(self, request: SubmitOrder) -> OrderReport: ...
    def cancel_order(self, client_order_id: str) -> None: ...
    def get_order(self, broker_order_id: str) -> OrderReport: ...
    def get_order_by_client_id(self, client_order_id: str) -> OrderReport | None: ...
    def list_orders(self, status: Any = "open") -> list[OrderReport]: ...
    def get_positions(self) -> list[BrokerPosition]: ...
    def get_account(self) -> Any: ...
    def close_position(self, ticker: str) -> OrderReport | None: ...
    def get_clock(self) -> Any: ...
    def poll_events(self) -> list[OrderEvent]: ...


def default_exchange(starting_cash: Decimal = Decimal(100_000), *, calendar: str | None = None,
                     start: datetime | None = None, participation: float | None = None,
                     **config: Any) -> Any:
    """Return the simulated exchange the server uses by default (always open, no volume cap)."""
    from adapters.simulated import ExchangeConfig, SimulatedExchange  # noqa: PLC0415

    clock = TestClock(start or datetime(2024, 1, 2, 14, 30, tzinfo=UTC))
    return SimulatedExchange(ExchangeConfig(starting_cash=starting_cash, calendar=calendar,
                                            participation=participation, **config), clock=clock)


def _uid(kind: str, value: str) -> str:
    return str(uuid.uuid5(_NS, f"{kind}:{value}"))


def _s(v: Decimal | None) -> str | None:
    return None if v is None else format(v.normalize(), "f")


def _iso(ts: datetime | None) -> str | None:
    return None if ts is None else ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _err(status: int, code: int, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status)


class _Dropped(Exception):
    """Raised inside the ASGI app to make uvicorn cut a half-sent response."""


async def _drop(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"512")]})
    await send({"type": "http.response.body", "body": b'{"id": "', "more_body": True})
    raise _Dropped("fault injection: connection dropped")


class AlpacaCompatServer:
    """Serve an exchange over Alpaca's REST + stream protocol; start it with :meth:`start`.

    Parameters
    ----------
    backend
        The exchange (:func:`default_exchange` when None: 100,000 starting cash).
    faults
        A :class:`FaultPlan` or a spec string; nothing is injected by default.
    api_key, secret_key
        When set, requests must carry exactly these credentials (401 otherwise); when None any
        non-empty key is accepted.
    """

    def __init__(
        self,
        backend: Backend | None = None,
        faults: FaultPlan | str | None = None,
        *,
        api_key: str | None = None,
        secret_key: str | None = None,
        stream_poll_s: float = 0.02,
        follow_wall_clock: bool = False,
        order_hook: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> None:
        self.backend: Backend = backend if backend is not None else default_exchange()
        self.follow_wall_clock = follow_wall_clock
        self.order_hook = order_hook
        self.faults = faults if isinstance(faults, FaultPlan) else FaultPlan.parse(faults)
        self._key = api_key
        self._secret = secret_key
        self._stream_poll_s = stream_poll_s
        self.lock = threading.RLock()
        self._events: list[dict[str, Any]] = []
        self._bars: dict[str, list[Bar]] = {}
        self._uuid_to_bid: dict[str, str] = {}
        self._fill_qty: dict[str, Decimal] = {}
        self.post_orders = 0  # POST /v2/orders received (for audits)
        self.duplicate_posts = 0  # of which refused: client_order_id already taken
        self.stream_listeners = 0  # trade_updates subscriptions so far
        self.requests = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.host = "127.0.0.1"
        self.port = 0
        self.app = Starlette(routes=self._routes())

    # --- lifecycle ----------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """Return the REST base URL to give alpaca-py's ``url_override``."""
        return f"http://{self.host}:{self.port}"

    @property
    def stream_url(self) -> str:
        """Return the trade-updates WebSocket URL to give ``TradingStream(url_override=...)``."""
        return f"ws://{self.host}:{self.port}/stream"

    def start(self, host: str = "127.0.0.1", port: int = 0, timeout: float = 10.0) -> None:
        """Serve in a background thread; ``port=0`` picks a free ephemeral port."""
        config = uvicorn.Config(self.app, host=host, port=port, log_level="critical",
                                ws="websockets-sansio", lifespan="off", access_log=False,
                                timeout_graceful_shutdown=1)
        server = uvicorn.Server(config)
        self._server = server
        self._thread = threading.Thread(target=server.run, name="alpaca-sim-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"sim server did not start on {host}:{port}")
            time.sleep(0.01)
        self.host = host
        self.port = server.servers[0].sockets[0].getsockname()[1]

    def serve_forever(self, host: str = "127.0.0.1", port: int = 8765) -> None:
        """Serve in the calling thread until interrupted (the ``catalyst sim-server`` command)."""
        self.host, self.port = host, port
        uvicorn.run(self.app, host=host, port=port, log_level="warning",
                    ws="websockets-sansio", lifespan="off")

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    # --- market driver (tests, /_sim/bar) -------------------------------------------------
    def _tick_clock(self, to: datetime | None = None) -> None:
        clock = getattr(self.backend, "clock", None)
        if not isinstance(clock, TestClock):
            return
        target = to or (datetime.now(UTC) if self.follow_wall_clock else None)
        if target is not None and target > clock.now():
            clock.set(target)

    def bar(self, ticker: str, open_: float, high: float, low: float, close: float,
            volume: float = 1_000_000, ts: datetime | None = None) -> None:
        """Advance ``ticker`` by one bar ending at ``ts`` (default: now on the backend's clock).

        Working orders match against it and their fills go to the trade-updates stream.
        """
        with self.lock:
            self._tick_clock()
            when = ts or self.backend.get_clock().timestamp
            self._tick_clock(when)
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
            return [self._order_json(r) for r in reversed(self.backend.list_orders("all"))]

    # --- JSON shapes ---------------------------------------------------------------------
    def _order_uuid(self, report: OrderReport) -> str:
        u = _uid("order", report.broker_order_id)
        self._uuid_to_bid[u] = report.broker_order_id
        return u

    def _order_json(self, r: OrderReport) -> dict[str, Any]:
        typ = r.order_type.value
        status = r.status.value
        out: dict[str, Any] = {
            "id": self._order_uuid(r), "client_order_id": r.client_order_id,
            "created_at": _iso(r.created_at), "updated_at": _iso(r.updated_at or r.created_at),
            "submitted_at": _iso(r.created_at),
            "filled_at": _iso(r.updated_at) if r.status is OrderStatus.FILLED else None,
            "expired_at": None, "expires_at": None,
            "canceled_at": _iso(r.updated_at) if r.status is OrderStatus.CANCELED else None,
            "failed_at": None, "replaced_at": None, "replaced_by": None, "replaces": None,
            "asset_id": _uid("asset", r.ticker), "symbol": r.ticker, "asset_class": "us_equity",
            "notional": None, "qty": _s(r.quantity), "filled_qty": _s(r.filled_qty),
            "filled_avg_price": _s(r.filled_avg_price),
            "order_class": "" if r.order_class.value == "simple" else r.order_class.value,
            "order_type": typ, "type": typ, "side": r.side.value,
            "time_in_force": r.time_in_force.value, "limit_price": _s(r.limit_price),
            "stop_price": _s(r.stop_price), "status": status, "extended_hours": False,
            "legs": [self._order_json(leg) for leg in r.legs] or None,
            "trail_percent": None, "trail_price": None, "hwm": None,
            "position_intent": None,
        }
        return self.order_hook(out) if self.order_hook is not None else out

    @staticmethod
    def _position_json(p: BrokerPosition) -> dict[str, Any]:
        qty = p.quantity
        cost = abs(qty) * p.avg_entry_price
        mv = p.market_value if p.market_value is not None else qty * p.avg_entry_price
        upl = p.unrealized_pnl if p.unrealized_pnl is not None else Decimal(0)
        return {
            "asset_id": _uid("asset", p.ticker), "symbol": p.ticker, "exchange": "NASDAQ",
            "asset_class": "us_equity", "asset_marginable": True,
            "avg_entry_price": _s(p.avg_entry_price), "qty": _s(qty),
            "qty_available": _s(qty), "side": "long" if qty > 0 else "short",
            "market_value": _s(mv), "cost_basis": _s(cost), "unrealized_pl": _s(upl),
            "unrealized_plpc": _s(upl / cost if cost else Decimal(0)),
            "unrealized_intraday_pl": _s(upl), "unrealized_intraday_plpc": "0",
            "current_price": _s(p.current_price), "lastday_price": _s(p.current_price),
            "change_today": "0",
        }

    def _account_json(self) -> dict[str, Any]:
        a = self.backend.get_account()
        return {
            "id": ACCOUNT_ID, "account_number": ACCOUNT_NUMBER, "status": "ACTIVE",
            "crypto_status": "ACTIVE", "currency": a.currency, "cash": _s(a.cash),
            "buying_power": _s(a.buying_power), "regt_buying_power": _s(a.buying_power),
            "daytrading_buying_power": _s(a.buying_power),
            "non_marginable_buying_power": _s(a.buying_power),
            "equity": _s(a.equity), "last_equity": _s(a.equity),
            "portfolio_value": _s(a.equity), "long_market_value": _s(a.long_market_value),
            "short_market_value": _s(a.short_market_value), "initial_margin": "0",
            "maintenance_margin": "0", "last_maintenance_margin": "0", "sma": "0",
            "daytrade_count": 0, "multiplier": "1", "pattern_day_trader": False,
            "trading_blocked": a.trading_blocked, "transfers_blocked": False,
            "account_blocked": False, "trade_suspended_by_user": False,
            "shorting_enabled": False, "created_at": "2024-01-01T00:00:00Z",
        }

    # --- events -> trade_updates ---------------------------------------------------------
    def _drain(self) -> None:
        """Move the backend's new events into the stream log (called under the lock)."""
        for ev in self.backend.poll_events():
            report = self.backend.get_order_by_client_id(ev.client_order_id)
            if report is None:
                continue
            data: dict[str, Any] = {"timestamp": _iso(ev.ts_event),
                                    "order": self._order_json(report)}
            if isinstance(ev, OrderFilled):
                f = ev.fill
                done = self._fill_qty.get(f.client_order_id, Decimal(0)) + f.quantity
                self._fill_qty[f.client_order_id] = done
                data.update(
                    event="fill" if done >= report.quantity else "partial_fill",
                    execution_id=_uid("fill", f.fill_id), price=_s(f.price), qty=_s(f.quantity),
                    position_qty=_s(self._position_qty(f.ticker)))
                # the order as of this fill (later fills may already be applied)
                data["order"]["filled_qty"] = _s(done)
            elif isinstance(ev, OrderStatusChanged):
                data["event"] = ev.status.value
            else:
                continue
            self._events.append({"stream": "trade_updates", "data": data})

    def _position_qty(self, ticker: str) -> Decimal:
        for p in self.backend.get_positions():
            if p.ticker == ticker:
                return p.quantity
        return Decimal(0)

    # --- routes ----------------------------------------------------------------------------
    def _routes(self) -> list[Route | WebSocketRoute]:
        h = self._handler
        return [
            Route("/v2/account", h(self._get_account)),
            Route("/v2/clock", h(self._get_clock)),
            Route("/v2/orders", h(self._post_order, write=True), methods=["POST"]),
            Route("/v2/orders", h(self._get_orders), methods=["GET"]),
            Route("/v2/orders", h(self._cancel_all, write=True), methods=["DELETE"]),
            Route("/v2/orders:by_client_order_id", h(self._get_by_cid)),
            Route("/v2/orders/{order_id}", h(self._get_order), methods=["GET"]),
            Route("/v2/orders/{order_id}", h(self._cancel_order, write=True),
                  methods=["DELETE"]),
            Route("/v2/positions", h(self._get_positions), methods=["GET"]),
            Route("/v2/positions", h(self._close_all, write=True), methods=["DELETE"]),
            Route("/v2/positions/{symbol}", h(self._get_position), methods=["GET"]),
            Route("/v2/positions/{symbol}", h(self._close_position, write=True),
                  methods=["DELETE"]),
            Route("/v2/stocks/bars", h(self._bars_ep)),
            Route("/v2/stocks/bars/latest", h(self._latest_bar)),
            Route("/v2/stocks/trades/latest", h(self._latest_trade)),
            Route("/_sim/bar", self._sim_bar, methods=["POST"]),
            Route("/_sim/orders", self._sim_orders, methods=["GET"]),
            Route("/_sim/faults", self._sim_faults, methods=["POST"]),
            WebSocketRoute("/stream", self._stream),
        ]

    def _authorized(self, key: str | None, secret: str | None) -> bool:
        if not key or not secret:
            return False
        if self._key is None:
            return True
        return key == self._key and secret == self._secret

    def _handler(
        self, fn: Callable[[Request], Response], *, write: bool = False
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            self.requests += 1
            if not self._authorized(request.headers.get("APCA-API-KEY-ID"),
                                    request.headers.get("APCA-API-SECRET-KEY")):
                return _err(401, 40110000, "request is not authorized")
            faultable = (self.faults.all_paths or request.url.path not in ("/v2/account",
                                                                           "/v2/clock")) and \
                (self.faults.only is None or self.faults.only == request.method)
            order_read = request.method == "GET" and \
                request.url.path.startswith(("/v2/orders:", "/v2/orders/"))
            kinds = REST_BEFORE if order_read else tuple(k for k in REST_BEFORE
                                                          if k != "stale_404")
            fault = self.faults.draw(kinds) if faultable else None
            if fault == "stale_404":
                return _err(404, 40410000, "order not found")
            if fault == "429":
                return _err(429, 42910000, "rate limit exceeded")
            if fault in ("500", "503"):
                return _err(int(fault), 50010000, "internal server error")
            if fault == "drop":
                return _DropResponse()
            if fault == "delay_before":
                await asyncio.sleep(self.faults.delay)
            if request.method == "POST":
                request.state.body = await request.body()
            with self.lock:
                self._tick_clock()
                response = fn(request)
            after = self.faults.draw(REST_AFTER) if faultable and write else None
            if after in ("500_after", "504_after"):
                return _err(int(after[:3]), 50010000, "gateway timeout" if after[:3] == "504"
                            else "internal server error")
            if after == "delay_after":
                await asyncio.sleep(self.faults.delay)
            if after == "drop_after":
                return _DropResponse()
            return response

        return endpoint

    # account, clock --------------------------------------------------------------------------
    def _get_account(self, request: Request) -> Response:
        return JSONResponse(self._account_json())

    def _get_clock(self, request: Request) -> Response:
        c = self.backend.get_clock()
        return JSONResponse({"timestamp": _iso(c.timestamp), "is_open": c.is_open,
                             "next_open": _iso(c.next_open), "next_close": _iso(c.next_close)})

    # orders -----------------------------------------------------------------------------------
    def _post_order(self, request: Request) -> Response:
        self.post_orders += 1
        try:
            body = json.loads(request.state.body or b"{}")
            req = _submit_from_json(body, self.post_orders)
        except (ValueError, TypeError, KeyError) as exc:
            return _err(422, 40010001, str(exc))
        try:
            report = self.backend.submit_order(req)
        except DuplicateClientOrderId:
            self.duplicate_posts += 1
            return _err(422, 40010001, "client_order_id must be unique")
        except InsufficientBuyingPower:
            return _err(403, 40310000, "insufficient buying power")
        except MarketClosed as exc:
            return _err(403, 40310000, f"market is closed: {exc.reason}")
        except (OrderRejected, InvalidInput) as exc:
            return _err(422, 40010001, str(getattr(exc, "reason", exc)))
        self._drain()
        return JSONResponse(self._order_json(report))

    def _get_orders(self, request: Request) -> Response:
        status = request.query_params.get("status", "open")
        if status not in ("open", "closed", "all"):
            return _err(422, 40010001, f"invalid status {status!r}")
        limit = int(request.query_params.get("limit") or 50)
        reports = self.backend.list_orders(status)
        symbols = request.query_params.get("symbols")
        if symbols:
            wanted = set(symbols.split(","))
            reports = [r for r in reports if r.ticker in wanted]
        if request.query_params.get("direction") == "asc":
            reports = list(reversed(reports))
        return JSONResponse([self._order_json(r) for r in reports[: max(1, min(limit, 500))]])

    def _get_by_cid(self, request: Request) -> Response:
        cid = request.query_params.get("client_order_id", "")
        report = self.backend.get_order_by_client_id(cid)
        if report is None:
            return _err(404, 40410000, "order not found")
        return JSONResponse(self._order_json(report))

    def _lookup(self, order_id: str) -> OrderReport | None:
        bid = self._uuid_to_bid.get(order_id, order_id)
        try:
            return self.backend.get_order(bid)
        except OrderNotFound:
            return None

    def _get_order(self, request: Request) -> Response:
        report = self._lookup(request.path_params["order_id"])
        if report is None:
            return _err(404, 40410000, "order not found")
        return JSONResponse(self._order_json(report))

    def _cancel_order(self, request: Request) -> Response:
        report = self._lookup(request.path_params["order_id"])
        if report is None:
            return _err(404, 40410000, "order not found")
        if not report.status.is_open:
            return _err(422, 42210000, f"order is not cancelable (status {report.status})")
        self.backend.cancel_order(report.client_order_id)
        self._drain()
        return Response(status_code=204)

    def _cancel_all(self, request: Request) -> Response:
        out = []
        for r in self.backend.list_orders("open"):
            self.backend.cancel_order(r.client_order_id)
            out.append({"id": self._order_uuid(r), "status": 200, "body": None})
        self._drain()
        return JSONResponse(out, status_code=207)

    # positions ---------------------------------------------------------------------------------
    def _get_positions(self, request: Request) -> Response:
        return JSONResponse([self._position_json(p) for p in self.backend.get_positions()])

    def _get_position(self, request: Request) -> Response:
        symbol = request.path_params["symbol"]
        for p in self.backend.get_positions():
            if p.ticker == symbol:
                return JSONResponse(self._position_json(p))
        return _err(404, 40410000, f"position does not exist: {symbol}")

    def _close_position(self, request: Request) -> Response:
        symbol = request.path_params["symbol"]
        try:
            report = self.backend.close_position(symbol)
        except DomainError as exc:
            return _err(403, 40310000, str(exc))
        if report is None:
            return _err(404, 40410000, f"position does not exist: {symbol}")
        self._drain()
        return JSONResponse(self._order_json(report))

    def _close_all(self, request: Request) -> Response:
        if request.query_params.get("cancel_orders", "false").lower() == "true":
            for r in self.backend.list_orders("open"):
                self.backend.cancel_order(r.client_order_id)
        out = []
        for p in self.backend.get_positions():
            report = self.backend.close_position(p.ticker)
            if report is not None:
                out.append({"symbol": p.ticker, "status": 200, "body": self._order_json(report)})
        self._drain()
        return JSONResponse(out, status_code=207)

    # market data -------------------------------------------------------------------------------
    @staticmethod
    def _bar_json(b: Bar) -> dict[str, Any]:
        return {"t": _iso(b.ts), "o": b.open, "h": b.high, "l": b.low, "c": b.close,
                "v": b.volume, "n": 1, "vw": b.close}

    def _symbols(self, request: Request) -> list[str]:
        return [s for s in request.query_params.get("symbols", "").split(",") if s]

    def _bars_ep(self, request: Request) -> Response:
        start = _parse_ts(request.query_params.get("start"))
        end = _parse_ts(request.query_params.get("end"))
        out: dict[str, list[dict[str, Any]]] = {}
        for sym in self._symbols(request):
            bars = [b for b in self._bars.get(sym, [])
                    if (start is None or b.ts >= start) and (end is None or b.ts <= end)]
            if bars:
                out[sym] = [self._bar_json(b) for b in bars]
        return JSONResponse({"bars": out, "next_page_token": None})

    def _latest_bar(self, request: Request) -> Response:
        out = {s: self._bar_json(self._bars[s][-1]) for s in self._symbols(request)
               if self._bars.get(s)}
        return JSONResponse({"bars": out})

    def _latest_trade(self, request: Request) -> Response:
        out = {}
        for s in self._symbols(request):
            if self._bars.get(s):
                b = self._bars[s][-1]
                out[s] = {"t": _iso(b.ts), "x": "V", "p": b.close, "s": 100, "c": ["@"],
                          "i": int(digest(s, b.ts, length=8), 16), "z": "C"}
        return JSONResponse({"trades": out})

    # simulator control ---------------------------------------------------------------------------
    async def _sim_bar(self, request: Request) -> Response:
        b = json.loads(await request.body())
        ts = _parse_ts(b.get("t"))
        self.bar(str(b["symbol"]), float(b["o"]), float(b["h"]), float(b["l"]), float(b["c"]),
                 float(b.get("v", 1_000_000)), ts=ts)
        return JSONResponse({"ok": True})

    async def _sim_orders(self, request: Request) -> Response:
        return JSONResponse(self.all_orders())

    async def _sim_faults(self, request: Request) -> Response:
        spec = (await request.body()).decode()
        self.faults = FaultPlan.parse(spec)
        return JSONResponse({"rates": self.faults.rates, "seed": self.faults.seed})

    # trade-updates stream --------------------------------------------------------------------------
    async def _stream(self, ws: WebSocket) -> None:
        await ws.accept()
        try:
            auth = json.loads(await ws.receive_text())
            data = auth.get("data") or {}
            ok = auth.get("action") in ("authenticate", "auth") and self._authorized(
                data.get("key_id"), data.get("secret_key"))
            await ws.send_bytes(json.dumps({"stream": "authorization", "data": {
                "action": "authenticate", "status": "authorized" if ok else "unauthorized"}}
            ).encode())
            if not ok:
                await ws.close()
                return
            with self.lock:
                cursor = len(self._events)  # like Alpaca: only what happens from now on
            listening = False
            while True:
                try:
                    raw = await asyncio.wait_for(ws.receive_text(), timeout=self._stream_poll_s)
                    msg = json.loads(raw)
                    if msg.get("action") == "listen":
                        streams = (msg.get("data") or {}).get("streams") or []
                        listening = "trade_updates" in streams
                        self.stream_listeners += listening
                        await ws.send_bytes(json.dumps({"stream": "listening",
                                                        "data": {"streams": streams}}).encode())
                except TimeoutError:
                    pass
                if not listening:
                    continue
                with self.lock:
                    new, cursor = self._events[cursor:], len(self._events)
                for ev in new:
                    fault = self.faults.draw(("gap", "ws_drop"))
                    if fault == "gap":
                        continue
                    await ws.send_bytes(json.dumps(ev).encode())
                    if fault == "ws_drop":
                        await ws.close()
                        return
        except (WebSocketDisconnect, RuntimeError):
            return


class _DropResponse(Response):
    def __init__(self) -> None:
        super().__init__(status_code=200)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await _drop(scope, receive, send)


def _parse_ts(value: Any) -> datetime | None:
    if not value:
        return None
    ts = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)


def _num(value: Any) -> Any:
    return None if value is None else str(value)


def _submit_from_json(body: dict[str, Any], seq: int) -> SubmitOrder:
    """Build the domain request from Alpaca's POST /v2/orders payload (422 on bad input)."""
    if body.get("notional") is not None:
        raise ValueError("notional orders are not supported by the loopback server")
    if body.get("qty") is None:
        raise ValueError("qty is required")
    order_class = body.get("order_class") or "simple"
    tp = body.get("take_profit") or {}
    sl = body.get("stop_loss") or {}
    cid = body.get("client_order_id") or _uid("cid", f"{seq}-{time.time_ns()}")
    return SubmitOrder(
        client_order_id=cid, ticker=body.get("symbol"), side=body.get("side"),
        quantity=_num(body.get("qty")), order_type=body.get("type") or "market",
        time_in_force=body.get("time_in_force") or "day",
        limit_price=_num(body.get("limit_price")), stop_price=_num(body.get("stop_price")),
        trail_price=_num(body.get("trail_price")), trail_percent=_num(body.get("trail_percent")),
        order_class=order_class, take_profit_price=_num(tp.get("limit_price")),
        stop_loss_price=_num(sl.get("stop_price")),
        stop_loss_limit_price=_num(sl.get("limit_price")),
        extended_hours=bool(body.get("extended_hours") or False),
    )
