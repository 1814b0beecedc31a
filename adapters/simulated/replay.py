"""Replay historical bars through the simulated exchange, streaming and in time order.

The pieces, from the outside in (also documented in ``docs/simulator.md``); the bar sources
live in ``adapters/simulated/bars.py`` and the strategy side in
``adapters/simulated/strategy.py``, both re-exported here:

``BarSource``
    Anything with ``chunks()`` yielding :class:`BarChunk` (numpy columns, time-ordered,
    each chunk ending on a timestamp boundary). :class:`ArraySource` wraps arrays or a
    canonical OHLCV frame; :class:`CsvSource` streams a CSV file in chunks (daily dates
    become the session's close from the exchange calendar, so early closes are right;
    intraday timestamps are taken as bar *starts* and moved to bar ends).

:class:`ReplayEngine`
    Merges any number of sources by timestamp, chunk by chunk, so memory stays flat in
    the number of bars, drives a :class:`ReplayClock` (a ``TestClock``) and yields
    ``(ts_ns, rows)`` per timestamp from :meth:`ReplayEngine.steps`, where ``rows`` is a
    list of plain tuples ``(ticker, open, high, low, close, volume)``. Nothing else is
    created per bar.

:func:`run_strategy`
    The event-driven loop for users who embed the core: per step the exchange matches
    working orders against every bar of the step and then expires the day orders whose
    session ended (as ``exchange.process_bars`` does), then the strategy sees each bar
    through a reused :class:`BarView` and either returns signals or calls the
    :class:`StrategyContext` order helpers; the per-step equity goes to an
    :class:`EquityRecorder`. :class:`PerTicker` gives each ticker its own strategy.

A trading engine built on top (``application/engine.py``) uses the same three calls::

    for ts_ns, rows in replay.steps():          # clock already set to ts_ns
        exchange.process_bars(ts_ns, rows)      # fills, expiries -> exchange.poll_events()
        ...signals -> orders -> exchange.submit_order(...)
        equity = exchange.equity_f()            # float; exact money via get_account()

:class:`StrategySignalSource` adapts a bar strategy to the ``SignalSource`` port: the engine
feeds it bars and polls the signals it produced.
"""

from __future__ import annotations

import gc
import math
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import repeat

import numpy as np

from adapters.simulated.bars import (
    ArraySource,
    BarChunk,
    BarSource,
    CsvSource,
    ReplayClock,
    merge_sources,
)
from adapters.simulated.exchange import SimulatedExchange
from adapters.simulated.strategy import (
    BarStrategy,
    BarView,
    PerTicker,
    StrategyContext,
    StrategyLike,
    signals_to_orders,
    strategy_callable,
)
from application.engine import SignalContext
from application.engine import StrategySignalSource as _EngineStrategySource
from domain.signal import Signal

__all__ = [
    "ArraySource",
    "BarChunk",
    "BarStrategy",
    "BarView",
    "CsvSource",
    "EquityRecorder",
    "EquityStats",
    "PerTicker",
    "ReplayClock",
    "ReplayEngine",
    "StrategyContext",
    "StrategySignalSource",
    "run_strategy",
]

Row = tuple[str, float, float, float, float, float]


class ReplayEngine:
    """Replays bar sources in time order and drives a :class:`ReplayClock`.

    Parameters
    ----------
    sources
        One or more :class:`BarSource` (arrays, CSV files); merged by timestamp.
    clock
        The clock to drive (shared with the exchange); a new one if omitted.
    """

    def __init__(self, sources: BarSource | Sequence[BarSource],
                 clock: ReplayClock | None = None) -> None:
        self.sources: list[BarSource] = [sources] if hasattr(sources, "chunks") else \
            list(sources)
        self.clock = clock or ReplayClock()
        self.bars_seen = 0

    def chunks(self) -> Iterator[BarChunk]:
        """Yield merged chunks (for vectorised users such as the sparse runner)."""
        return merge_sources(self.sources)

    def steps(self) -> Iterator[tuple[int, list[Row]]]:
        """Yield ``(ts_ns, rows)`` per timestamp, after moving the clock to ``ts_ns``."""
        set_ns = self.clock.set_ns
        for chunk in merge_sources(self.sources):
            self.bars_seen += len(chunk)
            for ts_ns, tk, o, h, lo, c, v in step_columns(chunk):
                set_ns(ts_ns)
                yield ts_ns, list(zip(tk, o, h, lo, c, v, strict=True))


