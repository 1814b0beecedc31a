"""A shared multi-ticker replay trades each ticker exactly as a replay of that ticker alone,
and a day order never trades outside its session.

Panels are daily XNYS bars (stamped at each session's close, so every ticker of a session
shares one timestamp and the day after Thanksgiving closes early) with random missing bars.
Each ticker gets its own strategy instance that only reads its own state, so nothing one
ticker does may change another ticker's orders, fills or expiries.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from adapters.data.calendar import session_bounds_ns, sessions_between
from adapters.simulated import ExchangeConfig, SimulatedExchange
from adapters.simulated.examples import SmaCross
from adapters.simulated.replay import (
    ArraySource,
    BarView,
    PerTicker,
    ReplayClock,
    ReplayEngine,
    StrategyContext,
    run_strategy,
)
from adapters.simulated.sessions import dt_from_ns, ns_from_dt
from adapters.sources.market import replay_into
from domain.events import OrderFilled, OrderStatus, OrderStatusChanged
from domain.market import Bar

S = OrderStatus
# 2024-11-20 .. : includes the early close of 2024-11-29 and the Christmas holidays
SESSIONS = sessions_between("2024-11-20", "2025-01-31")
_, CLOSES = session_bounds_ns(SESSIONS)
CLOSES = [int(x) for x in CLOSES]


class Dipper:
    """Per ticker: with no working order, a day limit buy half a dollar under the close when
    flat, else a day limit sell half a dollar over it (most expire, some fill)."""

    def on_bar(self, bar: BarView, ctx: StrategyContext) -> None:
        if ctx.exchange.has_working(bar.ticker):
            return
        if ctx.position(bar.ticker) == 0:
            ctx.buy(bar.ticker, 10, order_type="limit",
                    limit_price=Decimal(repr(round(bar.close - 0.5, 2))))
        else:
            ctx.sell(bar.ticker, 10, order_type="limit",
                     limit_price=Decimal(repr(round(bar.close + 0.5, 2))))


def _strategy(kind: str) -> object:
    return SmaCross(2, 4, quantity=10) if kind == "sma" else Dipper()


Panel = dict[str, tuple[str, list[tuple[int, float, float, float, float]]]]


@st.composite
def panels(draw: st.DrawFn) -> Panel:
    """Tickers -> (strategy kind, bars ``(ts_ns, o, h, l, c)``) on shared session closes."""
    n_days = draw(st.integers(6, 40))
    out: Panel = {}
    for k in range(draw(st.integers(2, 4))):
        steps = draw(st.lists(st.integers(-2, 2), min_size=n_days, max_size=n_days))
        present = draw(st.lists(st.booleans() | st.just(True), min_size=n_days,
                                max_size=n_days))
        wick = draw(st.lists(st.integers(0, 2), min_size=n_days, max_size=n_days))
        gap = draw(st.lists(st.integers(-1, 1), min_size=n_days, max_size=n_days))
        bars = []
        close = 50.0
        for d in range(n_days):
            prev = close
            close = prev + 0.5 * steps[d]
            if not present[d]:
                continue
            o = prev + 0.5 * gap[d]
            bars.append((CLOSES[d], o, max(o, close) + 0.5 * wick[d],
                         min(o, close) - 0.5 * wick[d], close))
        out[f"T{k}"] = (draw(st.sampled_from(["sma", "dip"])), bars)
    return out


def _exchange() -> tuple[SimulatedExchange, ReplayClock]:
    clock = ReplayClock(datetime(2024, 1, 2, tzinfo=UTC))
    ex = SimulatedExchange(ExchangeConfig(starting_cash=Decimal(10**9), participation=None),
                           clock=clock)
    return ex, clock


def _rows(panel: Panel, tickers: Sequence[str]) -> list[tuple[int, str, float, float, float,
                                                               float]]:
    rows = [(ts, t, o, h, lo, c) for t in tickers for ts, o, h, lo, c in panel[t][1]]
    rows.sort(key=lambda r: r[0])  # stable: tickers keep their order inside a step
    return rows


def _source(panel: Panel, tickers: Sequence[str]) -> ArraySource:
    rows = _rows(panel, tickers)
    cols = list(zip(*rows, strict=True)) if rows else [[]] * 6
    return ArraySource(np.asarray(cols[1], dtype=object), np.asarray(cols[0], dtype=np.int64),
                       *(np.asarray(c, dtype=float) for c in cols[2:]),
                       np.full(len(rows), 1e6), chunk_size=7)


class Dispatch:
    """One strategy per ticker, of the kind the panel names for it."""

    def __init__(self, panel: Panel) -> None:
        self.panel = panel
        self.per: dict[str, object] = {}

    def on_bar(self, bar: BarView, ctx: StrategyContext) -> None:
        s = self.per.get(bar.ticker)
        if s is None:
            s = self.per[bar.ticker] = _strategy(self.panel[bar.ticker][0])
        s.on_bar(bar, ctx)  # type: ignore[attr-defined]


def run_shared_run_strategy(panel: Panel, tickers: Sequence[str]) -> SimulatedExchange:
    """``run_strategy`` over one shared source (the grouped path when tickers share steps)."""
    ex, clock = _exchange()
    run_strategy(ReplayEngine(_source(panel, tickers), clock), ex, Dispatch(panel))
    return ex


def run_steps_process_bars(panel: Panel, tickers: Sequence[str]) -> SimulatedExchange:
    """``ReplayEngine.steps`` + ``process_bars``, the strategy after the whole step."""
    ex, clock = _exchange()
    ctx = StrategyContext(ex)
    strat = Dispatch(panel)
    view = BarView()
    for ts_ns, rows in ReplayEngine(_source(panel, tickers), clock).steps():
        ex.process_bars(ts_ns, rows)
        for t, o, h, lo, c, v in rows:
            view.ticker, view.ts_ns = t, ts_ns
            view.open, view.high, view.low, view.close, view.volume = o, h, lo, c, v
            strat.on_bar(view, ctx)
    return ex


def run_engine_driver(panel: Panel, tickers: Sequence[str]) -> SimulatedExchange:
    """The engine's driver (``replay_into`` -> ``BarReplay``, as ``catalyst backtest``)."""
    ex, clock = _exchange()
    bars = [Bar(ticker=t, ts=dt_from_ns(ts), open=o, high=h, low=lo, close=c, volume=1e6)
            for ts, t, o, h, lo, c in _rows(panel, tickers)]
    ctx = StrategyContext(ex)
    strat = Dispatch(panel)
    view = BarView()
    for step in replay_into(bars, ex, clock).steps(None):
        for t, b in step.bars.items():
            view.ticker, view.ts_ns = t, ns_from_dt(b.ts)
            view.open, view.high, view.low, view.close = b.open, b.high, b.low, b.close
            view.volume = b.volume
            strat.on_bar(view, ctx)
    return ex


