"""A loopback Alpaca-compatible server: the trading API v2, stock data v2 and the stream.

It puts Alpaca's HTTP shape (paths, JSON with numbers as strings, ``{"code", "message"}``
errors with Alpaca's status codes, the ``client_order_id`` uniqueness rule) in front of any
in-process exchange that implements :class:`application.ports.BrokerPort` plus a bar driver
(``on_bar(ticker, ts_ns, o, h, l, c, v)`` like :class:`adapters.simulated.SimulatedExchange`,
the default, or ``bar(...)`` like :class:`adapters.memory.FakeBroker`), and injects seeded
faults (:mod:`adapters.alpaca_server.faults`).

What the exchange does not know, the server adds on top: one-cancels-other and
one-triggers-other orders (the exchange only has brackets), order replacement, notional
orders, partial position closes, trailing-stop state, assets, the calendar, watchlists,
account activities and portfolio history, request-rate and body-size limits.

Point alpaca-py at it with ``TradingClient(key, secret, url_override=server.base_url)``,
``StockHistoricalDataClient(key, secret, url_override=server.base_url)`` and
``TradingStream(key, secret, url_override=server.stream_url)``.

Besides Alpaca's endpoints it serves a few of its own under ``/_sim`` (guarded by the API key
when one is set, and by a control token when one is given): ``POST /_sim/bar`` (advance a
ticker by one bar), ``GET /_sim/orders`` (every order, for audits), ``POST /_sim/faults``
(change fault rates).
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any, Protocol

import attrs
import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from adapters.alpaca_server import marketdata as md
from adapters.alpaca_server.faults import REST_AFTER, REST_BEFORE, FaultPlan, FaultSpecError
from adapters.simulated.sessions import ns_from_dt, sessions_for
from domain import fill_rules as fr
from domain.account import BrokerPosition
from domain.clock import TestClock
from domain.commands import SubmitOrder
from domain.errors import (
    DomainError,
    DuplicateClientOrderId,
    InsufficientBuyingPower,
    MarketClosed,
    OrderNotFound,
    OrderRejected,
)
from domain.events import OrderEvent, OrderFilled, OrderStatus, OrderStatusChanged
from domain.market import Bar, MarketClock
from domain.orders import OrderReport
from domain.values import OrderClass, OrderType, Side

_NS = uuid.UUID("8a3c1f9e-0c7b-4f0e-9b61-6f3d2f1a7c55")
ACCOUNT_ID = str(uuid.uuid5(_NS, "account"))
ACCOUNT_NUMBER = "SIMLOOPBACK1"
MAX_BODY_BYTES = 1_000_000
_NINE = Decimal("0.000000001")


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


_iso = md.iso


class ApiError(Exception):
    """An answer in Alpaca's error shape: HTTP ``status`` and body ``{code, message}``."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _err(status: int, code: int, message: str, headers: dict[str, str] | None = None
         ) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status, headers=headers)


def _unprocessable(message: str) -> ApiError:
    return ApiError(422, 40010001, message)


def _not_found(message: str) -> ApiError:
    return ApiError(404, 40410000, message)


class _Dropped(Exception):
    """Raised inside the ASGI app to make uvicorn cut a half-sent response."""


async def _drop(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"512")]})
    await send({"type": "http.response.body", "body": b'{"id": "', "more_body": True})
    raise _Dropped("fault injection: connection dropped")


@attrs.define
class _Meta:
    """What the server knows of an order beyond the exchange's report."""

    request: SubmitOrder | None = None
    notional: Decimal | None = None
    order_class: str | None = None  # "oco" / "oto" (the exchange holds them as simple orders)
    legs: list[str] = attrs.field(factory=list)  # client order ids of the server-held legs
    parent: str | None = None
    held: bool = False  # an OTO leg the server keeps until its parent is done
    held_status: OrderStatus = OrderStatus.HELD
    held_updated: datetime | None = None
    replaced_by: str | None = None
    replaced_at: datetime | None = None
    replaces: str | None = None


