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
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from math import isnan
from typing import Literal

import attrs

from adapters.simulated.sessions import Sessions, dt_from_ns, ns_from_dt, sessions_for
from domain import fill_rules as fr
from domain.account import Account, BrokerPosition
from domain.clock import Clock, TestClock
from domain.commands import SubmitOrder
from domain.costs import ZERO_COSTS, CostModel
from domain.errors import (
    DuplicateClientOrderId,
    InsufficientBuyingPower,
    InvalidOrder,
    MarketClosed,
    OrderNotFound,
    OrderRejected,
)
from domain.events import Fill, OrderEvent, OrderFilled, OrderStatus, OrderStatusChanged
from domain.ids import client_order_id as make_coid
from domain.ids import digest
from domain.market import Bar, MarketClock
from domain.orders import OrderReport
from domain.portfolio import Ledger
from domain.values import ZERO, OrderClass, OrderType, Side, TimeInForce, dec

__all__ = ["ExchangeConfig", "SimulatedExchange"]

S = OrderStatus
_FAR = 2**62
_MKT, _LMT, _STP, _STPLMT, _TRAIL = range(5)
_TYPE_CODE = {OrderType.MARKET: _MKT, OrderType.LIMIT: _LMT, OrderType.STOP: _STP,
              OrderType.STOP_LIMIT: _STPLMT, OrderType.TRAILING_STOP: _TRAIL}
_OPEN_STATES = frozenset({S.NEW, S.PARTIALLY_FILLED, S.ACCEPTED})
_CENT = Decimal("0.01")
_BASIS = Decimal("0.0001")
_EXPIRED = "day order reached session close"


def _position_id(fill: Fill) -> str:
    # fill ids are unique per exchange, so the position id needs no hashing
    return f"pos-{fill.fill_id}"


def _cash(v: object) -> Decimal:
    return dec(v, "starting_cash")


def _d(x: float) -> Decimal:
    # float() first: numpy scalars repr as "np.float64(...)"
    return Decimal(repr(float(x)))


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


class _Order:
    """A working order inside the exchange: floats for matching, Decimal for money."""

    __slots__ = (
        "avg",
        "bid",
        "code",
        "coid",
        "commission",
        "created",
        "eligible_ns",
        "expiry_ns",
        "extended",
        "filled",
        "legs",
        "limit",
        "nfills",
        "parent",
        "qty",
        "ref",
        "req",
        "role",
        "sibling",
        "side",
        "sign",
        "status",
        "stop",
        "ticker",
        "tif",
        "trail_abs",
        "trail_pct",
        "tried",
        "triggered",
        "updated",
        "wm",
    )

    def __init__(self, req: SubmitOrder, bid: str, now: datetime, now_ns: int) -> None:
        self.req = req
        self.coid = req.client_order_id
        self.bid = bid
        self.ticker = req.ticker
        self.side = req.side
        self.sign = 1 if req.side is Side.BUY else -1
        self.code = _TYPE_CODE[req.order_type]
        self.qty = req.quantity
        self.filled = ZERO
        self.avg: Decimal | None = None
        self.status = S.NEW
        self.limit = float(req.limit_price) if req.limit_price is not None else 0.0
        self.stop = float(req.stop_price) if req.stop_price is not None else 0.0
        self.trail_abs = float(req.trail_price) if req.trail_price is not None else 0.0
        self.trail_pct = float(req.trail_percent) if req.trail_percent is not None else 0.0
        self.wm = float("nan")
        self.triggered = False
        self.tif = req.time_in_force
        self.eligible_ns = now_ns
        self.expiry_ns = _FAR
        self.created = now
        self.updated = now
        self.nfills = 0
        self.commission = ZERO
        self.parent: _Order | None = None
        self.legs: list[_Order] = []
        self.role = ""
        self.sibling: _Order | None = None
        self.extended = req.extended_hours
        self.tried = False
        self.ref = 0.0

    @property
    def leaves(self) -> Decimal:
        return self.qty - self.filled

    def report(self) -> OrderReport:
        r = self.req
        return OrderReport(
            client_order_id=self.coid, broker_order_id=self.bid, ticker=self.ticker,
            side=self.side, quantity=self.qty, order_type=r.order_type, status=self.status,
            filled_qty=self.filled, filled_avg_price=self.avg, limit_price=r.limit_price,
            stop_price=r.stop_price, time_in_force=self.tif, order_class=r.order_class,
            created_at=self.created, updated_at=self.updated,
            legs=tuple(leg.report() for leg in self.legs),
        )


