"""BrokerPort on alpaca-py's TradingClient and TradingStream — never doubles an order.

Guarantees (see docs/alpaca.md):

* the SDK's own retries are switched off (``_retry = 0``, no retry codes), so alpaca-py sends
  every request exactly once; this adapter owns every retry;
* every HTTP call has a timeout (a mounted ``HTTPAdapter``; alpaca-py sets none);
* a submit whose outcome is unknown (timeout, connection error, 5xx, 429) is followed by a
  lookup by client order id; the order is re-sent only when the broker confirms it has no
  such order, and a 422 "client_order_id must be unique" on a re-send means "already placed";
* a token bucket keeps requests under Alpaca's 200/minute; retries back off with jitter;
* vendor errors become :mod:`domain.errors` with the credentials masked;
* fills come from the trade-updates stream and from polling, under one fill id per
  (order, cumulative quantity), so a fill learned twice is reported once.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
import uuid
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal, TypeVar

import attrs
import structlog
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import QueryOrderStatus
from alpaca.trading.requests import GetOrdersRequest

with warnings.catch_warnings():  # alpaca-py 0.44 imports the deprecated websockets.legacy
    warnings.simplefilter("ignore", DeprecationWarning)
    from alpaca.trading.stream import TradingStream
from requests.adapters import HTTPAdapter

from adapters.alpaca.errors import CREDENTIAL_FILTER, Redactor, translate
from adapters.alpaca.limits import Backoff, TokenBucket
from adapters.alpaca.mapping import (
    dec,
    parse_account,
    parse_clock,
    parse_order,
    parse_position,
    to_order_request,
    ts,
)
from application.reconcile import progress_fill
from domain.account import Account, BrokerPosition
from domain.clock import Clock
from domain.commands import SubmitOrder
from domain.errors import (
    BrokerError,
    BrokerUnavailable,
    DomainError,
    DuplicateClientOrderId,
    InvalidOrder,
    OrderNotFound,
)
from domain.events import OrderEvent, OrderFilled, OrderStatus, OrderStatusChanged
from domain.market import MarketClock
from domain.orders import OrderReport, can_transition
from domain.values import ZERO, Side

log = structlog.get_logger(__name__)
T = TypeVar("T")
S = OrderStatus
PAPER_URL = "https://paper-api.alpaca.markets"
LIVE_URL = "https://api.alpaca.markets"


@attrs.frozen(repr=False)
class AlpacaConfig:
    """Connection and safety settings. ``repr`` never shows the credentials."""

    api_key: str
    secret_key: str
    paper: bool = True
    base_url: str | None = None  # url_override (the loopback server, a proxy)
    stream_url: str | None = None
    data_url: str | None = None
    timeout_s: float = 10.0
    max_submit_attempts: int = 5
    max_read_attempts: int = 4
    rate_per_minute: float = 190.0
    burst: int = 10
    backoff_base_s: float = 0.25
    backoff_cap_s: float = 8.0
    poll_interval_s: float = 5.0
    use_stream: bool = True
    data_feed: str = "iex"  # market-data feed: iex (free paper accounts) or sip (paid plan)
    adjustment: str = "split"  # historical bars: raw, split, dividend or all

    def __repr__(self) -> str:
        return (f"AlpacaConfig(paper={self.paper}, base_url={self.base_url!r}, "
                f"timeout_s={self.timeout_s}, api_key='********', secret_key='********')")


class TimeoutHTTPAdapter(HTTPAdapter):
    """An HTTPAdapter that applies a default timeout and never retries at the urllib3 level."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__(max_retries=0)
        self.timeout_s = timeout_s

    def send(self, request: Any, stream: bool = False, timeout: Any = None, verify: Any = True,
             cert: Any = None, proxies: Any = None) -> Any:
        return super().send(request, stream=stream,
                            timeout=self.timeout_s if timeout is None else timeout,
                            verify=verify, cert=cert, proxies=proxies)


def harden_client(client: Any, timeout_s: float) -> Any:
    """Switch off alpaca-py's blind retries and give its session a timeout; return ``client``.

    ``RESTClient._request`` loops ``while retry >= 0`` and ``_one_request`` raises its
    ``RetryException`` only when ``status in _retry_codes and retry > 0``: with ``_retry = 0``
    and no codes, every request (POST included) is sent exactly once.
    """
    client._retry = 0
    client._retry_wait = 0
    client._retry_codes = []
    adapter = TimeoutHTTPAdapter(timeout_s)
    client._session.mount("http://", adapter)
    client._session.mount("https://", adapter)
    return client