@attrs.define
class _Bucket:
    """A token bucket of ``per_minute`` requests (Alpaca: 200 a minute per account)."""

    per_minute: int
    tokens: float = attrs.field(init=False)
    stamp: float = attrs.field(init=False, factory=time.monotonic)

    def __attrs_post_init__(self) -> None:
        self.tokens = float(self.per_minute)

    def take(self) -> tuple[bool, int, int]:
        """Spend one request; return ``(allowed, remaining, seconds until full)``."""
        now = time.monotonic()
        rate = self.per_minute / 60.0
        self.tokens = min(float(self.per_minute), self.tokens + (now - self.stamp) * rate)
        self.stamp = now
        ok = self.tokens >= 1.0
        if ok:
            self.tokens -= 1.0
        reset = int((self.per_minute - self.tokens) / rate) + 1
        return ok, int(self.tokens), reset


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
    rate_limit
        Requests per minute per key before 429 answers (Alpaca: 200); None: no limit.
    max_body
        Largest request body in bytes (413 beyond it).
    control_token
        When set, ``/_sim/*`` requests must carry it in ``X-Sim-Control-Token``.
    fill_market_now
        Fill market orders submitted while the market is open at once, at the last known
        price, like Alpaca does during a session (history replay); when False they wait for
        the next bar (the exchange's rule: the next bar's open).
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
        rate_limit: int | None = None,
        max_body: int = MAX_BODY_BYTES,
        control_token: str | None = None,
        reference_calendar: str = "XNYS",
        fill_market_now: bool = False,
    ) -> None:
        self.backend: Backend = backend if backend is not None else default_exchange()
        self.follow_wall_clock = follow_wall_clock
        self.order_hook = order_hook
        self.faults = faults if isinstance(faults, FaultPlan) else FaultPlan.parse(faults)
        self._key = api_key
        self._secret = secret_key
        self._stream_poll_s = stream_poll_s
        self.rate_limit = rate_limit
        self.max_body = max_body
        self.control_token = control_token
        self._reference_calendar = reference_calendar
        self.fill_market_now = fill_market_now
        self._ref_sessions: Any = None
        self._buckets: dict[str, _Bucket] = {}
        self.lock = threading.RLock()
        self._events: list[dict[str, Any]] = []
        self._bars: dict[str, list[Bar]] = {}
        self._ids: dict[str, str] = {}  # order uuid -> client order id
        self._meta: dict[str, _Meta] = {}
        self._created: dict[str, datetime] = {}
        self._oco_open: dict[str, set[str]] = {}  # ticker -> OCO parents whose legs both work
        self._fill_qty: dict[str, Decimal] = {}
        self._activities: list[dict[str, Any]] = []
        self._equity: list[tuple[datetime, Decimal]] = []
        self._configurations: dict[str, Any] = {
            "dtbp_check": "entry", "trade_confirm_email": "all", "suspend_trade": False,
            "no_shorting": False, "fractional_trading": True, "max_margin_multiplier": "1",
            "pdt_check": "entry", "ptp_no_exception_entry": False}
        self._watchlists: dict[str, dict[str, Any]] = {}
        self._seq = 0
        self.post_orders = 0  # POST /v2/orders received (for audits)
        self.duplicate_posts = 0  # of which refused: client_order_id already taken
        self.stream_listeners = 0  # trade_updates subscriptions so far
        self.requests = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.host = "127.0.0.1"
        self.port = 0
        self._equity.append((self.now(), self.backend.get_account().equity))
        self.app = Starlette(routes=self._routes(), exception_handlers={
            HTTPException: self._http_error, Exception: self._internal_error})

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

    def now(self) -> datetime:
        """Return the market's time (the exchange's clock)."""
        return self.backend.get_clock().timestamp  # type: ignore[no-any-return]

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

    # --- order bookkeeping ----------------------------------------------------------------
    def _m(self, coid: str) -> _Meta:
        m = self._meta.get(coid)
        if m is None:
            m = self._meta[coid] = _Meta()
        return m

    def _report(self, coid: str) -> OrderReport | None:
        m = self._meta.get(coid)
        if m is not None and m.held and m.request is not None:
            r = m.request
            created = self._created.get(coid)
            return OrderReport(
                client_order_id=coid, broker_order_id=f"held-{coid}", ticker=r.ticker,
                side=r.side, quantity=r.quantity, order_type=r.order_type,
                status=m.held_status, limit_price=r.limit_price, stop_price=r.stop_price,
                time_in_force=r.time_in_force, created_at=created,
                updated_at=m.held_updated or created)
        return self.backend.get_order_by_client_id(coid)

    def _top_reports(self) -> list[OrderReport]:
        """Return every top-level order (the exchange's and the held legs), newest first."""
        reports = list(self.backend.list_orders("all"))
        reports += [r for c, m in self._meta.items() if m.held and (r := self._report(c))]
        epoch = datetime(1970, 1, 1, tzinfo=UTC)
        return sorted(reports, key=lambda r: r.created_at or epoch, reverse=True)

    def _next_cid(self) -> str:
        self._seq += 1
        return _uid("cid", f"{self._seq}-{time.time_ns()}")

    def _lookup(self, order_id: str) -> OrderReport:
        coid = self._ids.get(order_id)
        report = self._report(coid) if coid is not None else None
        if report is None:
            try:
                report = self.backend.get_order(order_id)
            except OrderNotFound:
                report = None
        if report is None:
            raise _not_found("order not found")
        return report

    # --- JSON shapes ---------------------------------------------------------------------
    def _order_uuid(self, coid: str) -> str:
        u = _uid("order", coid)
        self._ids[u] = coid
        return u

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
        m = self._meta.get(r.client_order_id) or _Meta()
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
            "created_at": _iso(r.created_at), "updated_at": _iso(m.replaced_at or updated),
            "submitted_at": _iso(r.created_at),
            "filled_at": _iso(updated) if r.status is OrderStatus.FILLED else None,
            "expired_at": _iso(updated) if r.status is OrderStatus.EXPIRED else None,
            "expires_at": None,
            "canceled_at": _iso(updated) if r.status is OrderStatus.CANCELED and
            m.replaced_by is None else None,
            "failed_at": _iso(updated) if r.status is OrderStatus.REJECTED else None,
            "replaced_at": _iso(m.replaced_at),
            "replaced_by": self._order_uuid(m.replaced_by) if m.replaced_by else None,
            "replaces": self._order_uuid(m.replaces) if m.replaces else None,
            "asset_id": _uid("asset", r.ticker), "symbol": r.ticker, "asset_class": "us_equity",
            "notional": _s(m.notional), "qty": None if m.notional is not None and
            r.filled_qty < r.quantity else _s(r.quantity),
            "filled_qty": _s(r.filled_qty), "filled_avg_price": _s(r.filled_avg_price),
            "order_class": order_class, "order_type": typ, "type": typ, "side": r.side.value,
            "time_in_force": r.time_in_force.value, "limit_price": _s(r.limit_price),
            "stop_price": _s(stop), "status": status,
            "extended_hours": bool(req.extended_hours) if req is not None else False,
            "legs": legs, "trail_percent": _s(trail_percent), "trail_price": _s(trail_price),
            "hwm": _s(hwm), "position_intent": None,
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
            m = self._meta.get(r.client_order_id) or _Meta()
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
            "asset_id": _uid("asset", p.ticker), "symbol": p.ticker, "exchange": "NASDAQ",
            "asset_class": "us_equity", "asset_marginable": True,
            "avg_entry_price": _s(p.avg_entry_price), "qty": _s(qty),
            "qty_available": _s(available if qty > 0 else -available),
            "side": "long" if qty > 0 else "short",
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
    def _emit(self, event: str, report: OrderReport, ts: datetime | None,
              **extra: Any) -> None:
        data: dict[str, Any] = {"event": event, "timestamp": _iso(ts),
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
            self._emit(event, report, ev.ts_event, execution_id=_uid("fill", f.fill_id),
                       price=_s(f.price), qty=_s(f.quantity), position_qty=_s(pos))
            # the order as of this fill (later fills may already be applied)
            self._events[-1]["data"]["order"]["filled_qty"] = _s(done)
            self._activities.append({
                "id": f"{ev.ts_event.strftime('%Y%m%d%H%M%S%f')}::{_uid('fill', f.fill_id)}",
                "activity_type": "FILL", "transaction_time": _iso(ev.ts_event), "type": event,
                "price": _s(f.price), "qty": _s(f.quantity), "side": f.side.value,
                "symbol": f.ticker, "leaves_qty": _s(report.quantity - done),
                "order_id": self._order_uuid(coid), "cum_qty": _s(done),
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

    def _release_legs(self, parent: OrderReport, m: _Meta) -> None:
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

    def _position_qty(self, ticker: str) -> Decimal:
        for p in self.backend.get_positions():
            if p.ticker == ticker:
                return p.quantity
        return Decimal(0)

    # --- routes ----------------------------------------------------------------------------
    def _routes(self) -> list[Route | WebSocketRoute]:
        h = self._handler
        w = True
        return [
            Route("/v2/account", h(self._get_account)),
            Route("/v2/account/configurations", h(self._get_configurations)),
            Route("/v2/account/configurations", h(self._patch_configurations, write=w),
                  methods=["PATCH"]),
            Route("/v2/account/portfolio/history", h(self._portfolio_history)),
            Route("/v2/account/activities", h(self._activities_ep)),
            Route("/v2/account/activities/{activity_type}", h(self._activities_ep)),
            Route("/v2/clock", h(self._get_clock)),
            Route("/v2/calendar", h(self._get_calendar)),
            Route("/v2/assets", h(self._get_assets)),
            Route("/v2/assets/{symbol_or_id}", h(self._get_asset)),
            Route("/v2/orders", h(self._post_order, write=w), methods=["POST"]),
            Route("/v2/orders", h(self._get_orders), methods=["GET"]),
            Route("/v2/orders", h(self._cancel_all, write=w), methods=["DELETE"]),
            Route("/v2/orders:by_client_order_id", h(self._get_by_cid)),
            Route("/v2/orders/{order_id}", h(self._get_order), methods=["GET"]),
            Route("/v2/orders/{order_id}", h(self._replace_order, write=w), methods=["PATCH"]),
            Route("/v2/orders/{order_id}", h(self._cancel_order, write=w), methods=["DELETE"]),
            Route("/v2/positions", h(self._get_positions), methods=["GET"]),
            Route("/v2/positions", h(self._close_all, write=w), methods=["DELETE"]),
            Route("/v2/positions/{symbol}", h(self._get_position), methods=["GET"]),
            Route("/v2/positions/{symbol}", h(self._close_position, write=w),
                  methods=["DELETE"]),
            Route("/v2/watchlists", h(self._get_watchlists), methods=["GET"]),
            Route("/v2/watchlists", h(self._create_watchlist, write=w), methods=["POST"]),
            Route("/v2/watchlists/{wid}", h(self._get_watchlist), methods=["GET"]),
            Route("/v2/watchlists/{wid}", h(self._update_watchlist, write=w),
                  methods=["PUT"]),
            Route("/v2/watchlists/{wid}", h(self._add_to_watchlist, write=w),
                  methods=["POST"]),
            Route("/v2/watchlists/{wid}", h(self._delete_watchlist, write=w),
                  methods=["DELETE"]),
            Route("/v2/watchlists/{wid}/{symbol}", h(self._remove_from_watchlist, write=w),
                  methods=["DELETE"]),
            Route("/v2/stocks/bars", h(self._bars_ep)),
            Route("/v2/stocks/bars/latest", h(self._latest_bars)),
            Route("/v2/stocks/trades/latest", h(self._latest_trades)),
            Route("/v2/stocks/quotes/latest", h(self._latest_quotes)),
            Route("/v2/stocks/trades", h(self._trades_ep)),
            Route("/v2/stocks/quotes", h(self._quotes_ep)),
            Route("/v2/stocks/snapshots", h(self._snapshots)),
            Route("/v2/stocks/{symbol}/bars", h(self._symbol_bars)),
            Route("/v2/stocks/{symbol}/bars/latest", h(self._symbol_latest_bar)),
            Route("/v2/stocks/{symbol}/trades/latest", h(self._symbol_latest_trade)),
            Route("/v2/stocks/{symbol}/quotes/latest", h(self._symbol_latest_quote)),
            Route("/v2/stocks/{symbol}/trades", h(self._symbol_trades)),
            Route("/v2/stocks/{symbol}/quotes", h(self._symbol_quotes)),
            Route("/v2/stocks/{symbol}/snapshot", h(self._symbol_snapshot)),
            Route("/_sim/bar", self._control(self._sim_bar), methods=["POST"]),
            Route("/_sim/orders", self._control(self._sim_orders), methods=["GET"]),
            Route("/_sim/faults", self._control(self._sim_faults), methods=["POST"]),
            WebSocketRoute("/stream", self._stream),
            WebSocketRoute("/stream/", self._stream),
        ]

    async def _http_error(self, request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        if status == 404:
            return _err(404, 40410000, f"endpoint not found: {request.method} "
                        f"{request.url.path}")
        if status == 405:
            return _err(405, 40510000, f"method {request.method} not allowed on "
                        f"{request.url.path}")
        return _err(status, status * 100000, str(getattr(exc, "detail", "error")))

    async def _internal_error(self, request: Request, exc: Exception) -> Response:
        return _err(500, 50010000, f"internal server error: {type(exc).__name__}")

    def _authorized(self, key: str | None, secret: str | None) -> bool:
        if not key or not secret:
            return False
        if self._key is None:
            return True
        return key == self._key and secret == self._secret

    async def _read_body(self, request: Request) -> bytes:
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            raise ApiError(413, 41310000, f"request body too large ({length} bytes, at most "
                           f"{self.max_body})")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.max_body:
                raise ApiError(413, 41310000, f"request body too large (over {self.max_body} "
                               "bytes)")
            chunks.append(chunk)
        return b"".join(chunks)

    def _rate_check(self, key: str) -> tuple[dict[str, str], bool]:
        if self.rate_limit is None:
            return {}, True
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(self.rate_limit)
        ok, left, reset = bucket.take()
        headers = {"X-RateLimit-Limit": str(self.rate_limit),
                   "X-RateLimit-Remaining": str(left),
                   "X-RateLimit-Reset": str(int(time.time()) + reset)}
        return headers, ok

    def _handler(
        self, fn: Callable[[Request], Response], *, write: bool = False
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            self.requests += 1
            key = request.headers.get("APCA-API-KEY-ID")
            if not self._authorized(key, request.headers.get("APCA-API-SECRET-KEY")):
                return _err(401, 40110000, "request is not authorized")
            headers, allowed = self._rate_check(key or "")
            if not allowed:
                return _err(429, 42910000, "rate limit exceeded", headers)
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
            try:
                if request.method in ("POST", "PATCH", "PUT"):
                    request.state.body = await self._read_body(request)
                with self.lock:
                    self._tick_clock()
                    response = fn(request)
            except ApiError as exc:
                return _err(exc.status, exc.code, exc.message, headers)
            except md.BadParam as exc:
                return _err(400, 40010000, str(exc), headers)
            except (DomainError, ValueError, TypeError, KeyError, ArithmeticError) as exc:
                return _err(422, 40010001, str(exc), headers)
            response.headers.update(headers)
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

    def _control(self, fn: Callable[[Request], Awaitable[Response]]
                 ) -> Callable[[Request], Awaitable[Response]]:
        """Guard a ``/_sim`` endpoint: the API key when one is set, and the control token."""
        async def endpoint(request: Request) -> Response:
            if self._key is not None and not self._authorized(
                    request.headers.get("APCA-API-KEY-ID"),
                    request.headers.get("APCA-API-SECRET-KEY")):
                return _err(401, 40110000, "request is not authorized")
            if self.control_token is not None and \
                    request.headers.get("X-Sim-Control-Token") != self.control_token:
                return _err(403, 40310000, "X-Sim-Control-Token missing or wrong")
            try:
                if request.method == "POST":
                    request.state.body = await self._read_body(request)
                return await fn(request)
            except ApiError as exc:
                return _err(exc.status, exc.code, exc.message)
            except (ValueError, TypeError, KeyError, ArithmeticError, DomainError) as exc:
                return _err(422, 40010001, str(exc))

        return endpoint

    @staticmethod
    def _json_object(request: Request) -> dict[str, Any]:
        raw = getattr(request.state, "body", b"") or b""
        if not raw.strip():
            raise ApiError(400, 40010000, "request body must be a JSON object, got nothing")
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, 40010000, "request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise ApiError(400, 40010000, f"request body must be a JSON object, got "
                           f"{type(body).__name__}")
        return body

    # account, clock, calendar, assets -------------------------------------------------------
    def _get_account(self, request: Request) -> Response:
        return JSONResponse(self._account_json())

    def _get_configurations(self, request: Request) -> Response:
        return JSONResponse(self._configurations)

    def _patch_configurations(self, request: Request) -> Response:
        body = {k: v for k, v in self._json_object(request).items() if v is not None}
        unknown = sorted(set(body) - set(self._configurations))
        if unknown:
            raise _unprocessable(f"unknown configuration field(s) {unknown}; expected "
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
        return JSONResponse({"timestamp": _iso(c.timestamp), "is_open": c.is_open,
                             "next_open": _iso(c.next_open), "next_close": _iso(c.next_close)})

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

    def _symbols_known(self) -> list[str]:
        known = set(self._bars) | {p.ticker for p in self.backend.get_positions()}
        return sorted(known)

    def _asset_json(self, symbol: str) -> dict[str, Any]:
        return {"id": _uid("asset", symbol), "class": "us_equity", "exchange": "NASDAQ",
                "symbol": symbol, "name": symbol, "status": "active", "tradable": True,
                "marginable": True, "shortable": True, "easy_to_borrow": True,
                "fractionable": True, "maintenance_margin_requirement": 30,
                "attributes": []}

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
            if symbol_or_id in (s, _uid("asset", s)):
                return s
        return symbol_or_id

    def _get_asset(self, request: Request) -> Response:
        symbol = self._resolve_symbol(request.path_params["symbol_or_id"])
        if symbol not in self._symbols_known():
            raise _not_found(f"asset not found for {symbol}")
        return JSONResponse(self._asset_json(symbol))

    # orders -----------------------------------------------------------------------------------
    def _last_price(self, symbol: str) -> Decimal | None:
        latest = getattr(self.backend, "latest_price", None)
        px = latest(symbol) if latest is not None else None
        if px is None and self._bars.get(symbol):
            px = Decimal(repr(self._bars[symbol][-1].close))
        return px

    def _parse_order(self, body: dict[str, Any]) -> tuple[SubmitOrder, _Meta, list[SubmitOrder]]:
        """Build the exchange request(s) of a POST /v2/orders body (422 on bad input).

        Returns the primary request, its metadata and the server-held legs (OCO stop, OTO
        exit).
        """
        symbol = body.get("symbol")
        if not isinstance(symbol, str) or not symbol:
            raise _unprocessable(f"invalid symbol {symbol!r}: expected a ticker string")
        order_class = body.get("order_class") or "simple"
        if order_class not in ("simple", "bracket", "oco", "oto"):
            raise _unprocessable(f"invalid order_class {order_class!r}: expected simple, "
                                 "bracket, oco or oto")
        tp, sl = body.get("take_profit"), body.get("stop_loss")
        for name, leg in (("take_profit", tp), ("stop_loss", sl)):
            if leg is not None and not isinstance(leg, dict):
                raise _unprocessable(f"invalid {name} {leg!r}: expected an object")
        tp, sl = tp or {}, sl or {}
        qty, notional = body.get("qty"), body.get("notional")
        if qty is not None and notional is not None:
            raise _unprocessable("qty and notional are mutually exclusive")
        meta = _Meta(order_class=order_class if order_class in ("oco", "oto") else None)
        typ = body.get("type") or body.get("order_type") or "market"
        tif = body.get("time_in_force") or "day"
        if notional is not None:
            amount = _dec("notional", notional)
            if typ != "market" or tif != "day" or order_class != "simple":
                raise _unprocessable("notional orders must be simple market day orders")
            price = self._last_price(symbol)
            if price is None or price <= 0:
                raise ApiError(403, 40310000, f"no price known for {symbol}: cannot size a "
                               "notional order")
            qty = (amount / price).quantize(_NINE, rounding=ROUND_DOWN).normalize()
            meta.notional = amount
        if qty is None:
            raise _unprocessable("qty or notional is required")
        quantity = _dec("qty", qty)
        if quantity != quantity.to_integral_value() and (
                tif != "day" or order_class != "simple" or typ == "trailing_stop"):
            raise _unprocessable("fractional orders must be simple DAY orders of type "
                                     "market, limit, stop or stop_limit")
        cid = body.get("client_order_id") or self._next_cid()
        if not isinstance(cid, str) or len(cid) > 128:
            raise _unprocessable(f"invalid client_order_id {cid!r}: expected a string of at "
                                 "most 128 characters")
        if cid in self._meta and self._meta[cid].held:
            raise DuplicateClientOrderId(cid)
        common: dict[str, Any] = {"ticker": symbol, "side": body.get("side"),
                                  "quantity": quantity}
        held: list[SubmitOrder] = []
        if order_class == "oco":
            if typ != "limit" or not tp or not sl:
                raise _unprocessable("an oco order is a limit order with take_profit and "
                                     "stop_loss")
            req = SubmitOrder(client_order_id=cid, order_type="limit", time_in_force=tif,
                              limit_price=_num(tp.get("limit_price")), **common)
            held.append(SubmitOrder(
                client_order_id=_uid("leg", cid), time_in_force=tif,
                order_type="stop_limit" if sl.get("limit_price") is not None else "stop",
                stop_price=_num(sl.get("stop_price")), limit_price=_num(sl.get("limit_price")),
                **common))
            return req, meta, held
        if order_class == "oto" and bool(tp) == bool(sl):
            raise _unprocessable("an oto order needs exactly one of take_profit or stop_loss")
        req = SubmitOrder(
            client_order_id=cid, order_type=typ, time_in_force=tif,
            limit_price=_num(body.get("limit_price")), stop_price=_num(body.get("stop_price")),
            trail_price=_num(body.get("trail_price")),
            trail_percent=_num(body.get("trail_percent")),
            order_class="bracket" if order_class == "bracket" else "simple",
            take_profit_price=_num(tp.get("limit_price")) if order_class == "bracket" else None,
            stop_loss_price=_num(sl.get("stop_price")) if order_class == "bracket" else None,
            stop_loss_limit_price=_num(sl.get("limit_price")) if order_class == "bracket"
            else None,
            extended_hours=_bool("extended_hours", body.get("extended_hours")), **common)
        if order_class == "oto":
            exit_side = Side.SELL if req.side is Side.BUY else Side.BUY
            leg_common = {**common, "side": exit_side}
            if tp:
                held.append(SubmitOrder(client_order_id=_uid("leg", cid), order_type="limit",
                                        time_in_force="gtc",
                                        limit_price=_num(tp.get("limit_price")), **leg_common))
            else:
                held.append(SubmitOrder(
                    client_order_id=_uid("leg", cid), time_in_force="gtc",
                    order_type="stop_limit" if sl.get("limit_price") is not None else "stop",
                    stop_price=_num(sl.get("stop_price")),
                    limit_price=_num(sl.get("limit_price")), **leg_common))
        return req, meta, held

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

    def _post_order(self, request: Request) -> Response:
        self.post_orders += 1
        body = self._json_object(request)
        req, meta, legs = self._parse_order(body)
        meta.request = req
        try:
            report = self.backend.submit_order(req)
        except DuplicateClientOrderId:
            self.duplicate_posts += 1
            raise _unprocessable("client_order_id must be unique") from None
        except InsufficientBuyingPower:
            raise ApiError(403, 40310000, "insufficient buying power") from None
        except MarketClosed as exc:
            raise ApiError(403, 40310000, f"market is closed: {exc.reason}") from None
        except OrderRejected as exc:
            raise _unprocessable(str(exc.reason)) from None
        self._meta[req.client_order_id] = meta
        now = report.created_at or self.now()
        for leg in legs:
            lm = _Meta(request=leg, order_class=meta.order_class,
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
        nested = _bool("nested", q.get("nested"))
        symbols = {s.strip() for s in q.get("symbols", "").split(",") if s.strip()}
        rows: list[OrderReport] = []
        for r in self._top_reports():
            if (self._meta.get(r.client_order_id) or _Meta()).parent is not None and nested:
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
            raise _not_found("order not found")
        return JSONResponse(self._order_json(report))

    def _get_order(self, request: Request) -> Response:
        report = self._lookup(request.path_params["order_id"])
        nested = request.query_params.get("nested")
        return JSONResponse(self._order_json(report, nested=nested != "false"))

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
            raise _unprocessable(f"unknown field(s) {unknown}; expected {sorted(allowed)}")
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
            changes["quantity"] = _dec("qty", body["qty"])
        if body.get("time_in_force") is not None:
            changes["time_in_force"] = body["time_in_force"]
        for name in ("limit_price", "stop_price"):
            if body.get(name) is not None:
                changes[name] = _num(body[name])
        if body.get("trail") is not None:
            if req.order_type is not OrderType.TRAILING_STOP:
                raise _unprocessable("trail applies to trailing_stop orders only")
            field = "trail_percent" if req.trail_percent is not None else "trail_price"
            changes[field] = _num(body["trail"])
        new_req = attrs.evolve(req, **changes)  # validates like a new order (422)
        if new_req.quantity != new_req.quantity.to_integral_value() and (
                new_req.time_in_force.value != "day" or
                new_req.order_type is OrderType.TRAILING_STOP):
            raise _unprocessable("fractional orders must be DAY orders of type market, limit, "
                                 "stop or stop_limit")
        if self._report(cid) is not None:
            raise _unprocessable("client_order_id must be unique")
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
        self._meta[cid] = _Meta(request=new_req, replaces=old.client_order_id)
        self._drain()
        report = self.backend.get_order_by_client_id(cid)
        assert report is not None  # noqa: S101 - just submitted
        return JSONResponse(self._order_json(report))

    # positions ---------------------------------------------------------------------------------
    def _get_positions(self, request: Request) -> Response:
        return JSONResponse([self._position_json(p) for p in self.backend.get_positions()])

    def _find_position(self, symbol_or_id: str) -> BrokerPosition | None:
        for p in self.backend.get_positions():
            if symbol_or_id in (p.ticker, _uid("asset", p.ticker)):
                return p
        return None

    def _get_position(self, request: Request) -> Response:
        symbol = request.path_params["symbol"]
        p = self._find_position(symbol)
        if p is None:
            raise _not_found(f"position does not exist: {symbol}")
        return JSONResponse(self._position_json(p))

    def _close_position(self, request: Request) -> Response:
        symbol = request.path_params["symbol"]
        q = request.query_params
        qty_s, pct_s = q.get("qty"), q.get("percentage")
        if qty_s is not None and pct_s is not None:
            raise _unprocessable("only one of qty or percentage may be given")
        p = self._find_position(symbol)
        if p is None:
            raise _not_found(f"position does not exist: {symbol}")
        held = abs(p.quantity)
        available = held - self._held_for_orders(p.ticker, p.quantity)
        if qty_s is None and pct_s is None:
            amount = held
        elif qty_s is not None:
            amount = _dec("qty", qty_s)
        else:
            pct = _dec("percentage", pct_s)
            if pct > 100:
                raise _unprocessable(f"invalid percentage {pct_s!r}: expected 0 < p <= 100")
            amount = (held * pct / 100).quantize(_NINE, rounding=ROUND_DOWN)
            if amount <= 0:
                raise _unprocessable(f"percentage {pct_s} of {_s(held)} shares is nothing")
        if amount > available:
            raise ApiError(403, 40310000, f"insufficient qty available for order "
                           f"(requested: {_s(amount)}, available: {_s(available)})")
        if amount == held:
            report = self.backend.close_position(p.ticker)
        else:
            side = Side.SELL if p.quantity > 0 else Side.BUY
            req = SubmitOrder(client_order_id=self._next_cid(), ticker=p.ticker, side=side,
                              quantity=amount)
            self._meta[req.client_order_id] = _Meta(request=req)
            report = self.backend.submit_order(req)
        if report is None:
            raise _not_found(f"position does not exist: {symbol}")
        self._fill_now(report)
        self._drain()
        return JSONResponse(self._order_json(report))

    def _close_all(self, request: Request) -> Response:
        if _bool("cancel_orders", request.query_params.get("cancel_orders")):
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

    # watchlists -----------------------------------------------------------------------------
    def _watchlist(self, wid: str) -> dict[str, Any]:
        wl = self._watchlists.get(wid)
        if wl is None:
            raise _not_found(f"watchlist not found: {wid}")
        return wl

    def _watchlist_json(self, wl: dict[str, Any]) -> dict[str, Any]:
        return {**{k: v for k, v in wl.items() if k != "symbols"},
                "assets": [self._asset_json(s) for s in wl["symbols"]]}

    def _symbols_body(self, body: dict[str, Any], name: str = "symbols") -> list[str]:
        symbols = body.get(name) or []
        if not isinstance(symbols, list) or not all(isinstance(s, str) for s in symbols):
            raise _unprocessable(f"invalid {name} {symbols!r}: expected a list of tickers")
        return [s.upper() for s in symbols]

    def _get_watchlists(self, request: Request) -> Response:
        return JSONResponse([{k: v for k, v in wl.items() if k != "symbols"}
                             for wl in self._watchlists.values()])

    def _create_watchlist(self, request: Request) -> Response:
        body = self._json_object(request)
        name = body.get("name")
        if not isinstance(name, str) or not name:
            raise _unprocessable(f"invalid name {name!r}: expected a non-empty string")
        now = _iso(self.now())
        wid = _uid("watchlist", f"{name}-{len(self._watchlists)}")
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
        wl["updated_at"] = _iso(self.now())
        return JSONResponse(self._watchlist_json(wl))

    def _add_to_watchlist(self, request: Request) -> Response:
        wl = self._watchlist(request.path_params["wid"])
        symbol = self._json_object(request).get("symbol")
        if not isinstance(symbol, str) or not symbol:
            raise _unprocessable(f"invalid symbol {symbol!r}: expected a ticker")
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
            raise _not_found(f"{symbol} is not in watchlist {wl['id']}")
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

    # market data -------------------------------------------------------------------------------
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
            raise _not_found(f"no {key} found for {symbol}")
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
            raise _not_found(f"no snapshot found for {symbol}")
        return JSONResponse({"symbol": symbol, **md.snapshot_json(bars)})

    # simulator control ---------------------------------------------------------------------------
    async def _sim_bar(self, request: Request) -> Response:
        b = self._json_object(request)
        ts = md.parse_ts("t", b.get("t"))
        values = {}
        for name in ("o", "h", "l", "c"):
            values[name] = _float(name, b.get(name))
        volume = _float("v", b.get("v", 1_000_000))
        symbol = b.get("symbol")
        if not isinstance(symbol, str) or not symbol:
            raise _unprocessable(f"invalid symbol {symbol!r}: expected a ticker string")
        if not values["l"] <= min(values["o"], values["c"]) <= \
                max(values["o"], values["c"]) <= values["h"] or values["l"] <= 0:
            raise _unprocessable(f"invalid bar {values}: expected 0 < l <= o, c <= h")
        self.bar(symbol, values["o"], values["h"], values["l"], values["c"], volume, ts=ts)
        return JSONResponse({"ok": True})

    async def _sim_orders(self, request: Request) -> Response:
        return JSONResponse(self.all_orders())

    async def _sim_faults(self, request: Request) -> Response:
        spec = (getattr(request.state, "body", b"") or b"").decode("utf-8", "replace")
        try:
            self.faults = FaultPlan.parse(spec)
        except FaultSpecError as exc:
            raise _unprocessable(str(exc)) from None
        return JSONResponse({"rates": self.faults.rates, "seed": self.faults.seed})

    # trade-updates stream --------------------------------------------------------------------------
    async def _stream(self, ws: WebSocket) -> None:
        await ws.accept()
        try:
            auth = _frame_json(await ws.receive())
            if not isinstance(auth, dict):
                await ws.send_bytes(json.dumps({"stream": "authorization", "data": {
                    "action": "authenticate", "status": "unauthorized",
                    "message": "first message must be a JSON authenticate action"}}).encode())
                await ws.close(code=1003)
                return
            data = auth.get("data")
            data = data if isinstance(data, dict) else {}
            ok = auth.get("action") in ("authenticate", "auth") and self._authorized(
                data.get("key_id"), data.get("secret_key"))
            await ws.send_bytes(json.dumps({"stream": "authorization", "data": {
                "action": "authenticate", "status": "authorized" if ok else "unauthorized"}}
            ).encode())
            if not ok:
                await ws.close(code=1008)
                return
            with self.lock:
                cursor = len(self._events)  # like Alpaca: only what happens from now on
            listening = False
            while True:
                try:
                    frame = await asyncio.wait_for(ws.receive(), timeout=self._stream_poll_s)
                    if frame.get("type") == "websocket.disconnect":
                        return
                    msg = _frame_json(frame)
                    if not isinstance(msg, dict):
                        await ws.send_bytes(json.dumps({"stream": "listening", "data": {
                            "error": "invalid message: expected a JSON object"}}).encode())
                    elif msg.get("action") == "listen":
                        d = msg.get("data")
                        d = d if isinstance(d, dict) else {}
                        streams = [s for s in (d.get("streams") or []) if isinstance(s, str)]
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


def _frame_json(frame: Mapping[str, Any]) -> Any:
    """Return a websocket frame's JSON (text or bytes), or None when it is not JSON."""
    text = frame.get("text")
    raw = text if isinstance(text, str) else (frame.get("bytes") or b"")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None


def _dec(name: str, value: Any) -> Decimal:
    """Read a positive decimal field (numbers arrive as JSON numbers or strings)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise _unprocessable(f"invalid {name} {value!r}: expected a positive number")
    try:
        d = Decimal(str(value).strip())
    except InvalidOperation:
        raise _unprocessable(f"invalid {name} {value!r}: expected a positive number") from None
    if not d.is_finite() or d <= 0:
        raise _unprocessable(f"invalid {name} {value!r}: expected a positive number")
    return d


def _num(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise _unprocessable(f"invalid price {value!r}: expected a number")
    return str(value)


def _float(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise _unprocessable(f"invalid {name} {value!r}: expected a number")
    try:
        f = float(value)
    except ValueError:
        raise _unprocessable(f"invalid {name} {value!r}: expected a number") from None
    if not math.isfinite(f) or f < 0:
        raise _unprocessable(f"invalid {name} {value!r}: expected a finite number >= 0")
    return f


def _bool(name: str, value: Any) -> bool:
    if value is None or value == "":
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise _unprocessable(f"invalid {name} {value!r}: expected true or false")


__all__ = ["ACCOUNT_ID", "ACCOUNT_NUMBER", "AlpacaCompatServer", "ApiError", "default_exchange"]