def events_by_ticker(ex: SimulatedExchange) -> dict[str, list[tuple[object, ...]]]:
    """Every order event, per ticker, in emission order, without ids (they differ by run).

    Time first moves past the panel's last session, so the day orders left at the end of the
    data expire whether or not another ticker's bars outlast this ticker's.
    """
    ex.advance_to(CLOSES[-1])
    out: dict[str, list[tuple[object, ...]]] = {}
    for e in ex.poll_events():
        rep = ex.get_order_by_client_id(e.client_order_id)
        assert rep is not None
        if isinstance(e, OrderFilled):
            f = e.fill
            row: tuple[object, ...] = ("fill", f.ts_event, rep.side, rep.order_type,
                                       f.quantity, f.price)
        else:
            assert isinstance(e, OrderStatusChanged)
            row = (e.status, e.ts_event, rep.side, rep.order_type, rep.quantity)
        out.setdefault(rep.ticker, []).append(row)
    return out


def assert_day_orders_stay_in_session(ex: SimulatedExchange) -> None:
    """Every day order fills only in the session it was submitted for and, unfilled,
    expires exactly at that session's close."""
    for e in ex.poll_events():
        rep = ex.get_order_by_client_id(e.client_order_id)
        assert rep is not None
        close = ex.sessions.day_expiry(ns_from_dt(rep.created_at))
        if isinstance(e, OrderFilled):
            assert ns_from_dt(e.ts_event) <= close, (rep, e)
        elif e.status is S.EXPIRED:
            assert ns_from_dt(e.ts_event) == close, (rep, e)


SHARED = [run_shared_run_strategy, run_steps_process_bars, run_engine_driver]

# two tickers, every session shared, the second ticker's orders must survive the first's bar
_BOTH = [(CLOSES[d], 50.0, 51.0, 48.0, 50.0 + (d % 3) * 0.5) for d in range(8)]


@pytest.mark.parametrize("shared", SHARED, ids=lambda f: f.__name__)
@settings(max_examples=60)
@given(panel=panels(), rotate=st.integers(0, 3))
@example(panel={"T0": ("dip", _BOTH), "T1": ("dip", _BOTH)}, rotate=0)
@example(panel={"T0": ("sma", _BOTH), "T1": ("dip", _BOTH[:3] + _BOTH[5:])}, rotate=1)
# the first ticker's data ends while its last day order is working; the other's goes on
@example(panel={"T0": ("dip", _BOTH[:4]), "T1": ("sma", _BOTH)}, rotate=0)
def test_shared_replay_equals_each_ticker_alone(shared: Callable[..., SimulatedExchange],
                                                panel: Panel, rotate: int) -> None:
    tickers = sorted(panel)
    k = rotate % len(tickers)  # the order of tickers inside each step
    together = events_by_ticker(shared(panel, tickers[k:] + tickers[:k]))
    for t in tickers:
        alone = events_by_ticker(run_shared_run_strategy(panel, [t])).get(t, [])
        assert together.get(t, []) == alone, t