@attrs.define
class _Track:
    client_order_id: str
    broker_order_id: str
    filled: Decimal = ZERO
    avg: Decimal | None = None
    status: OrderStatus = S.SUBMITTED


class AlpacaBroker:
    """BrokerPort on Alpaca (paper by default). Call :meth:`close` to stop the stream thread."""

    def __init__(
        self,
        config: AlpacaConfig,
        *,
        clock: Clock | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self._redact = Redactor([config.api_key, config.secret_key])
        CREDENTIAL_FILTER.protect(config.api_key, config.secret_key)
        self._clock = clock
        self._sleep = sleep
        self._mono = monotonic
        self.limiter = TokenBucket(config.rate_per_minute, config.burst, clock=monotonic,
                                   sleep=sleep)
        self.backoff = Backoff(config.backoff_base_s, config.backoff_cap_s, rng=rng,
                               sleep=sleep)
        self.client = harden_client(
            TradingClient(config.api_key, config.secret_key, paper=config.paper, raw_data=True,
                          url_override=config.base_url),
            config.timeout_s)
        self._lock = threading.RLock()
        self._tracks: dict[str, _Track] = {}
        self._pending: list[OrderEvent] = []
        self._last_poll = float("-inf")
        self._stream: TradingStream | None = None
        self._stream_thread: threading.Thread | None = None
        self.stats: dict[str, int] = {"requests": 0, "submit_posts": 0, "lookups": 0,
                                      "retries": 0, "stream_messages": 0, "poll_fills": 0}
        if config.use_stream:
            self.start_stream()

    # --- plumbing -------------------------------------------------------------------------
    def _now(self) -> datetime:
        return self._clock.now() if self._clock is not None else datetime.now(UTC)

    def _once(self, what: str, fn: Callable[[], T], cid: str | None = None) -> T:
        """Send one request (after the rate limiter); failures arrive translated."""
        self.limiter.acquire()
        self.stats["requests"] += 1
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - every vendor failure is translated
            raise translate(exc, client_order_id=cid, what=what,
                            timeout_s=self.config.timeout_s, redact=self._redact) from None

    def _read(self, what: str, fn: Callable[[], T], cid: str | None = None) -> T:
        """Send an idempotent request, retrying retryable failures with backoff."""
        attempts = max(1, self.config.max_read_attempts)
        for attempt in range(1, attempts + 1):
            try:
                return self._once(what, fn, cid)
            except BrokerError as err:
                if not err.retryable or attempt == attempts:
                    raise
                self.stats["retries"] += 1
                log.info("alpaca.retry", what=what, attempt=attempt, error=str(err))
                self.backoff.wait(attempt)
        raise AssertionError("unreachable")

    # --- orders -----------------------------------------------------------------------------
    def submit_order(self, request: SubmitOrder) -> OrderReport:
        """Place ``request`` at most once, whatever the network does.

        Raises DuplicateClientOrderId when the very first send finds the id taken (the caller
        looks the order up), OrderRejected subclasses for refusals, and BrokerUnavailable when
        the outcome could not be confirmed (the order may exist: reconciliation settles it).
        """
        cid = request.client_order_id
        try:
            payload = to_order_request(request)
        except ValueError as exc:
            raise InvalidOrder(self._redact(str(exc).splitlines()[0]), cid) from None
        attempts = max(1, self.config.max_submit_attempts)
        last: BrokerError | None = None
        for attempt in range(1, attempts + 1):
            try:
                self.stats["submit_posts"] += 1
                raw = self._once("submit order", lambda: self.client.submit_order(payload), cid)
                return self._observe(parse_order(raw), self._now())
            except DuplicateClientOrderId:
                if attempt == 1:
                    raise
                # an earlier, ambiguous attempt landed: that order is ours
                found = self._lookup(cid)
                if found is not None:
                    log.info("alpaca.submit_already_placed", client_order_id=cid,
                             attempt=attempt)
                    return self._observe(found, self._now())
                raise BrokerUnavailable(
                    f"order {cid}: broker says the id is taken but cannot find it; "
                    "reconciliation will settle it") from None
            except BrokerError as err:
                if not err.retryable:
                    raise
                last = err
            # outcome unknown: wait, then ask the broker before deciding to re-send
            self.stats["retries"] += 1
            log.warning("alpaca.submit_ambiguous", client_order_id=cid, attempt=attempt,
                        error=str(last))
            self.backoff.wait(attempt)
            found = self._lookup(cid)
            if found is not None:
                log.info("alpaca.submit_found_after_failure", client_order_id=cid,
                         attempt=attempt)
                return self._observe(found, self._now())
        raise BrokerUnavailable(
            f"order {cid}: not confirmed after {attempts} attempts ({last}); it may still "
            "be placed - reconciliation by client order id will settle it")

    def _lookup(self, cid: str) -> OrderReport | None:
        """Look an order up by client id; raise BrokerUnavailable if the broker cannot say."""
        self.stats["lookups"] += 1
        try:
            raw = self._read("lookup order", lambda: self.client.get_order_by_client_id(cid),
                             cid)
        except OrderNotFound:
            return None
        except BrokerError as err:
            raise BrokerUnavailable(
                f"order {cid}: outcome unknown and the lookup failed ({err}); not re-sending"
            ) from None
        return parse_order(raw)

    def get_order_by_client_id(self, client_order_id: str) -> OrderReport | None:
        """Return the order with our client id, or None if Alpaca never saw it."""
        try:
            raw = self._read("get order", lambda: self.client.get_order_by_client_id(
                client_order_id), client_order_id)
        except OrderNotFound:
            return None
        return self._observe(parse_order(raw), self._now(), baseline=True)

    def get_order(self, broker_order_id: str) -> OrderReport:
        """Return an order by Alpaca's id; raise OrderNotFound if unknown."""
        try:
            uuid.UUID(broker_order_id)
        except ValueError:
            raise OrderNotFound(f"order {broker_order_id!r} not found (not an Alpaca order id)"
                                ) from None
        raw = self._read("get order", lambda: self.client.get_order_by_id(broker_order_id))
        return self._observe(parse_order(raw), self._now(), baseline=True)

    def list_orders(self, status: Literal["open", "closed", "all"] = "open") -> list[OrderReport]:
        """Return up to 500 orders, newest first."""
        flt = GetOrdersRequest(status=QueryOrderStatus(status), limit=500, nested=True)
        raw = self._read("list orders", lambda: self.client.get_orders(flt))
        now = self._now()
        return [self._observe(parse_order(r), now, baseline=True) for r in raw]

    def _fetch(self, cid: str) -> OrderReport | None:
        try:
            raw = self._read("get order", lambda: self.client.get_order_by_client_id(cid), cid)
        except OrderNotFound:
            return None
        return parse_order(raw)

    def cancel_order(self, client_order_id: str) -> None:
        """Cancel a working order; a finished one is left as it is; unknown -> OrderNotFound."""
        report = self.get_order_by_client_id(client_order_id)
        if report is None:
            raise OrderNotFound(f"order {client_order_id} not found at Alpaca")
        if not report.status.is_open:
            return
        bid = report.broker_order_id
        try:
            self._read("cancel order", lambda: self.client.cancel_order_by_id(bid),
                       client_order_id)
        except InvalidOrder:  # 422: not cancelable any more (filled or canceled meanwhile)
            log.info("alpaca.cancel_too_late", client_order_id=client_order_id)
        except OrderNotFound:
            log.info("alpaca.cancel_not_found", client_order_id=client_order_id)

    # --- positions, account, clock -----------------------------------------------------------
    def get_positions(self) -> list[BrokerPosition]:
        """Return every open position (signed quantities)."""
        raw = self._read("get positions", self.client.get_all_positions)
        return [parse_position(p) for p in raw]

    def get_account(self) -> Account:
        """Return the account (``account_id`` is Alpaca's account number)."""
        return parse_account(self._read("get account", self.client.get_account))

    def get_clock(self) -> MarketClock:
        """Return Alpaca's market clock."""
        return parse_clock(self._read("get clock", self.client.get_clock))

    def close_position(self, ticker: str) -> OrderReport | None:
        """Flatten ``ticker`` with Alpaca's close endpoint, never twice.

        DELETE /v2/positions/{symbol} creates an order, so it is not re-sent blindly: after an
        unknown outcome the adapter looks for the closing order (or a flat position) first.
        """
        attempts = max(1, self.config.max_submit_attempts)
        for attempt in range(1, attempts + 1):
            try:
                raw = self._once("close position", lambda: self.client.close_position(ticker))
                return self._observe(parse_order(raw), self._now())
            except OrderNotFound:
                return None
            except BrokerError as err:
                if not err.retryable or attempt == attempts:
                    raise
                log.warning("alpaca.close_ambiguous", ticker=ticker, error=str(err))
            self.backoff.wait(attempt)
            pending = self._closing_order(ticker)
            if pending is not None:
                return pending
        return None

    def _closing_order(self, ticker: str) -> OrderReport | None:
        positions = {p.ticker: p for p in self.get_positions()}
        orders = [o for o in self.list_orders("all") if o.ticker == ticker]
        pos = positions.get(ticker)
        if pos is None:  # already flat: the close landed and filled
            return self._observe(orders[0], self._now()) if orders else None
        exit_side = Side.SELL if pos.quantity > 0 else Side.BUY
        for o in orders:
            if o.status.is_open and o.side is exit_side and o.quantity >= abs(pos.quantity):
                return self._observe(o, self._now())
        return None

    def close_all_positions(self, cancel_orders: bool = True) -> list[OrderReport]:
        """Cancel working orders (when asked) and flatten every position."""
        out: list[OrderReport] = []
        try:
            raw = self._once("close all positions",
                             lambda: self.client.close_all_positions(cancel_orders=cancel_orders))
            for item in raw or []:
                body = item.get("body") if isinstance(item, dict) else None
                if isinstance(body, dict) and body.get("id"):
                    out.append(self._observe(parse_order(body), self._now()))
            return out
        except BrokerError as err:
            if not err.retryable:
                raise
            log.warning("alpaca.close_all_ambiguous", error=str(err))
        # unknown outcome: finish the job position by position, keeping the closing orders
        # the lost request may already have placed (they are not canceled nor sent again)
        positions = self.get_positions()
        closers = {p.ticker: self._closing_order(p.ticker) for p in positions}
        keep = {r.client_order_id for r in closers.values() if r is not None}
        if cancel_orders:
            for o in self.list_orders("open"):
                if o.client_order_id not in keep:
                    self.cancel_order(o.client_order_id)
        for p in positions:
            r = closers[p.ticker] or self.close_position(p.ticker)
            if r is not None:
                out.append(r)
        return out

    # --- events: stream + polling ---------------------------------------------------------------
    def _observe(self, report: OrderReport, when: datetime, price: Decimal | None = None,
                 qty: Decimal | None = None, *, baseline: bool = False) -> OrderReport:
        """Turn a snapshot of an order into the events not reported before; return it.

        With ``baseline`` (a lookup, not a submit or a stream message), an order seen for the
        first time is followed from this snapshot on without events for its past: after a
        restart, reconciliation adopts the past into the store from the very same lookup,
        so reporting it again could count a fill twice.
        """
        with self._lock:
            t = self._tracks.get(report.client_order_id)
            if t is None and baseline:
                self._tracks[report.client_order_id] = _Track(
                    report.client_order_id, report.broker_order_id, report.filled_qty,
                    report.filled_avg_price, report.status)
                return report
            if t is None:
                t = _Track(report.client_order_id, report.broker_order_id)
                self._tracks[report.client_order_id] = t
            if report.filled_qty > t.filled:
                delta = report.filled_qty - t.filled
                px = price if price is not None and qty == delta else None
                fill = progress_fill(report, t.filled, t.avg, when, px)
                if fill is not None:
                    self._pending.append(OrderFilled(
                        client_order_id=report.client_order_id, ts_event=when,
                        broker_order_id=report.broker_order_id, fill=fill))
                t.filled = report.filled_qty
                t.avg = report.filled_avg_price
                t.status = S.FILLED if report.filled_qty >= report.quantity else \
                    S.PARTIALLY_FILLED
            st = report.status
            if st not in (S.FILLED, S.PARTIALLY_FILLED) and st is not t.status and \
                    can_transition(t.status, st):
                self._pending.append(OrderStatusChanged(
                    client_order_id=report.client_order_id, ts_event=when,
                    broker_order_id=report.broker_order_id, status=st))
                t.status = st
        return report

    def poll_events(self) -> list[OrderEvent]:
        """Return new order events: the stream's, plus what polling finds the stream missed."""
        now = self._mono()
        with self._lock:
            open_ids = [c for c, t in self._tracks.items() if t.status.is_open]
        if open_ids and now - self._last_poll >= self.config.poll_interval_s:
            self._last_poll = now
            try:
                self._poll(open_ids)
            except DomainError as err:
                log.warning("alpaca.poll_failed", error=str(err))
        with self._lock:
            out, self._pending = self._pending, []
        return out

    def _poll(self, open_ids: list[str]) -> None:
        flt = GetOrdersRequest(status=QueryOrderStatus.ALL, limit=500, nested=True)
        raw = self._read("list orders", lambda: self.client.get_orders(flt))
        by_cid = {r.client_order_id: r for r in map(parse_order, raw)}
        for cid in open_ids:
            report = by_cid.get(cid) or self._fetch(cid)
            if report is None:
                continue
            before = len(self._pending)
            self._observe(report, report.updated_at or self._now())
            self.stats["poll_fills"] += sum(
                isinstance(e, OrderFilled) for e in self._pending[before:])

    def track(self, client_order_id: str, broker_order_id: str = "",
              filled: Decimal = ZERO, avg: Decimal | None = None,
              status: OrderStatus = S.SUBMITTED) -> None:
        """Follow an order placed earlier (after a restart), starting from what we stored."""
        with self._lock:
            self._tracks[client_order_id] = _Track(client_order_id, broker_order_id, filled,
                                                   avg, status)

    # stream ---------------------------------------------------------------------------------
    def start_stream(self) -> None:
        """Start the trade-updates stream in a daemon thread (idempotent)."""
        if self._stream is not None:
            return
        stream = TradingStream(self.config.api_key, self.config.secret_key,
                               paper=self.config.paper, raw_data=True,
                               url_override=self.config.stream_url)  # type: ignore[arg-type]
        stream.subscribe_trade_updates(self._on_trade_update)
        self._stream = stream
        self._stream_thread = threading.Thread(target=stream.run, name="alpaca-trade-updates",
                                               daemon=True)
        self._stream_thread.start()

    async def _on_trade_update(self, msg: Any) -> None:
        try:
            data = msg.get("data", msg) if isinstance(msg, dict) else {}
            order = data.get("order")
            if not isinstance(order, dict):
                return
            self.stats["stream_messages"] += 1
            report = parse_order(order)
            when = ts(data.get("timestamp")) or self._now()
            self._observe(report, when, dec(data.get("price")), dec(data.get("qty")))
        except Exception as exc:  # noqa: BLE001 - a bad message must not kill the stream
            log.warning("alpaca.stream_message_ignored", error=self._redact(str(exc))[:200])

    def close(self) -> None:
        """Stop the stream thread (waits up to ~2 s) and release the HTTP session."""
        stream, self._stream = self._stream, None
        thread, self._stream_thread = self._stream_thread, None
        if stream is not None:
            deadline = time.monotonic() + 2.0
            loop = None
            while time.monotonic() < deadline and thread is not None and thread.is_alive():
                loop = getattr(stream, "_loop", None)
                if loop is not None and loop.is_running() and \
                        getattr(stream, "_stop_stream_event", None) is not None:
                    break
                time.sleep(0.01)
            try:
                if loop is not None and loop.is_running():
                    stream.stop()
                    asyncio.run_coroutine_threadsafe(stream.close(), loop).result(timeout=2)
            except Exception as exc:  # noqa: BLE001 - closing must not raise
                log.debug("alpaca.stream_stop_failed", error=self._redact(str(exc))[:200])
            if thread is not None:
                thread.join(timeout=2.0)
        self.client._session.close()

    def describe(self) -> str:
        """Return which account this broker trades (for the live-trading banner)."""
        acct = self.get_account()
        mode = "PAPER" if self.config.paper else "LIVE"
        return (f"Alpaca {mode} account {acct.account_id} (status {acct.status}, equity "
                f"{acct.equity} {acct.currency}, buying power {acct.buying_power})")