def step_columns(chunk: BarChunk) -> Iterator[tuple[int, list[str], list[float], list[float],
                                                    list[float], list[float], list[float]]]:
    """Yield each step of ``chunk`` (time-ordered) as ``(ts_ns, tickers, open, high, low,
    close, volume)``, the columns as lists of plain values."""
    ts = chunk.ts
    n = len(ts)
    if not n:
        return
    tk = chunk.ticker.tolist()
    o, h, lo, c, v = (chunk.open.tolist(), chunk.high.tolist(), chunk.low.tolist(),
                      chunk.close.tolist(), chunk.volume.tolist())
    starts = np.flatnonzero(ts[1:] != ts[:-1]) + 1
    if len(starts) == n - 1:  # one bar per timestamp
        for t, a, b, d, e, f, g in zip(ts.tolist(), tk, o, h, lo, c, v, strict=True):
            yield t, [a], [b], [d], [e], [f], [g]
        return
    bounds = [0, *starts.tolist(), n]
    for i, j, t in zip(bounds, bounds[1:], ts[bounds[:-1]].tolist(), strict=False):
        yield t, tk[i:j], o[i:j], h[i:j], lo[i:j], c[i:j], v[i:j]


class EquityRecorder:
    """Collects the per-step equity curve in compact arrays (8 bytes per step each)."""

    def __init__(self) -> None:
        self.ts = array("q")
        self.equity = array("d")

    def __call__(self, ts_ns: int, equity: float) -> None:
        self.ts.append(ts_ns)
        self.equity.append(equity)


class EquityStats:
    """A constant-memory equity sink: last value, peak and maximum drawdown."""

    def __init__(self) -> None:
        self.n = 0
        self.last = 0.0
        self.peak = -math.inf
        self.max_drawdown = 0.0

    def __call__(self, ts_ns: int, equity: float) -> None:
        self.n += 1
        self.last = equity
        if equity > self.peak:
            self.peak = equity
        elif self.peak > 0:
            dd = 1.0 - equity / self.peak
            if dd > self.max_drawdown:
                self.max_drawdown = dd


def run_strategy(replay: ReplayEngine, exchange: SimulatedExchange, strategy: StrategyLike,
                 equity: Callable[[int, float], None] | None = None,
                 on_signals: Callable[[StrategyContext, Iterable[Signal]], None] | None = None,
                 name: str = "strategy") -> StrategyContext:
    """Replay every bar: match orders, call the strategy, record equity per step.

    Parameters
    ----------
    replay, exchange
        The replay engine and the exchange (share one clock: ``exchange.clock``).
    strategy
        A :class:`BarStrategy` or a callable ``(bar, ctx) -> signals | None``.
    equity
        A sink ``(ts_ns, equity)`` called once per step (:class:`EquityRecorder`,
        :class:`EquityStats`), or None.
    on_signals
        What to do with returned signals (default :func:`signals_to_orders`).
    """
    # the loop allocates few objects, but trades create many long-lived ones (orders,
    # fills, positions) whose generational GC passes grow with the run: pause the cycle
    # collector while replaying (reference counting still frees everything acyclic)
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _run(replay, exchange, strategy, equity, on_signals, name)
    finally:
        if gc_was_enabled:
            gc.enable()


