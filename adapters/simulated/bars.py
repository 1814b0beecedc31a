"""Bar sources for the replay: the integer-nanosecond clock, time-ordered column chunks
(:class:`BarChunk`), and the sources that yield them (:class:`ArraySource` over arrays or a
canonical OHLCV frame, :class:`CsvSource` streaming a CSV file), merged by timestamp.

See ``adapters/simulated/replay.py`` for how :class:`~adapters.simulated.replay.ReplayEngine`
plays them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from adapters.data.calendar import session_bounds_ns
from adapters.simulated.sessions import dt_from_ns, ns_from_dt
from domain.clock import TestClock


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


def merge_sources(sources: Sequence[BarSource]) -> Iterator[BarChunk]:
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