class SimulatedExchange:
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
        self._hist: dict[str, deque[tuple[int, float, float, float, float, float]]] = {}
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

    # ================================================================== bar driving
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
        on_bar = self.on_bar
        for t, o, h, lo, c, v in rows:
            on_bar(t, ts_ns, o, h, lo, c, v)
        if ts_ns >= self._next_expiry:
            self._expire(ts_ns)

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

    @property
    def marks(self) -> dict[str, float]:
        """Return the last close of every ticker seen (floats)."""
        return {t: r[4] for t, r in self._last.items()}

    def equity_f(self) -> float:
        """Return equity at the last closes in floats (for per-bar equity curves)."""
        eq = self.cash_f
        last = self._last
        for t, q in self.pos_f.items():
            if q:
                eq += q * last[t][4]
        return eq

    def has_working(self, ticker: str | None = None) -> bool:
        """Return True when any order (of ``ticker``) is working."""
        if ticker is None:
            return any(self._working.values())
        return bool(self._working.get(ticker))

    def working_orders(self, ticker: str) -> list[_Order]:
        """Return the working orders of ``ticker`` (internal records; read-only use)."""
        return list(self._working.get(ticker, ()))

    @property
    def next_expiry_ns(self) -> int:
        """Return when the next day order expires (a huge number when none)."""
        return self._next_expiry

    # ================================================================== matching
    def _slippage(self, o: float, h: float, lo: float) -> float:
        if self._volf and o > 0.0:
            return self._slip + self._volf * (h - lo) / o * 1e4
        return self._slip

    def _match(self, ticker: str, work: list[_Order], ts_ns: int, o: float, h: float,
               lo: float, c: float, v: float) -> None:
        sessions = self.sessions
        regular = sessions.is_regular_bar(ts_ns)
        avail = fr.participation_cap(v, self._rate)
        done: set[int] = set()
        batch = list(work)
        while batch:
            self._new_legs = []
            avail = self._match_batch(batch, done, regular, avail, ts_ns, o, h, lo, c)
            batch = self._new_legs

    def _match_batch(self, batch: list[_Order], done: set[int], regular: bool, avail: float,
                     ts_ns: int, o: float, h: float, lo: float, c: float) -> float:
        sessions = self.sessions
        for od in batch:
            if id(od) in done or od.status not in _OPEN_STATES or ts_ns <= od.eligible_ns:
                continue
            if not regular and not (od.extended and sessions.is_extended_bar(ts_ns)):
                continue
            if avail < 1.0:
                if od.tif in (TimeInForce.IOC, TimeInForce.FOK, TimeInForce.OPG):
                    self._finish(od, S.CANCELED, ts_ns)
                continue
            sib = od.sibling
            if sib is not None and sib.status in _OPEN_STATES and ts_ns > sib.eligible_ns:
                done.add(id(sib))
                p1: float | None = self._price(od, ts_ns, o, h, lo, c)
                p2: float | None = self._price(sib, ts_ns, o, h, lo, c)
                if p1 is not None and p2 is not None:
                    sl_first = self._stop_first
                    first, fpx = (od, p1) if (od.role == "sl") == sl_first else (sib, p2)
                    avail = self._take(first, fpx, avail, ts_ns)
                    continue
                if p2 is not None:
                    od, p1 = sib, p2
                if p1 is not None:
                    avail = self._take(od, p1, avail, ts_ns)
                continue
            px = self._price(od, ts_ns, o, h, lo, c)
            tif = od.tif
            if px is None:
                if tif in (TimeInForce.IOC, TimeInForce.FOK, TimeInForce.OPG) or (
                    tif is TimeInForce.CLS and sessions.is_session_close(ts_ns)
                ):
                    self._finish(od, S.CANCELED, ts_ns)
                continue
            if tif is TimeInForce.FOK and Decimal(int(min(avail, 1e15))) < od.leaves:
                self._finish(od, S.CANCELED, ts_ns)
                continue
            avail = self._take(od, px, avail, ts_ns)
            if tif in (TimeInForce.IOC, TimeInForce.OPG, TimeInForce.CLS) and \
                    od.status in _OPEN_STATES:
                self._finish(od, S.CANCELED, ts_ns)
        return avail

    def _price(self, od: _Order, ts_ns: int, o: float, h: float, lo: float,
               c: float) -> float | None:
        tif = od.tif
        if tif is TimeInForce.OPG:
            if od.tried:
                return None
            od.tried = True
            if od.code == _MKT:
                return fr.market_price(od.sign, o, h, lo, self._slippage(o, h, lo))
            if od.code == _LMT:
                ok = o <= od.limit if od.sign > 0 else o >= od.limit
                return o if ok else None
            return None
        if tif is TimeInForce.CLS:
            if not self.sessions.is_session_close(ts_ns):
                return None
            if od.code == _MKT:
                return fr.clamp(c * (1.0 + od.sign * self._slippage(o, h, lo) * 1e-4), lo, h)
            if od.code == _LMT:
                ok = c <= od.limit if od.sign > 0 else c >= od.limit
                return c if ok else None
            return None
        code = od.code
        if code == _MKT:
            return fr.market_price(od.sign, o, h, lo, self._slippage(o, h, lo))
        if code == _LMT:
            return fr.limit_price(od.sign, od.limit, o, h, lo)
        if code == _STP:
            return fr.stop_price(od.sign, od.stop, o, h, lo, self._slippage(o, h, lo))
        if code == _STPLMT:
            if od.triggered:
                return fr.limit_price(od.sign, od.limit, o, h, lo)
            trig, px = fr.stop_limit_price(od.sign, od.stop, od.limit, o, h, lo)
            if trig:
                od.triggered = True
            return px
        # trailing stop: the watermark starts at the reference price of the submit
        wm = od.wm
        if isnan(wm):
            wm = od.ref if od.ref > 0.0 else o
        new_wm, px = fr.trailing_step(od.sign, wm, od.trail_abs, od.trail_pct, o, h, lo,
                                      self._slippage(o, h, lo))
        od.wm = new_wm
        return px

    def _take(self, od: _Order, px: float, avail: float, ts_ns: int) -> float:
        qty = od.leaves
        parent = od.parent
        if parent is not None:
            sib = od.sibling
            room = parent.filled - od.filled - (sib.filled if sib is not None else ZERO)
            qty = min(qty, room)
        if avail != float("inf"):
            qty = min(qty, Decimal(int(avail)))
        if qty <= 0:
            return avail
        self._fill(od, qty, px, ts_ns)
        return avail - float(qty)

    def _fill(self, od: _Order, qty: Decimal, px: float, ts_ns: int) -> None:
        last = self._last.get(od.ticker)
        px = round(px, 4)
        if last is not None:
            px = fr.clamp(px, last[3], last[2])
        price = _d(px)
        qf = float(qty)
        fee = self._commission(qf, px) if self._charges else 0.0
        comm = _d(round(fee, 6)) if fee else ZERO
        od.nfills += 1
        if ts_ns != self._dt_ns:
            self._dt_ns, self._dt = ts_ns, dt_from_ns(ts_ns)
        ts = self._dt
        fill = Fill(fill_id=f"{od.bid}-{od.nfills}", client_order_id=od.coid, ticker=od.ticker,
                    side=od.side, quantity=qty, price=price, ts_event=ts, commission=comm,
                    ts_init=ts, broker_order_id=od.bid)
        self.ledger.apply_fill(fill)
        self.fill_count += 1
        self.cash_f -= od.sign * qf * px + float(comm)
        self.pos_f[od.ticker] = self.pos_f.get(od.ticker, 0.0) + od.sign * qf
        notional = (od.avg or ZERO) * od.filled + qty * price
        od.filled += qty
        od.avg = notional / od.filled
        od.commission += comm
        od.status = S.FILLED if od.filled == od.qty else S.PARTIALLY_FILLED
        od.updated = ts
        if self._emit_events:
            self._events.append(fill)
        if od.status is S.FILLED:
            self._unwork(od)
        for leg in od.legs:  # a bracket entry filled: its legs start working
            if leg.status is S.HELD:
                leg.status = S.NEW
                leg.updated = ts
                # the stop leg may trade in the entry's bar (adverse first); the target only
                # from the next bar unless target_first is configured
                leg.eligible_ns = ts_ns - 1 if (leg.role == "sl" or not self._stop_first) \
                    else ts_ns
                self._emit(leg, S.NEW, ts)
                self._working.setdefault(leg.ticker, []).append(leg)
                self._new_legs.append(leg)
        sib = od.sibling
        if od.status is S.FILLED and sib is not None and sib.status.is_open:
            self._finish(sib, S.CANCELED, ts_ns, reason="oco: other leg filled")

    def _unwork(self, od: _Order) -> None:
        work = self._working.get(od.ticker)
        if work is not None and od in work:
            work.remove(od)
        if not self._retain and not od.status.is_open:
            root = od.parent or od
            if not root.status.is_open and not any(leg.status.is_open for leg in root.legs):
                self._forget(root)

    def _forget(self, od: _Order) -> None:
        for x in (od, *od.legs):
            self._orders.pop(x.coid, None)
            self._by_bid.pop(x.bid, None)
        led = self.ledger
        led.closed.clear()
        led.seen_fills.clear()

    def _emit(self, od: _Order, status: OrderStatus, ts: datetime, reason: str | None = None
              ) -> None:
        # events are built when polled: a backtest nobody polls pays nothing for them
        if self._emit_events:
            self._events.append((od.coid, od.bid, status, ts, reason))

    def _finish(self, od: _Order, status: OrderStatus, ts_ns: int,
                reason: str | None = None) -> None:
        od.status = status
        ts = dt_from_ns(ts_ns) if ts_ns else self.clock.now()
        od.updated = ts
        self._unwork(od)
        self._emit(od, status, ts, reason)
        for leg in od.legs:
            if leg.status is S.HELD or (leg.status.is_open and od.filled == 0):
                self._finish(leg, S.CANCELED, ts_ns, reason="parent closed unfilled")

    def _expire(self, now_ns: int) -> None:
        # expire every working order whose session ended at or before ``now_ns``, stamped at
        # its session's end (not at the bar that revealed it), and recompute the next expiry
        nxt = _FAR
        for work in list(self._working.values()):
            for od in list(work):
                if od.expiry_ns <= now_ns:
                    if od.status.is_open:
                        self._finish(od, S.EXPIRED, od.expiry_ns, reason=_EXPIRED)
                elif od.expiry_ns < nxt:
                    nxt = od.expiry_ns
        self._next_expiry = nxt

    # ================================================================== BrokerPort
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

    def _add_legs(self, parent: _Order, now: datetime, now_ns: int) -> None:
        r = parent.req
        exit_side = Side.SELL if r.side is Side.BUY else Side.BUY
        tp = SubmitOrder(client_order_id=f"{r.client_order_id[:45]}-tp", ticker=r.ticker,
                         side=exit_side, quantity=r.quantity, order_type=OrderType.LIMIT,
                         limit_price=r.take_profit_price, time_in_force=TimeInForce.GTC)
        sl_type = OrderType.STOP_LIMIT if r.stop_loss_limit_price is not None else OrderType.STOP
        sl = SubmitOrder(client_order_id=f"{r.client_order_id[:45]}-sl", ticker=r.ticker,
                         side=exit_side, quantity=r.quantity, order_type=sl_type,
                         stop_price=r.stop_loss_price, limit_price=r.stop_loss_limit_price,
                         time_in_force=TimeInForce.GTC)
        legs = []
        for req, role in ((tp, "tp"), (sl, "sl")):
            leg = _Order(req, f"{parent.bid}-{role}", now, now_ns)
            leg.role, leg.parent, leg.status = role, parent, S.HELD
            self._orders[leg.coid] = leg
            self._by_bid[leg.bid] = leg
            self._emit(leg, S.HELD, now)
            legs.append(leg)
        legs[0].sibling, legs[1].sibling = legs[1], legs[0]
        parent.legs = legs

    def _check_prices(self, r: SubmitOrder) -> None:
        if not self.config.enforce_tick_size or (
            r.order_type is OrderType.MARKET and r.order_class is OrderClass.SIMPLE
        ):
            return
        for name in ("limit_price", "stop_price", "take_profit_price", "stop_loss_price",
                     "stop_loss_limit_price", "trail_price"):
            p = getattr(r, name)
            if p is None:
                continue
            tick = _CENT if p >= 1 else _BASIS
            if p != p.quantize(tick):
                raise InvalidOrder(
                    f"invalid {name} {p}: sub-penny increment does not fulfill minimum pricing "
                    f"criteria (tick {tick})", r.client_order_id)

    def _reference(self, r: SubmitOrder) -> float:
        last = self._last.get(r.ticker)
        if r.limit_price is not None:
            return float(r.limit_price)
        if r.stop_price is not None:
            return float(r.stop_price)
        if last is None:
            raise InvalidOrder(f"no price known for {r.ticker}: asset is not tradable yet",
                               r.client_order_id)
        return last[4]

    def _check_buying_power(self, r: SubmitOrder, ref: float) -> None:
        held = self.pos_f.get(r.ticker, 0.0)
        sign = 1 if r.side is Side.BUY else -1
        q = float(r.quantity)
        # the part of the order that reduces the held position needs no buying power
        reducing = min(q, abs(held)) if held * sign < 0 else 0.0
        opening = q - reducing
        if opening <= 0:
            return
        if sign < 0 and not self.config.allow_short:
            raise OrderRejected(
                f"insufficient qty available for order (requested: {r.quantity}, available: "
                f"{abs(held) if held > 0 else 0})", r.client_order_id)
        if r.order_class is OrderClass.BRACKET and not self.config.allow_short and sign < 0:
            raise OrderRejected("short brackets need allow_short", r.client_order_id)
        mult = self._mult_f
        eq_f = self.equity_f()
        gross_f = sum(abs(q) * self._last[t][4] for t, q in self.pos_f.items() if q)
        if not any(self._working.values()) and opening * ref < 0.99 * (eq_f * mult - gross_f):
            return  # clearly affordable: skip the exact Decimal check
        acct = self.get_account()
        reserved = _d(round(sum(
            float(od.leaves) * od.ref for w in self._working.values() for od in w
            if od.parent is None and not self._reduces(od)), 2))
        need = _d(round(opening * ref, 2))
        bp = acct.buying_power - reserved
        if need > bp:
            raise InsufficientBuyingPower(
                f"insufficient buying power (required: {need}, available: {max(bp, ZERO)})",
                r.client_order_id)

    def _reduces(self, od: _Order) -> bool:
        held = self.pos_f.get(od.ticker, 0.0)
        return held * od.sign < 0 and float(od.leaves) <= abs(held)

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

    def _price_dec(self, ticker: str) -> Decimal | None:
        last = self._last.get(ticker)
        return _d(last[4]) if last is not None else None

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

    # ================================================================== PriceFeedPort
    def latest_price(self, ticker: str) -> Decimal | None:
        """Return the last close of ``ticker``."""
        return self._price_dec(ticker)

    def latest_bar(self, ticker: str) -> Bar | None:
        """Return the last bar of ``ticker``."""
        r = self._last.get(ticker)
        if r is None:
            return None
        return Bar(ticker=ticker, ts=dt_from_ns(r[0]), open=r[1], high=r[2], low=r[3],
                   close=r[4], volume=r[5])

    def get_bars(self, ticker: str, start: datetime, end: datetime,
                 timeframe: str = "1Day") -> list[Bar]:
        """Return the kept bars (``config.history`` per ticker) with ``start <= ts <= end``."""
        a, b = ns_from_dt(start), ns_from_dt(end)
        rows = []
        for r in reversed(self._hist.get(ticker, ())):  # time-ordered: walk back from the end
            if r[0] < a:
                if ticker in self._unordered:
                    continue
                break
            if r[0] <= b:
                rows.append(r)
        return [Bar(ticker=ticker, ts=dt_from_ns(r[0]), open=r[1], high=r[2], low=r[3],
                    close=r[4], volume=r[5]) for r in reversed(rows)]