@settings(max_examples=60)
@given(panel=panels())
def test_day_orders_never_leave_their_session(panel: Panel) -> None:
    tickers = sorted(panel)
    for run in SHARED:
        assert_day_orders_stay_in_session(run(panel, tickers))


def _submit_market_day(ex: SimulatedExchange, ticker: str = "AAA") -> str:
    ctx = StrategyContext(ex, f"day{ticker}")
    coid = ctx.buy(ticker, 10)
    assert coid is not None
    return coid


def _bar(ex: SimulatedExchange, clock: ReplayClock, day: int, ticker: str = "AAA",
         px: float = 100.0) -> None:
    clock.set_ns(CLOSES[day])
    ex.on_bar(ticker, CLOSES[day], px, px + 1, px - 1, px, 1e6)


def test_day_order_with_no_bar_in_its_session_expires_at_that_close_unfilled() -> None:
    ex, clock = _exchange()
    _bar(ex, clock, 0)
    coid = _submit_market_day(ex)  # belongs to session 1; the ticker has no bar there
    _bar(ex, clock, 2, px=105.0)  # a later session: must not fill here
    rep = ex.get_order_by_client_id(coid)
    assert rep is not None and rep.status is S.EXPIRED and rep.filled_qty == 0
    assert rep.updated_at == dt_from_ns(CLOSES[1])
    assert ex.pos_f.get("AAA", 0.0) == 0.0
    assert not [e for e in ex.poll_events() if isinstance(e, OrderFilled)]


def test_day_order_of_a_halted_ticker_expires_when_another_ticker_ends_its_session() -> None:
    ex, clock = _exchange()
    _bar(ex, clock, 0)
    coid = _submit_market_day(ex)
    ex.process_bars(CLOSES[1], [("BBB", 10.0, 11.0, 9.0, 10.0, 1e6)])  # AAA halted
    rep = ex.get_order_by_client_id(coid)
    assert rep is not None and rep.status is S.EXPIRED
    assert rep.updated_at == dt_from_ns(CLOSES[1])
    _bar(ex, clock, 2)
    assert ex.pos_f.get("AAA", 0.0) == 0.0


def test_other_tickers_day_orders_survive_the_first_bar_of_the_session_close() -> None:
    ex, clock = _exchange()
    for t in ("AAA", "BBB", "CCC"):
        ex.on_bar(t, CLOSES[0], 10.0, 11.0, 9.0, 10.0, 1e6)
    coids = [_submit_market_day(ex, t) for t in ("AAA", "BBB", "CCC")]
    clock.set_ns(CLOSES[1])
    ex.process_bars(CLOSES[1], [(t, 10.5, 11.0, 9.0, 10.0, 1e6) for t in ("AAA", "BBB", "CCC")])
    for coid in coids:
        rep = ex.get_order_by_client_id(coid)
        assert rep is not None and rep.status is S.FILLED and rep.filled_avg_price == Decimal(
            "10.5")


def test_a_bar_at_the_close_expires_its_own_tickers_orders_only() -> None:
    ex, clock = _exchange()
    for t in ("AAA", "BBB"):
        ex.on_bar(t, CLOSES[0], 10.0, 11.0, 9.0, 10.0, 1e6)
    a = StrategyContext(ex, "a").buy("AAA", 10, order_type="limit", limit_price=Decimal(5))
    b = StrategyContext(ex, "b").buy("BBB", 10, order_type="limit", limit_price=Decimal(10))
    clock.set_ns(CLOSES[1])
    ex.on_bar("AAA", CLOSES[1], 10.0, 11.0, 9.0, 10.0, 1e6)  # the session's last AAA bar
    ra, rb = ex.get_order_by_client_id(a or ""), ex.get_order_by_client_id(b or "")
    assert ra is not None and ra.status is S.EXPIRED
    assert rb is not None and rb.status is S.NEW  # BBB's bar of this close is still to come
    ex.on_bar("BBB", CLOSES[1], 10.0, 11.0, 9.0, 10.0, 1e6)
    rb = ex.get_order_by_client_id(b or "")
    assert rb is not None and rb.status is S.FILLED


def test_per_ticker_strategies_all_trade_in_a_shared_replay() -> None:
    # five tickers, identical bars: every ticker must trade like the first one
    closes = [50, 49, 48, 47, 48, 50, 52, 51, 49, 47, 46, 48, 51, 53]
    panel: Panel = {f"T{k}": ("sma", [(CLOSES[d], float(c), c + 1.0, c - 1.0, float(c))
                                      for d, c in enumerate(closes)]) for k in range(5)}
    ex, clock = _exchange()
    ctx = run_strategy(ReplayEngine(_source(panel, sorted(panel)), clock), ex,
                       PerTicker(lambda: SmaCross(2, 4, quantity=10)))
    fills = events_by_ticker(ex)
    assert len(fills["T0"]) > 2
    assert all(fills[t] == fills["T0"] for t in panel)
    assert not ctx.rejected
