"""The simulated exchange: an in-process broker and price feed driven by bars.

It implements :class:`application.ports.BrokerPort` and :class:`~application.ports.PriceFeedPort`.
Bars arrive through :meth:`SimulatedExchange.on_bar` (one bar as plain floats, the hot path),
:meth:`~SimulatedExchange.process_bars` (a replay step), :meth:`~SimulatedExchange.push_bar`
(a domain :class:`~domain.market.Bar`) or :meth:`~SimulatedExchange.on_price` (a live trade);
:meth:`~SimulatedExchange.end_step` closes a timestamp whose bars were all pushed and
:meth:`~SimulatedExchange.advance_to` moves time without a bar (day orders expire).

Rules (details in ``docs/simulator.md``; prices from :mod:`domain.fill_rules`, costs from
:mod:`domain.costs`, money through :class:`domain.portfolio.Ledger`):

- an order submitted at time ``t`` can only trade in bars that end after ``t``: a market
  order fills at the next bar's open plus slippage;
- limit / stop / stop-limit / trailing stops trigger on the bar's high and low, gaps fill
  at the open, no fill price ever leaves ``[low, high]``;
- bracket legs are held until the entry fills, then work as one-cancels-other; when both
  legs could trade in one bar the stop leg is assumed first (``ambiguous_bracket``);
- every order of a ticker shares a participation cap per bar (10 % of the bar's volume by
  default); the rest of the order fills on later bars (partial fills);
- time in force: ``day`` expires at its session's close, ``gtc`` stays, ``ioc`` / ``fok``
  get the first bar they can trade in, ``opg`` only the session's opening bar, ``cls``
  only the bar that ends at the session's close; bars outside the regular session only
  trade orders with ``extended_hours``;
- expiry is per ticker: a bar at the session's close is matched before its ticker's day
  orders expire, other tickers' orders wait for their own bar of that close or for
  :meth:`~SimulatedExchange.end_step`, and an order whose session ended without a bar of
  its ticker expires (stamped at that close) before any later bar is matched, so it never
  fills outside its session;
- submits are checked like Alpaca checks them and refused with a domain error
  (:class:`~domain.errors.InsufficientBuyingPower`, :class:`~domain.errors.InvalidOrder`,
  :class:`~domain.errors.MarketClosed`): a refused order is never stored.

Money (cash, average entry prices, fills) is exact ``Decimal``; the float shadows
``cash_f`` / ``pos_f`` only serve per-bar equity curves. Nothing here reads the wall clock
or a random source: the same bars, orders and seed give the same events, ids included.

Why one module: accepting an order, matching it on a bar and booking its fill change the same
order book, ledger and event queue in one step; the book itself and the price history are
already apart (``book.py``, ``prices.py``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from itertools import repeat
from typing import Literal

import attrs

from adapters.simulated.book import OrderBook
from adapters.simulated.order import _FAR, S, _Order
from adapters.simulated.prices import PriceHistory
from adapters.simulated.sessions import Sessions, dt_from_ns, ns_from_dt, sessions_for
from domain.account import Account, BrokerPosition
from domain.clock import Clock, TestClock
from domain.commands import SubmitOrder
from domain.costs import ZERO_COSTS, CostModel
from domain.errors import DuplicateClientOrderId, InvalidOrder, MarketClosed, OrderNotFound
from domain.events import Fill, OrderEvent, OrderFilled, OrderStatus, OrderStatusChanged
from domain.ids import client_order_id as make_coid
from domain.ids import digest
from domain.market import Bar, MarketClock
from domain.orders import OrderReport
from domain.portfolio import Ledger
from domain.values import OrderClass, TimeInForce, dec

__all__ = ["ExchangeConfig", "SimulatedExchange"]

_EXPIRED = "day order reached session close"


def _position_id(fill: Fill) -> str:
    # fill ids are unique per exchange, so the position id needs no hashing
    return f"pos-{fill.fill_id}"


def _cash(v: object) -> Decimal:
    return dec(v, "starting_cash")


@attrs.frozen
class ExchangeConfig:
    """Settings of the simulated exchange.

    Parameters
    ----------
    starting_cash
        Cash at the start.
    costs
        Commission (bps, per share, per order, minimum) and fixed slippage in bps.
    slippage_model
        ``fixed`` (``costs.slippage_bps``), ``spread`` (plus half of ``spread_bps``) or
        ``volatility`` (plus ``volatility_factor`` x the bar's range / open, in bps).
    participation
        Most of a bar's volume that all orders of a ticker may take together (0.1 = 10 %);
        ``None`` turns the cap off.
    ambiguous_bracket
        Which bracket leg trades first when a bar reaches both: ``stop_first`` (adverse,
        the default) or ``target_first``.
    calendar
        ``exchange_calendars`` name (``XNYS``), or ``None`` for an always-open market.
    margin_multiplier
        Buying power is equity x multiplier less gross exposure and open orders (1 is a
        cash-like account where shorts still need buying power; 2 is Reg T overnight).
    allow_short
        Refuse sells beyond the held quantity when False.
    reject_when_closed
        Refuse orders submitted while the market is closed (Alpaca queues them: False).
    enforce_tick_size
        Refuse sub-penny prices (>= $1: 2 decimals, below: 4 decimals), like Alpaca.
    seed
        Namespaces broker order ids, so two exchanges in one process never share ids.
    history
        Bars per ticker kept for :meth:`SimulatedExchange.get_bars` (0 keeps none).
    emit_events
        Queue order events for :meth:`SimulatedExchange.poll_events` (False for a pure
        backtest that nobody polls, so memory does not grow with the number of trades).
    retain_closed
        Keep finished orders, closed positions and applied fill ids (False: forget them,
        for very long backtests; lookups of finished orders then return None).
    """

    starting_cash: Decimal = attrs.field(default=Decimal(100_000), converter=_cash)
    costs: CostModel = ZERO_COSTS
    slippage_model: Literal["fixed", "spread", "volatility"] = "fixed"
    spread_bps: float = 0.0
    volatility_factor: float = 0.0
    participation: float | None = 0.1
    ambiguous_bracket: Literal["stop_first", "target_first"] = "stop_first"
    calendar: str | None = "XNYS"
    margin_multiplier: Decimal = Decimal(1)
    allow_short: bool = True
    reject_when_closed: bool = False
    enforce_tick_size: bool = True
    seed: int = 0
    history: int = 300
    emit_events: bool = True
    retain_closed: bool = True


class _History(dict[str, "deque[tuple[int, float, float, float, float, float]]"]):
    """Each ticker's kept bars; a ticker not seen yet gets an empty deque when indexed."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def __missing__(self, ticker: str) -> deque[tuple[int, float, float, float, float, float]]:
        q: deque[tuple[int, float, float, float, float, float]] = deque(maxlen=self.size)
        self[ticker] = q
        return q


class SimulatedExchange(OrderBook, PriceHistory):
    """In-process broker and price feed; see the module docstring for its rules.

    Parameters
    ----------
    config
        :class:`ExchangeConfig`; defaults: 100,000 cash, no costs, 10 % participation, XNYS.
    clock
        The clock submits are stamped with; a replay drives it. Defaults to a TestClock.
    """

    def __init__(self, config: ExchangeConfig | None = None, clock: Clock | None = None) -> None:
        self.config = cfg = config or ExchangeConfig()
        self.clock: Clock = clock or TestClock()
        self.sessions: Sessions = sessions_for(cfg.calendar)
        #: the exact book (the domain Ledger, as the fakes and the engine's restore use it)
        self.ledger = Ledger(cash=cfg.starting_cash, position_id_for=_position_id)
        self._orders: dict[str, _Order] = {}
        self._by_bid: dict[str, _Order] = {}
        self._working: dict[str, list[_Order]] = {}
        self._events: list[Fill | tuple[str, str, OrderStatus, datetime, str | None]] = []
        self._last: dict[str, tuple[int, float, float, float, float, float]] = {}
        self._hist: dict[str, deque[tuple[int, float, float, float, float, float]]] = \
            _History(cfg.history)
        self._bars: dict[str, dict[tuple[int, float, float, float, float, float], Bar]] = {}
        #: tickers whose kept bars arrived out of time order (get_bars then scans them all)
        self._unordered: set[str] = set()
        self._seq = 0
        self._next_expiry = _FAR
        self._now_ns = 0
        self._rate = cfg.participation if cfg.participation and cfg.participation > 0 else None
        self._slip = cfg.costs.slippage_bps
        self._spread_half = cfg.spread_bps * 0.5
        self._volf = cfg.volatility_factor if cfg.slippage_model == "volatility" else 0.0
        if cfg.slippage_model == "spread":
            self._slip += self._spread_half
        self._stop_first = cfg.ambiguous_bracket == "stop_first"
        #: float shadows of the ledger for the per-bar equity curve (exact money stays Decimal).
        self.cash_f = float(cfg.starting_cash)
        self.pos_f: dict[str, float] = {}
        self.fill_count = 0
        self._new_legs: list[_Order] = []
        self._keep_history = cfg.history > 0
        self._emit_events = cfg.emit_events
        c = cfg.costs
        self._commission = c.commission
        self._charges = bool(c.commission_bps or c.commission_per_share or
                             c.commission_per_order or c.min_commission)
        self._dt_ns = -1
        self._dt = dt_from_ns(0)
        self._mult_f = float(cfg.margin_multiplier)
        self._retain = cfg.retain_closed

    def on_bar(self, ticker: str, ts_ns: int, o: float, h: float, lo: float, c: float,
               v: float) -> None:
        """Process one completed bar of ``ticker`` ending at ``ts_ns`` (the hot path)."""
        row = (ts_ns, o, h, lo, c, v)
        self._last[ticker] = row
        if self._keep_history:
            hist = self._hist.get(ticker)
            if hist is None:
                hist = self._hist[ticker] = deque(maxlen=self.config.history)
            elif hist and ts_ns < hist[-1][0]:
                self._unordered.add(ticker)
            hist.append(row)
        if ts_ns > self._now_ns:
            self._now_ns = ts_ns
        if ts_ns > self._next_expiry:
            # orders whose session ended before this bar expire before anything trades in it
            # (a ticker without a bar in that session never fills its day order later)
            self._expire(ts_ns - 1)
        work = self._working.get(ticker)
        if work:
            self._match(ticker, work, ts_ns, o, h, lo, c, v)
            if work and ts_ns >= self._next_expiry:
                # this bar ends the session of some orders: this ticker's have had their last
                # bar; other tickers' may still get a bar at this time (end_step expires them)
                for od in list(work):
                    if od.expiry_ns <= ts_ns and od.status.is_open:
                        self._finish(od, S.EXPIRED, od.expiry_ns, reason=_EXPIRED)

    def end_step(self, ts_ns: int) -> None:
        """Say that every bar ending at ``ts_ns`` has been processed: orders whose session
        ends at ``ts_ns`` expire (the replay loops call it once per timestamp)."""
        if ts_ns >= self._next_expiry:
            self._expire(ts_ns)

    def process_bars(self, ts_ns: int,
                     rows: Iterable[tuple[str, float, float, float, float, float]]) -> None:
        """Process one replay step: ``rows`` of ``(ticker, open, high, low, close, volume)``.

        Every row is matched before any day order of the step's session close expires, so
        the order in which tickers appear in a step changes nothing.
        """
        rows = rows if isinstance(rows, list) else list(rows)
        if rows:
            tickers, o, h, lo, c, v = zip(*rows, strict=True)
            self.take_bars(ts_ns, tickers, list(zip(repeat(ts_ns), o, h, lo, c, v)))
        if ts_ns >= self._next_expiry:
            self._expire(ts_ns)

    def take_bars(self, ts_ns: int, tickers: Sequence[str],
                  rows: Sequence[tuple[int, float, float, float, float, float]]) -> None:
        """Process the bars of one step, in order: ``rows[k]`` is ``tickers[k]``'s bar as
        ``(ts_ns, open, high, low, close, volume)``. Exactly :meth:`on_bar` per bar, but the
        bars of tickers with no working order are recorded in bulk (last bar, history).
        The caller ends the step (:meth:`end_step`)."""
        if not rows:
            return
        if ts_ns < self._now_ns or ts_ns > self._next_expiry:
            # a bar back in time, or orders to expire before this step: bar by bar
            on_bar = self.on_bar
            for t, r in zip(tickers, rows, strict=True):
                on_bar(t, ts_ns, r[1], r[2], r[3], r[4], r[5])
            return
        self._now_ns = ts_ns  # what the first bar's on_bar does
        working = self._working
        if working and any(map(working.get, tickers)):
            self._take_some_working(ts_ns, tickers, rows)
        else:
            self._record(tickers, rows)

    def _record(self, tickers: Sequence[str],
                rows: Sequence[tuple[int, float, float, float, float, float]]) -> None:
        # on_bar for bars of tickers without a working order, no expiry due and the time not
        # going back: only the last bar and the history change
        self._last.update(zip(tickers, rows, strict=True))
        if self._keep_history:
            any(map(deque.append, map(self._hist.__getitem__, tickers), rows))

    def _take_some_working(self, ts_ns: int, tickers: Sequence[str],
                           rows: Sequence[tuple[int, float, float, float, float, float]]
                           ) -> None:
        # the tickers with working orders get on_bar at their place in the step, the runs of
        # bars between them are recorded in bulk (a match may change who has orders: look
        # again after each)
        working, on_bar = self._working, self.on_bar
        i, n = 0, len(rows)
        while i < n:
            k = next((x for x, w in enumerate(map(working.get, tickers[i:])) if w), None)
            if k is None:
                self._record(tickers[i:], rows[i:])
                return
            if k:
                self._record(tickers[i:i + k], rows[i:i + k])
            r = rows[i + k]
            on_bar(tickers[i + k], ts_ns, r[1], r[2], r[3], r[4], r[5])
            i += k + 1
            if ts_ns > self._next_expiry:  # an order to expire came in: bar by bar
                for t, r in zip(tickers[i:], rows[i:], strict=True):
                    on_bar(t, ts_ns, r[1], r[2], r[3], r[4], r[5])
                return

    def push_bar(self, bar: Bar) -> None:
        """Process a domain :class:`Bar` (live feeds, tests)."""
        self.on_bar(bar.ticker, ns_from_dt(bar.ts), bar.open, bar.high, bar.low, bar.close,
                    bar.volume)

    def on_price(self, ticker: str, price: float, ts: datetime, volume: float = 0.0) -> None:
        """Process a live trade as a one-price bar (volume 0 turns the cap off for it)."""
        n = ns_from_dt(ts)
        rate = self._rate
        if volume <= 0.0:
            self._rate = None
        try:
            self.on_bar(ticker, n, price, price, price, price, volume)
        finally:
            self._rate = rate

    def advance_to(self, ts: datetime | int) -> None:
        """Move the exchange's time to ``ts`` without a bar: day orders expire."""
        n = ts if isinstance(ts, int) else ns_from_dt(ts)
        if n > self._now_ns:
            self._now_ns = n
        self.end_step(n)

    def restore(self, fills: Iterable[Fill]) -> int:
        """Rebuild the book from stored ``fills`` (a restart: the audit trail is the truth).

        Fills are applied to the ledger in ``(ts_event, fill_id)`` order, skipping those it
        has seen; the float shadows are recomputed from the ledger. Returns how many applied.
        """
        led = self.ledger
        n = 0
        for f in sorted(fills, key=lambda f: (f.ts_event, f.fill_id)):
            if f.fill_id in led.seen_fills:
                continue
            led.apply_fill(f)
            n += 1
        self.cash_f = float(led.cash)
        self.pos_f = {t: float(p.signed_quantity) for t, p in led.positions.items()}
        return n

    @property
    def cash(self) -> Decimal:
        """Return the exact cash balance."""
        return self.ledger.cash

    def submit_order(self, request: SubmitOrder) -> OrderReport:
        """Check ``request`` like Alpaca would and accept it (status ``new``) or raise."""
        return self.submit(request).report()

    def submit(self, request: SubmitOrder) -> _Order:
        """Like :meth:`submit_order` but return the internal record (no report built)."""
        coid = request.client_order_id
        if coid in self._orders:
            raise DuplicateClientOrderId(coid)
        clock = self.clock
        now = clock.now()
        cns = getattr(clock, "ns", None)
        now_ns = max(cns if isinstance(cns, int) else ns_from_dt(now), self._now_ns)
        self._check_prices(request)
        if self.config.reject_when_closed and not self.sessions.is_open(
            now_ns, extended=request.extended_hours
        ):
            raise MarketClosed("market is closed", coid)
        if request.time_in_force is TimeInForce.OPG and self.sessions.is_open(now_ns):
            raise InvalidOrder("opg orders are accepted only before the session opens", coid)
        ref = self._reference(request)
        self._check_buying_power(request, ref)
        self._seq += 1
        # a pure function of the seed and the client order id: a resumed run that replays
        # the same orders gets the same broker and fill ids
        bid = f"sim-{digest(self.config.seed, coid, length=20)}"
        od = _Order(request, bid, now, now_ns)
        od.ref = ref
        if request.time_in_force is TimeInForce.DAY:
            od.expiry_ns = self.sessions.day_expiry(now_ns, request.extended_hours)
        elif request.time_in_force in (TimeInForce.CLS, TimeInForce.OPG):
            od.expiry_ns = self.sessions.session_close_after(now_ns)
        if od.expiry_ns < self._next_expiry:
            self._next_expiry = od.expiry_ns
        self._orders[coid] = od
        self._by_bid[bid] = od
        self._working.setdefault(request.ticker, []).append(od)
        self._emit(od, S.NEW, now)
        if request.order_class is OrderClass.BRACKET:
            self._add_legs(od, now, now_ns)
        return od

    def cancel_order(self, client_order_id: str) -> None:
        """Cancel a working order (a finished order is left as it is)."""
        od = self._orders.get(client_order_id)
        if od is None:
            raise OrderNotFound(f"order {client_order_id} not found")
        if od.status.is_open:
            self._finish(od, S.CANCELED, 0, reason="canceled on request")

    def get_order(self, broker_order_id: str) -> OrderReport:
        """Return an order by broker id."""
        od = self._by_bid.get(broker_order_id)
        if od is None:
            raise OrderNotFound(f"order {broker_order_id} not found")
        return od.report()

    def get_order_by_client_id(self, client_order_id: str) -> OrderReport | None:
        """Return an order by client order id, or None."""
        od = self._orders.get(client_order_id)
        return od.report() if od is not None else None

    def list_orders(self, status: Literal["open", "closed", "all"] = "open") -> list[OrderReport]:
        """Return orders (bracket legs nested in their parent), newest first."""
        out = [od.report() for od in reversed(self._orders.values()) if od.parent is None]
        if status == "open":
            return [r for r in out if r.status.is_open]
        if status == "closed":
            return [r for r in out if not r.status.is_open]
        return out

    def get_positions(self) -> list[BrokerPosition]:
        """Return open positions marked at the last close."""
        out = []
        for t, p in sorted(self.ledger.positions.items()):
            price = self._price_dec(t)
            out.append(BrokerPosition(
                ticker=t, quantity=p.signed_quantity, avg_entry_price=p.avg_entry_price,
                current_price=price, market_value=p.market_value(price),
                unrealized_pnl=p.unrealized_pnl(price)))
        return out

    def get_account(self) -> Account:
        """Return cash, equity and buying power at the last closes."""
        prices = {t: d for t in self.ledger.positions if (d := self._price_dec(t)) is not None}
        return self.ledger.account(prices, ts=self.clock.now(),
                                   margin_multiplier=self.config.margin_multiplier)

    def close_position(self, ticker: str) -> OrderReport | None:
        """Submit a market order that flattens ``ticker``; None when flat."""
        p = self.ledger.positions.get(ticker)
        if p is None:
            return None
        self._seq += 1
        req = SubmitOrder(client_order_id=make_coid(f"close-{ticker}-{self._seq}", "close"),
                          ticker=ticker, side=p.side.exit_side, quantity=p.quantity)
        return self.submit_order(req)

    def close_all_positions(self, cancel_orders: bool = True) -> list[OrderReport]:
        """Cancel working orders when asked, then flatten every position."""
        if cancel_orders:
            for coid, od in list(self._orders.items()):
                if od.status.is_open:
                    self.cancel_order(coid)
        out = []
        for t in sorted(self.ledger.positions):
            r = self.close_position(t)
            if r is not None:
                out.append(r)
        return out

    def get_clock(self) -> MarketClock:
        """Return the market clock of the configured calendar at the clock's time."""
        return self.sessions.clock(self.clock.now())

    def poll_events(self) -> list[OrderEvent]:
        """Return order events (status changes and fills) not returned before, in order."""
        raw, self._events = self._events, []
        out: list[OrderEvent] = []
        for e in raw:
            if isinstance(e, Fill):
                out.append(OrderFilled(client_order_id=e.client_order_id, ts_event=e.ts_event,
                                       ts_init=e.ts_init, broker_order_id=e.broker_order_id,
                                       fill=e))
            else:
                coid, bid, status, ts, reason = e
                out.append(OrderStatusChanged(client_order_id=coid, ts_event=ts, ts_init=ts,
                                              broker_order_id=bid, status=status, reason=reason))
        return out
