"""The loopback server's state and the bookkeeping every group of endpoints shares.

:class:`ServerCore` declares what :class:`~adapters.alpaca_server.server.AlpacaCompatServer`
holds (the exchange, the server-side order metadata, the stream log, bars, watchlists...) and
the helpers that read it; the endpoint groups (orders, account, market data, stream, request
guard) are mixins over it, each in its own module. Everything runs under ``lock``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

import attrs
from starlette.requests import Request

from adapters.alpaca_server.faults import FaultPlan
from adapters.alpaca_server.wire import ApiError, not_found, uid
from domain.account import BrokerPosition
from domain.clock import TestClock
from domain.commands import SubmitOrder
from domain.errors import OrderNotFound
from domain.events import OrderEvent, OrderStatus
from domain.market import Bar
from domain.orders import OrderReport


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


@attrs.define
class OrderMeta:
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


class ServerCore:
    """The server's state (assigned in ``AlpacaCompatServer.__init__``) and shared reads."""

    backend: Backend
    follow_wall_clock: bool
    order_hook: Callable[[dict[str, Any]], dict[str, Any]] | None
    faults: FaultPlan
    lock: threading.RLock
    rate_limit: int | None
    max_body: int
    control_token: str | None
    _buckets: dict[str, Any]  # API key -> its rate-limit bucket
    fill_market_now: bool
    _key: str | None
    _secret: str | None
    _stream_poll_s: float
    _reference_calendar: str
    _ref_sessions: Any
    _events: list[dict[str, Any]]  # the trade_updates log the stream serves from
    _bars: dict[str, list[Bar]]
    _ids: dict[str, str]  # order uuid -> client order id
    _meta: dict[str, OrderMeta]
    _created: dict[str, datetime]
    _oco_open: dict[str, set[str]]  # ticker -> OCO parents whose legs both work
    _fill_qty: dict[str, Decimal]
    _activities: list[dict[str, Any]]
    _equity: list[tuple[datetime, Decimal]]
    _configurations: dict[str, Any]
    _watchlists: dict[str, dict[str, Any]]
    _seq: int
    post_orders: int
    duplicate_posts: int
    stream_listeners: int
    requests: int

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

    # --- order bookkeeping -----------------------------------------------------------------
    def _m(self, coid: str) -> OrderMeta:
        m = self._meta.get(coid)
        if m is None:
            m = self._meta[coid] = OrderMeta()
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
        return uid("cid", f"{self._seq}-{time.time_ns()}")

    def _lookup(self, order_id: str) -> OrderReport:
        coid = self._ids.get(order_id)
        report = self._report(coid) if coid is not None else None
        if report is None:
            try:
                report = self.backend.get_order(order_id)
            except OrderNotFound:
                report = None
        if report is None:
            raise not_found("order not found")
        return report

    def _order_uuid(self, coid: str) -> str:
        u = uid("order", coid)
        self._ids[u] = coid
        return u

    def _position_qty(self, ticker: str) -> Decimal:
        for p in self.backend.get_positions():
            if p.ticker == ticker:
                return p.quantity
        return Decimal(0)

    def _last_price(self, symbol: str) -> Decimal | None:
        latest = getattr(self.backend, "latest_price", None)
        px = latest(symbol) if latest is not None else None
        if px is None and self._bars.get(symbol):
            px = Decimal(repr(self._bars[symbol][-1].close))
        return px

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

    def _symbols_known(self) -> list[str]:
        known = set(self._bars) | {p.ticker for p in self.backend.get_positions()}
        return sorted(known)

    def _authorized(self, key: str | None, secret: str | None) -> bool:
        if not key or not secret:
            return False
        if self._key is None:
            return True
        return key == self._key and secret == self._secret