def _run(replay: ReplayEngine, exchange: SimulatedExchange, strategy: StrategyLike,
         equity: Callable[[int, float], None] | None,
         on_signals: Callable[[StrategyContext, Iterable[Signal]], None] | None,
         name: str) -> StrategyContext:
    fn = strategy_callable(strategy)
    ctx = StrategyContext(exchange, name)
    view = BarView()
    handle = on_signals or signals_to_orders
    on_bar = exchange.on_bar
    take_bars = exchange.take_bars
    equity_f = exchange.equity_f
    idx = -1
    clock = replay.clock
    last, working, keep_hist = exchange._last, exchange._working, exchange._keep_history
    rec_ts = rec_eq = None
    if type(equity) is EquityRecorder:
        rec_ts, rec_eq = equity.ts.append, equity.equity.append
    for chunk in replay.chunks():
        n = len(chunk)
        if n > 1 and not bool(np.all(np.diff(chunk.ts) > 0)):
            for ts_ns, tks, o_, h_, lo_, c_, v_ in step_columns(chunk):
                clock.set_ns(ts_ns)
                # the exchange's rows (ts, o, h, l, c, v): stored as its last bars as they are
                rows = list(zip(repeat(ts_ns), o_, h_, lo_, c_, v_))
                take_bars(ts_ns, tks, rows)
                if ts_ns >= exchange._next_expiry:  # every bar of the step was matched
                    exchange._expire(ts_ns)
                for t, r in zip(tks, rows, strict=True):
                    idx += 1
                    view.ticker = t
                    _, view.open, view.high, view.low, view.close, view.volume = r
                    view.ts_ns = ts_ns
                    view.index = idx
                    out = fn(view, ctx)
                    if out:
                        handle(ctx, out)
                if equity is not None:
                    equity(ts_ns, equity_f())
            continue
        replay.bars_seen += n
        if n:
            clock.set_ns(int(chunk.ts[0]))
        # one bar per timestamp: the tight loop (no per-bar allocation but the row tuple)
        for ts_ns, t, o, h, lo, c, v in zip(
            chunk.ts.tolist(), chunk.ticker.tolist(), chunk.open.tolist(), chunk.high.tolist(),
            chunk.low.tolist(), chunk.close.tolist(), chunk.volume.tolist(), strict=True
        ):
            clock._ns = ts_ns
            if ts_ns >= exchange._next_expiry:  # the only bar of its step: then expire
                on_bar(t, ts_ns, o, h, lo, c, v)
                exchange._expire(ts_ns)
            elif keep_hist or working.get(t):
                on_bar(t, ts_ns, o, h, lo, c, v)
            else:  # nothing can trade: what on_bar would do, without the call
                last[t] = (ts_ns, o, h, lo, c, v)
                exchange._now_ns = ts_ns
            idx += 1
            view.ticker = t
            view.ts_ns = ts_ns
            view.open = o
            view.high = h
            view.low = lo
            view.close = c
            view.volume = v
            view.index = idx
            out = fn(view, ctx)
            if out:
                handle(ctx, out)
            if rec_ts is not None:
                rec_ts(ts_ns)
                rec_eq(equity_f())  # type: ignore[misc]
            elif equity is not None:
                equity(ts_ns, equity_f())
    return ctx


class StrategySignalSource(_EngineStrategySource):
    """The engine's :class:`~application.engine.StrategySignalSource` for a strategy
    ``(bar view, ctx) -> signals``: ``ctx`` is a :class:`~application.engine.SignalContext`
    whose ``buy``/``sell``/``close`` emit signals (sized and risk-checked by the engine, not
    sent to the exchange) and whose ``position``/``cash``/``equity`` read ``exchange``. The
    array replay calls :meth:`feed` per step, the engine :meth:`observe`; both reach the
    same strategy the same way.
    """

    def __init__(self, strategy: StrategyLike, exchange: SimulatedExchange,
                 name: str = "strategy") -> None:
        view = BarView()
        ctx = SignalContext(view, name,
                            position=lambda t: exchange.pos_f.get(t, 0.0),
                            cash=lambda: exchange.cash_f, equity=exchange.equity_f)
        super().__init__(strategy_callable(strategy), context=ctx, view=view)
