"""Replay historical bars through the simulated exchange, streaming and in time order.

The pieces, from the outside in (also documented in ``docs/simulator.md``):

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
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from adapters.data.calendar import session_bounds_ns
from adapters.simulated.exchange import SimulatedExchange
from adapters.simulated.sessions import dt_from_ns, ns_from_dt
from application.engine import SignalContext
from application.engine import StrategySignalSource as _EngineStrategySource
from domain.clock import TestClock
from domain.commands import SubmitOrder
from domain.market import Bar
from domain.signal import Signal
from domain.values import Action, Side

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


class ReplayClock(TestClock):
    """A :class:`TestClock` that replay moves with integer nanoseconds.

    ``now()`` builds the ``datetime`` only when somebody asks (at events), so moving the
    clock on every bar costs an integer store.
    """

    def __init__(self, start: datetime | None = None) -> None:
        super().__init__(start if start is not None else dt_from_ns(0))
        self._ns = self._valid_ns = ns_from_dt(self._now)

    def set_ns(self, ts_ns: int) -> None:
        """Move the clock to ``ts_ns`` (never backwards)."""
        if ts_ns < self._ns:
            raise ValueError(f"clock cannot go backwards: {ts_ns} < {self._ns}")
        self._ns = ts_ns

    @property
    def ns(self) -> int:
        """Return the current time as int nanoseconds."""
        return self._ns

    def now(self) -> datetime:
        """Return the current time (UTC)."""
        if self._valid_ns != self._ns:
            self._now = dt_from_ns(self._ns)
            self._valid_ns = self._ns
        return self._now

    def set(self, ts: datetime) -> None:
        """Move the clock to ``ts``."""
        super().set(ts)
        self._ns = self._valid_ns = ns_from_dt(self._now)


class BarChunk:
    """Columns of bars in time order; the last timestamp is never split across chunks."""

    __slots__ = ("close", "high", "low", "open", "ticker", "ts", "volume")

    def __init__(self, ts: np.ndarray, ticker: Sequence[str] | np.ndarray, open_: np.ndarray,
                 high: np.ndarray, low: np.ndarray, close: np.ndarray,
                 volume: np.ndarray) -> None:
        self.ts = np.asarray(ts, dtype=np.int64)
        self.ticker = np.asarray(ticker, dtype=object)
        self.open = np.asarray(open_, dtype=np.float64)
        self.high = np.asarray(high, dtype=np.float64)
        self.low = np.asarray(low, dtype=np.float64)
        self.close = np.asarray(close, dtype=np.float64)
        self.volume = np.asarray(volume, dtype=np.float64)

    def __len__(self) -> int:
        return len(self.ts)

    def take(self, idx: np.ndarray | slice) -> BarChunk:
        """Return the rows at ``idx``."""
        return BarChunk(self.ts[idx], self.ticker[idx], self.open[idx], self.high[idx],
                        self.low[idx], self.close[idx], self.volume[idx])

    @staticmethod
    def concat(chunks: Sequence[BarChunk]) -> BarChunk:
        """Return the rows of ``chunks`` one after the other."""
        return BarChunk(*(np.concatenate([getattr(c, f) for c in chunks])
                          for f in ("ts", "ticker", "open", "high", "low", "close", "volume")))


class BarSource(Protocol):
    """Anything that yields time-ordered :class:`BarChunk` s."""

    def chunks(self) -> Iterator[BarChunk]:
        """Yield chunks in time order."""
        ...


def _chunked(chunk: BarChunk, size: int) -> Iterator[BarChunk]:
    n = len(chunk)
    i = 0
    while i < n:
        j = min(n, i + size)
        while j < n and chunk.ts[j] == chunk.ts[j - 1]:
            j += 1
        yield chunk.take(slice(i, j))
        i = j


class ArraySource:
    """Bars held in arrays (one or many tickers), served in time order in chunks.

    Parameters
    ----------
    ticker
        One ticker for all rows, or one per row.
    ts
        Bar end times: int64 nanoseconds (or anything ``numpy.datetime64`` understands).
    """

    def __init__(self, ticker: str | Sequence[str] | np.ndarray, ts: Any, open_: Any,
                 high: Any, low: Any, close: Any, volume: Any, chunk_size: int = 65_536
                 ) -> None:
        ts_arr = np.asarray(ts)
        if ts_arr.dtype.kind == "M":
            ts_arr = ts_arr.astype("datetime64[ns]").astype(np.int64)
        n = len(ts_arr)
        tick = np.full(n, ticker, dtype=object) if isinstance(ticker, str) else \
            np.asarray(ticker, dtype=object)
        order = np.argsort(ts_arr, kind="stable")
        sorted_already = bool(np.all(order == np.arange(n)))
        self._chunk = BarChunk(ts_arr, tick, np.asarray(open_), np.asarray(high),
                               np.asarray(low), np.asarray(close), np.asarray(volume))
        if not sorted_already:
            self._chunk = self._chunk.take(order)
        self._size = chunk_size

    @classmethod
    def from_frame(cls, df: pd.DataFrame, calendar: str = "XNYS",
                   chunk_size: int = 65_536) -> ArraySource:
        """Return a source over a canonical OHLCV frame (``date`` = daily session date)."""
        _, closes = session_bounds_ns(df["date"].to_numpy(), calendar)
        return cls(df["ticker"].to_numpy(dtype=object), closes, df["open"].to_numpy(float),
                   df["high"].to_numpy(float), df["low"].to_numpy(float),
                   df["close"].to_numpy(float), df["volume"].to_numpy(float),
                   chunk_size=chunk_size)

    def __len__(self) -> int:
        return len(self._chunk)

    def chunks(self) -> Iterator[BarChunk]:
        """Yield the bars in time order, ``chunk_size`` rows at a time."""
        return _chunked(self._chunk, self._size)


class CsvSource:
    """Stream an OHLCV CSV file in chunks (memory flat in the length of a time-ordered file;
    a file out of time order is loaded whole and sorted).

    Columns: a time column (``timestamp_utc``, ``timestamp``, ``date``...), ``ticker`` /
    ``symbol`` (or the ``ticker`` argument), ``open, high, low, close, volume``. Dates
    without a time are daily bars stamped at their session's close; timestamps are bar
    starts of ``bar_seconds`` bars (Alpaca's convention) unless ``ts_is_end``.
    """

    _TIME_COLS = ("timestamp_utc", "timestamp", "datetime", "time", "date", "t")

    def __init__(self, path: str | Path, ticker: str | None = None, bar_seconds: int = 60,
                 ts_is_end: bool = False, chunk_size: int = 65_536,
                 calendar: str = "XNYS") -> None:
        self.path = Path(path)
        self.ticker = ticker
        self.bar_ns = bar_seconds * 1_000_000_000
        self.ts_is_end = ts_is_end
        self.chunk_size = chunk_size
        self.calendar = calendar

    def _convert(self, df: pd.DataFrame) -> BarChunk:
        cols = {c.lower(): c for c in df.columns}
        tcol = next((cols[c] for c in self._TIME_COLS if c in cols), None)
        if tcol is None:
            raise ValueError(f"{self.path}: no time column (expected one of {self._TIME_COLS})")
        raw = df[tcol].astype(str)
        if raw.str.len().max() <= 10:  # dates only: daily bars end at the session close
            _, ts = session_bounds_ns(pd.to_datetime(raw).to_numpy(), self.calendar)
        else:
            ts = pd.to_datetime(raw, utc=True).dt.tz_localize(None).to_numpy(
                "datetime64[ns]").astype(np.int64)
            if not self.ts_is_end:
                ts = ts + self.bar_ns
        tk_col = cols.get("ticker") or cols.get("symbol")
        if tk_col is not None:
            tick = df[tk_col].astype(str).str.upper().to_numpy(dtype=object)
        elif self.ticker:
            tick = np.full(len(df), self.ticker.upper(), dtype=object)
        else:
            raise ValueError(f"{self.path}: no ticker column and no ticker given")
        return BarChunk(ts, tick, *(df[cols[c]].to_numpy(np.float64)
                                    for c in ("open", "high", "low", "close", "volume")))

    def _in_time_order(self) -> bool:
        """Return whether the file's rows are in time order (reads the time column only)."""
        last = -(2**62)
        for df in pd.read_csv(self.path, chunksize=self.chunk_size):
            ts = self._convert(df).ts
            if len(ts) == 0:
                continue
            if ts[0] < last or np.any(np.diff(ts) < 0):
                return False
            last = int(ts[-1])
        return True

    def chunks(self) -> Iterator[BarChunk]:
        """Yield chunks of at most about ``chunk_size`` rows, split on timestamp boundaries.

        A file in time order is streamed (memory flat in its length); one that is not (the
        bundled sample is grouped by ticker) is loaded whole and sorted by time, then ticker.
        """
        if not self._in_time_order():
            chunk = self._convert(pd.read_csv(self.path))
            order = np.lexsort((chunk.ticker.astype(str), chunk.ts))
            chunk = chunk.take(order)
            n, step = len(chunk), max(1, self.chunk_size)
            i = 0
            while i < n:
                j = min(n, i + step)
                if j < n:  # split on a timestamp boundary
                    j = int(np.searchsorted(chunk.ts, chunk.ts[j - 1], side="right"))
                yield chunk.take(slice(i, j))
                i = j
            return
        carry: BarChunk | None = None
        last = -(2**62)
        for df in pd.read_csv(self.path, chunksize=self.chunk_size):
            chunk = self._convert(df)
            if len(chunk) == 0:
                continue
            if carry is not None:
                chunk = BarChunk.concat([carry, chunk])
            if chunk.ts[0] < last or np.any(np.diff(chunk.ts) < 0):
                raise ValueError(f"{self.path}: rows are not in time order; sort the file or "
                                 "load it with ArraySource.from_frame")
            cut = int(np.searchsorted(chunk.ts, chunk.ts[-1], side="left"))
            if cut > 0:
                yield chunk.take(slice(0, cut))
            carry = chunk.take(slice(cut, None))
            last = int(chunk.ts[-1])
        if carry is not None and len(carry):
            yield carry


def _merge(sources: Sequence[BarSource]) -> Iterator[BarChunk]:
    """Merge time-ordered chunk streams into one time-ordered stream, chunk by chunk."""
    iters = [iter(s.chunks()) for s in sources]
    if len(iters) == 1:
        yield from iters[0]
        return
    bufs: list[BarChunk | None] = [next(it, None) for it in iters]
    while True:
        live = [b for b in bufs if b is not None and len(b)]
        if not live:
            return
        horizon = min(int(b.ts[-1]) for b in live)
        parts = []
        for k, b in enumerate(bufs):
            if b is None or not len(b):
                continue
            cut = int(np.searchsorted(b.ts, horizon, side="right"))
            if cut:
                parts.append(b.take(slice(0, cut)))
            rest = b.take(slice(cut, None))
            bufs[k] = rest if len(rest) else next(iters[k], None)
        merged = BarChunk.concat(parts) if len(parts) > 1 else parts[0]
        if len(parts) > 1:
            merged = merged.take(np.argsort(merged.ts, kind="stable"))
        yield merged


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
        return _merge(self.sources)

    def steps(self) -> Iterator[tuple[int, list[Row]]]:
        """Yield ``(ts_ns, rows)`` per timestamp, after moving the clock to ``ts_ns``."""
        set_ns = self.clock.set_ns
        for chunk in _merge(self.sources):
            ts = chunk.ts.tolist()
            tk = chunk.ticker.tolist()
            o, h, lo, c, v = (chunk.open.tolist(), chunk.high.tolist(), chunk.low.tolist(),
                              chunk.close.tolist(), chunk.volume.tolist())
            n = len(ts)
            self.bars_seen += n
            if n < 2 or bool(np.all(np.diff(chunk.ts) > 0)):
                for t, a, b, d, e, f, g in zip(ts, tk, o, h, lo, c, v, strict=True):
                    set_ns(t)
                    yield t, [(a, b, d, e, f, g)]
                continue
            i = 0
            while i < n:
                t = ts[i]
                j = i + 1
                while j < n and ts[j] == t:
                    j += 1
                set_ns(t)
                yield t, [(tk[k], o[k], h[k], lo[k], c[k], v[k]) for k in range(i, j)]
                i = j


class BarView:
    """The bar a strategy sees: one reused object, updated in place for every bar.

    Attributes are plain floats; :attr:`ts` and :meth:`to_bar` build objects on demand.
    """

    __slots__ = ("close", "high", "index", "low", "open", "ticker", "ts_ns", "volume")

    def __init__(self) -> None:
        self.ticker = ""
        self.ts_ns = 0
        self.open = self.high = self.low = self.close = self.volume = 0.0
        self.index = -1

    @property
    def ts(self) -> datetime:
        """Return the bar's end time."""
        return dt_from_ns(self.ts_ns)

    def to_bar(self) -> Bar:
        """Return a domain :class:`Bar` copy."""
        return Bar(ticker=self.ticker, ts=self.ts, open=self.open, high=self.high,
                   low=self.low, close=self.close, volume=self.volume)


class StrategyContext:
    """What a strategy may do besides returning signals: read the account, place orders.

    Order helpers build a deterministic client order id from the strategy name, the ticker,
    the bar time and a counter, and submit to the exchange (orders fill on later bars).
    """

    def __init__(self, exchange: SimulatedExchange, name: str = "strategy") -> None:
        self.exchange = exchange
        self.name = name
        self._n = 0
        # short and deterministic: strategy name plus a counter (no hashing per order)
        self._prefix = "ct-" + "".join(ch for ch in name if ch.isalnum())[:16]
        self.rejected: list[str] = []

    def position(self, ticker: str) -> float:
        """Return the signed quantity held (float)."""
        return self.exchange.pos_f.get(ticker, 0.0)

    @property
    def cash(self) -> float:
        """Return cash (float)."""
        return self.exchange.cash_f

    @property
    def equity(self) -> float:
        """Return equity at the last closes (float)."""
        return self.exchange.equity_f()

    def order(self, ticker: str, quantity: float, **kw: Any) -> str | None:
        """Submit an order for a signed ``quantity`` (negative sells); return its id.

        A refused order (buying power, price) returns None and is listed in ``rejected``.
        """
        from domain.errors import OrderRejected

        if quantity == 0:
            return None
        self._n += 1
        coid = f"{self._prefix}-{self._n}"
        side = Side.BUY if quantity > 0 else Side.SELL
        q = abs(quantity)
        qty = Decimal(int(q)) if q == int(q) else Decimal(repr(q))
        try:
            self.exchange.submit(SubmitOrder(client_order_id=coid, ticker=ticker,
                                                   side=side, quantity=qty, **kw))
        except OrderRejected as exc:
            self.rejected.append(str(exc))
            return None
        return coid

    def buy(self, ticker: str, quantity: float, **kw: Any) -> str | None:
        """Buy ``quantity`` (market by default; pass ``order_type``/prices for others)."""
        return self.order(ticker, abs(quantity), **kw)

    def sell(self, ticker: str, quantity: float, **kw: Any) -> str | None:
        """Sell ``quantity``."""
        return self.order(ticker, -abs(quantity), **kw)

    def close(self, ticker: str, **kw: Any) -> str | None:
        """Flatten ``ticker`` with a market order (``kw``: e.g. ``time_in_force``)."""
        return self.order(ticker, -self.position(ticker), **kw)


class BarStrategy(Protocol):
    """A bar-driven strategy for embedding: returns signals or uses the context's orders."""

    def on_bar(self, bar: BarView, ctx: StrategyContext) -> Iterable[Signal] | None:
        """React to one bar; return signals (or None)."""
        ...


StrategyLike = BarStrategy | Callable[[BarView, StrategyContext], Iterable[Signal] | None]


class PerTicker:
    """One strategy instance per ticker, made on the ticker's first bar by ``factory``.

    Strategies that keep per-series state (moving averages, positions) must see one
    ticker's bars only: ``run_strategy(replay, exchange, PerTicker(lambda: SmaCross(10,
    30)))`` runs one :class:`~adapters.simulated.examples.SmaCross` per ticker over a
    shared multi-ticker replay. ``strategies`` maps each ticker to its instance.
    """

    def __init__(self, factory: Callable[[], StrategyLike]) -> None:
        self.factory = factory
        self.strategies: dict[str, StrategyLike] = {}
        self._fns: dict[str, Callable[[BarView, StrategyContext],
                                      Iterable[Signal] | None]] = {}

    def on_bar(self, bar: BarView, ctx: StrategyContext) -> Iterable[Signal] | None:
        """Pass the bar to its ticker's strategy."""
        fn = self._fns.get(bar.ticker)
        if fn is None:
            strategy = self.strategies[bar.ticker] = self.factory()
            fn = self._fns[bar.ticker] = _callable(strategy)
        return fn(bar, ctx)


def _callable(strategy: StrategyLike) -> Callable[[BarView, StrategyContext],
                                                  Iterable[Signal] | None]:
    on_bar = getattr(strategy, "on_bar", None)
    if on_bar is not None:
        return on_bar  # type: ignore[no-any-return]
    return strategy  # type: ignore[return-value]


def signals_to_orders(ctx: StrategyContext, signals: Iterable[Signal]) -> None:
    """Turn signals into orders the simple way (no risk layer): BUY spends ``size_hint``
    (default all) of equity on a market buy, SELL closes the position (HOLD is ignored).

    The trading engine (application/engine.py) routes signals through sizing and risk instead.
    """
    for s in signals:
        if s.action is Action.BUY:
            last = ctx.exchange._last.get(s.ticker)
            if last is None:
                continue
            qty = math.floor(ctx.cash * (s.size_hint or 1.0) / last[4])
            ctx.buy(s.ticker, qty)
        elif s.action is Action.SELL:
            ctx.close(s.ticker)


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
    fn = _callable(strategy)
    ctx = StrategyContext(exchange, name)
    view = BarView()
    handle = on_signals or signals_to_orders
    on_bar = exchange.on_bar
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
            for ts_ns, rows in _group_rows(chunk, clock):
                for t, o, h, lo, c, v in rows:
                    on_bar(t, ts_ns, o, h, lo, c, v)
                if ts_ns >= exchange._next_expiry:  # every bar of the step was matched
                    exchange._expire(ts_ns)
                for t, o, h, lo, c, v in rows:
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


def _group_rows(chunk: BarChunk, clock: ReplayClock) -> Iterator[tuple[int, list[Row]]]:
    ts = chunk.ts.tolist()
    tk = chunk.ticker.tolist()
    o, h, lo, c, v = (chunk.open.tolist(), chunk.high.tolist(), chunk.low.tolist(),
                      chunk.close.tolist(), chunk.volume.tolist())
    n = len(ts)
    i = 0
    while i < n:
        t = ts[i]
        j = i + 1
        while j < n and ts[j] == t:
            j += 1
        clock.set_ns(t)
        yield t, [(tk[k], o[k], h[k], lo[k], c[k], v[k]) for k in range(i, j)]
        i = j


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
        ctx = SignalContext(view, name,  # type: ignore[arg-type]
                            position=lambda t: exchange.pos_f.get(t, 0.0),
                            cash=lambda: exchange.cash_f, equity=exchange.equity_f)
        super().__init__(_callable(strategy), context=ctx, view=view)
