"""Market data for the engine: daily bars from OHLCV files, replayed into a broker and feed.

Daily bars are stamped with their session's close (XNYS, early closes included), so an order
placed on a bar can only trade from the next session's open: no look-ahead.

:class:`DailyBars` serves a file as time-ordered :class:`~adapters.simulated.replay.BarChunk`
columns (a time-ordered Parquet file is streamed batch by batch, so memory stays flat in its
length; a CSV or an unsorted Parquet file is loaded once into arrays). :class:`ArrayReplay`
is the engine's driver over it: each step's rows go to the simulated exchange as plain
tuples (``process_bars``), and the step's bars reach the engine as a mapping that builds a
domain :class:`Bar` only for the tickers somebody asks for (open positions, strategies).
The older :func:`replay_into` (a :class:`BarReplay` over domain bars) serves tests and fakes.

Why one module: :class:`DailyBars` and its driver :class:`ArrayReplay` share the batch state
(clean batches, the day two batches share) that makes streaming give the same bars as loading;
the fast Arrow read is apart (``bar_batches.py``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from itertools import repeat
from pathlib import Path
from typing import Any, Protocol

import attrs
import numpy as np
import pandas as pd

from adapters.data.calendar import session_bounds_ns
from adapters.data.ohlcv import DataError, canonicalize, load_ohlcv
from adapters.simulated.replay import BarChunk, step_columns
from adapters.simulated.sessions import dt_from_ns, ns_from_dt
from application.engine import BarReplay, MarketStep
from application.ports import UnitOfWork
from domain.clock import TestClock
from domain.events import Fill
from domain.market import Bar
from domain.portfolio import Ledger

__all__ = ["ArrayReplay", "BadBar", "DailyBars", "LedgerBroker", "StepBars", "load_daily_bars",
           "replay_into", "restore_ledger"]


def load_daily_bars(path: str | Path, calendar: str = "XNYS", *,
                    ticker: str | None = None) -> list[Bar]:
    """Return the bars of an OHLCV CSV/Parquet file, each stamped at its session's close.

    Rows with a missing or non-positive price are dropped; ``ticker`` names the ticker of a
    file without a ticker column.
    """
    df = load_ohlcv(path, ticker=ticker)
    df = df.dropna(subset=["open", "high", "low", "close"])
    df = df[(df["open"] > 0) & (df["high"] > 0) & (df["low"] > 0) & (df["close"] > 0)]
    if df.empty:
        return []
    dates = df["date"].to_numpy("datetime64[ns]")
    uniq, inv = np.unique(dates, return_inverse=True)
    _, closes = session_bounds_ns(uniq, calendar)
    stamps = [datetime.fromtimestamp(int(ns) // 1_000_000_000, tz=UTC) for ns in closes]
    out: list[Bar] = []
    tickers = df["ticker"].to_numpy()
    cols = [df[c].to_numpy(np.float64) for c in ("open", "high", "low", "close", "volume")]
    o, h, lo, c, v = cols
    for i in range(len(df)):
        out.append(Bar(str(tickers[i]), stamps[int(inv[i])], float(o[i]), float(h[i]),
                       float(lo[i]), float(c[i]), float(v[i]) if np.isfinite(v[i]) else 0.0))
    out.sort(key=lambda b: (b.ts, b.ticker))
    return out


def _valid(df: pd.DataFrame) -> pd.DataFrame:
    # the rows load_daily_bars keeps: every price present and positive
    df = df.dropna(subset=["open", "high", "low", "close"])
    return df[(df["open"] > 0) & (df["high"] > 0) & (df["low"] > 0) & (df["close"] > 0)]


@attrs.frozen
class BadBar:
    """A bar a replay must not trade on: where it is in its file and what is wrong with it."""

    source: str  # the file as given
    place: str  # "line" (a text file's line, header = 1) or "row" (a Parquet row, from 1)
    number: int
    ticker: str
    day: str
    problem: str  # a :class:`~domain.market_data.findings.Problem` value
    detail: str

    @property
    def reason(self) -> str:
        """Return the bar and why it was set aside (the quarantine's reason)."""
        return f"{self.ticker} {self.day}: {self.problem}: {self.detail}"

    def describe(self) -> str:
        """Return ``prices.csv line 7 (AAA 2024-01-03): close_outside_range: ...``."""
        return f"{Path(self.source).name} {self.place} {self.number} ({self.ticker} " \
               f"{self.day}): {self.problem}: {self.detail}"


def _bad_rows(df: pd.DataFrame, path: Path, src: list[int] | None, *,
              with_missing: bool) -> list[tuple[int, BadBar]]:
    """Return ``(position, bar)`` for every row of ``df`` a replay must not trade on (see
    :func:`domain.market_data.validation.row_problems`); rows with a missing or non-positive
    price only when ``with_missing`` (otherwise they are left to the loader, which drops
    them). A duplicated ticker and date is reported on its later rows: the first is kept."""
    from domain.market_data.validation import row_problems

    if df.empty:
        return []
    if with_missing:
        kept = np.arange(len(df))
    else:
        px = df[["open", "high", "low", "close"]]
        kept = np.flatnonzero((px.notna() & (px > 0)).all(axis=1).to_numpy())
    sub = df.iloc[kept]
    found = row_problems(
        sub["date"].to_numpy("datetime64[ns]"), sub["ticker"].to_numpy(dtype=object),
        *(sub[k].to_numpy(np.float64) for k in ("open", "high", "low", "close", "volume")))
    csv_like = path.suffix.lower() in (".csv", ".txt", ".gz")
    out: list[tuple[int, BadBar]] = []
    for k, problem, detail in found:
        i = int(kept[k])
        r = src[i] if src is not None and i < len(src) else i
        out.append((i, BadBar(source=str(path), place="line" if csv_like else "row",
                              number=r + 2 if csv_like else r + 1,
                              ticker=str(df["ticker"].iloc[i]),
                              day=str(df["date"].iloc[i])[:10], problem=problem.value,
                              detail=detail)))
    return out


def _refusal(bad: list[BadBar], shown: int = 5) -> DataError:
    listed = "; ".join(b.describe() for b in bad[:shown])
    more = f"; and {len(bad) - shown} more" if len(bad) > shown else ""
    return DataError(f"{len(bad)} bad bar(s) refused: {listed}{more} (see `catalyst data "
                     "validate`; `--repair` writes a clean copy)")


def refuse_bad_bars(df: pd.DataFrame, path: Path, src: list[int] | None = None,
                    shown: int = 5) -> None:
    """Raise :class:`DataError` naming the file and rows of bars a replay must not trade on
    (see :func:`domain.market_data.validation.row_problems`); rows with a missing or
    non-positive price are left to the loader, which drops them. ``catalyst data validate
    --repair`` writes a clean copy."""
    bad = _bad_rows(df, path, src, with_missing=False)
    if bad:
        raise _refusal([b for _, b in bad], shown)


class DailyBars:
    """The daily bars of an OHLCV CSV/Parquet file as time-ordered column chunks.

    Same rows and stamps as :func:`load_daily_bars` (rows with a missing or non-positive
    price dropped, each bar at its session's close, a step's tickers in order). A Parquet
    file whose dates never go backwards is read ``batch_rows`` rows at a time (twice: once
    here for the tickers and sessions, then per replay); anything else is loaded into
    arrays once. Raises :class:`~adapters.data.ohlcv.DataError` for a file it cannot read.

    Bad bars (see :func:`domain.market_data.validation.row_problems`): ``strict`` refuses the
    file, naming them (:class:`DataError`); otherwise each is left out of the replay and
    listed in :attr:`bad_bars` with its file, line and problem (a missing or non-positive
    price too), for the caller to quarantine. A ticker with a bad bar simply has no bar that
    session (nothing trades or exits on it then); a duplicated ticker and date keeps its
    first row. The same file gives the same list every time it is read.

    A clean batch of a Parquet file already in the canonical types is read straight from
    Arrow (:mod:`adapters.sources.bar_batches`); ``fast=False`` sends every batch through
    ``canonicalize`` (the same bars and bad bars, slower).
    """

    def __init__(self, path: str | Path, calendar: str = "XNYS", *,
                 ticker: str | None = None, batch_rows: int = 65_536,
                 strict: bool = True, fast: bool = True) -> None:
        self.path = Path(path)
        self.calendar = calendar
        self.ticker = ticker
        self.batch_rows = batch_rows
        self.strict = strict
        #: read a canonical Parquet file's clean batches without pandas (False: always the
        #: general way; both serve the same bars)
        self.fast = fast
        #: the bars left out of the replay (file order), when not ``strict``
        self.bad_bars: list[BadBar] = []
        self._bad_seen: set[int] = set()
        #: the last day served and its tickers (a streamed file's batches share at most it)
        self._edge: tuple[np.datetime64 | None, set[str]] = (None, set())
        self._loaded: BarChunk | None = None
        self._stream = False
        #: per batch of a streamed file: did the scan find it clean the fast way
        self._clean: list[bool] = []
        #: each ticker's first bar time (int ns), in order of appearance
        self.first_ts: dict[str, int] = {}
        #: rows served
        self.rows = 0
        self._steps: list[np.ndarray] = []
        self._step_ts = np.zeros(0, np.int64)
        suffixes = [x.lower() for x in self.path.suffixes]
        if ".parquet" in suffixes or ".pq" in suffixes:
            self._stream = self._scan_parquet()
        if not self._stream:
            self.first_ts, self.rows, self._steps = {}, 0, []  # a partial scan is discarded
            self.bad_bars, self._bad_seen, self._edge = [], set(), (None, set())
            rows: list[int] = []
            df = load_ohlcv(self.path, ticker=ticker, source_rows=rows)
            df = _valid(self._set_aside(df, rows))
            self._loaded = self._chunk(df) if not df.empty else None
            if self._loaded is not None:
                self._index(self._loaded)
        self._step_ts = np.unique(np.concatenate(self._steps)) if self._steps else \
            np.zeros(0, np.int64)
        self._steps = []

    # ------------------------------------------------------------------ reading
    def _batches(self, scan: bool = False) -> Iterator[BarChunk]:
        """Yield each batch's bars to serve (sorted by time, then ticker; maybe empty).

        A batch of a canonical file goes the fast way (:mod:`adapters.sources.bar_batches`)
        when it is clean; any other the general way (``canonicalize``, then the checks).
        The scan remembers which batches were clean, so that a replay does not check them
        again.
        """
        import pyarrow.parquet as pq

        from adapters.sources.bar_batches import FastBatches

        self._edge = (None, set())  # each pass over the file starts afresh
        try:
            pf = pq.ParquetFile(self.path)
            fast = FastBatches(pf.schema_arrow, self.calendar, self.ticker) if self.fast \
                else None
            columns = fast.columns if fast is not None else None
            if scan:
                self._clean = []
            offset = 0
            for k, rb in enumerate(pf.iter_batches(batch_size=self.batch_rows,
                                                   columns=columns)):
                got = None
                if fast is not None and columns is not None:
                    known = not scan and k < len(self._clean) and self._clean[k]
                    day, seen = self._edge
                    edge = (None if day is None else int(day.astype("datetime64[D]")
                                                         .astype(np.int64)), seen)
                    got = fast.read(rb, edge, check=not known)
                if scan:
                    self._clean.append(got is not None)
                if got is not None:
                    offset += rb.num_rows
                    yield self._fast_chunk(got, fast)
                    continue
                rows: list[int] = []
                df = canonicalize(rb.to_pandas(), ticker=self.ticker, source_rows=rows)
                df = self._set_aside(df, [offset + r for r in rows])
                offset += rb.num_rows
                df = _valid(df)
                if not df.empty:
                    yield self._chunk(df)
        except (OSError, ValueError) as exc:
            if isinstance(exc, DataError):
                raise
            raise DataError(f"cannot read {self.path}: {exc}") from exc

    def _fast_chunk(self, b: Any, fast: Any) -> BarChunk:
        if not len(b):
            return BarChunk(np.zeros(0, np.int64), np.zeros(0, object), *(np.zeros(0),) * 5)
        last = b.day[-1]  # sorted by day: the last day served so far, and its tickers
        at = b.code[np.searchsorted(b.day, last, side="left"):]
        tickers = set(b.names[np.unique(at)].tolist())
        day, seen = self._edge
        last_d = np.datetime64(int(last), "D").astype("datetime64[ns]")
        self._edge = (last_d, tickers | seen if day is not None and last_d == day else tickers)
        vol = b.volume
        return BarChunk(fast.closes(b.day), b.names[b.code], b.open, b.high, b.low, b.close,
                        np.where(np.isfinite(vol), vol, 0.0))

    def _set_aside(self, df: pd.DataFrame, src: list[int]) -> pd.DataFrame:
        """Refuse the bad bars of ``df`` (strict) or return ``df`` without them, each listed
        once in :attr:`bad_bars` however often the file is read.

        A streamed file's batches are checked one by one; a ticker's second bar on the day
        that ends the previous batch (the only day two batches can share) is a duplicate too.
        """
        bad = _bad_rows(df, self.path, src, with_missing=not self.strict)
        day, seen = self._edge
        if day is not None and not df.empty:
            flagged = {i for i, _ in bad}
            again = (df["date"].to_numpy("datetime64[ns]") == day) & \
                df["ticker"].isin(seen).to_numpy()
            csv_like = self.path.suffix.lower() in (".csv", ".txt", ".gz")
            for i in np.flatnonzero(again):
                if int(i) not in flagged:
                    bad.append((int(i), BadBar(
                        source=str(self.path), place="line" if csv_like else "row",
                        number=src[i] + (2 if csv_like else 1), ticker=str(df["ticker"].iloc[i]),
                        day=str(df["date"].iloc[i])[:10], problem="duplicate_timestamp",
                        detail="a second bar for this ticker and date")))
            bad.sort(key=lambda x: x[1].number)
        if bad and self.strict:
            raise _refusal([b for _, b in bad])
        for _, b in bad:
            if b.number not in self._bad_seen:
                self._bad_seen.add(b.number)
                self.bad_bars.append(b)
        if bad:
            keep = np.ones(len(df), dtype=bool)
            keep[[i for i, _ in bad]] = False
            df = df[keep]
        served = _valid(df)
        if not served.empty:  # the tickers of the last day served so far
            dates = served["date"].to_numpy("datetime64[ns]")
            last = dates.max()
            tickers = set(served["ticker"][dates == last].tolist())
            self._edge = (last, tickers | seen if last == day else tickers)
        return df

    def _chunk(self, df: pd.DataFrame) -> BarChunk:
        dates = df["date"].to_numpy("datetime64[ns]")
        uniq, inv = np.unique(dates, return_inverse=True)
        _, closes = session_bounds_ns(uniq, self.calendar)
        ts = np.asarray(closes, dtype=np.int64)[inv]
        tick = df["ticker"].to_numpy(dtype=object)
        vol = df["volume"].to_numpy(np.float64)
        vol = np.where(np.isfinite(vol), vol, 0.0)
        order = np.lexsort((tick.astype(str), ts))
        o, h, lo, c = (df[k].to_numpy(np.float64)[order] for k in ("open", "high", "low",
                                                                    "close"))
        return BarChunk(ts[order], tick[order], o, h, lo, c, vol[order])

    def _scan_parquet(self) -> bool:
        # one pass over the dates and tickers: are they time-ordered (then stream)?
        last = None
        for ch in self._batches(scan=True):
            if not len(ch):
                continue
            if last is not None and int(ch.ts[0]) < last:
                return False
            last = int(ch.ts[-1])
            self._index(ch)
        return True

    def _index(self, ch: BarChunk) -> None:
        # count the rows, note each new ticker's first time and the chunk's steps
        self.rows += len(ch.ts)
        first = self.first_ts
        if any(t not in first for t in pd.unique(ch.ticker).tolist()):
            for t, ns in zip(ch.ticker.tolist(), ch.ts.tolist(), strict=True):
                if t not in first:
                    first[t] = ns
        ts = ch.ts  # time-ordered
        self._steps.append(ts[np.concatenate(([True], ts[1:] != ts[:-1]))] if len(ts) else ts)

    # ------------------------------------------------------------------ serving
    @property
    def tickers(self) -> list[str]:
        """Return every ticker with data."""
        return sorted(self.first_ts)

    @property
    def step_ts(self) -> np.ndarray:
        """Return every step's time (int64 ns, ascending)."""
        return self._step_ts

    def chunks(self) -> Iterator[BarChunk]:
        """Yield the bars in time order (a step never split across chunks)."""
        if not self._stream:
            if self._loaded is not None:
                yield self._loaded
            return
        carry: BarChunk | None = None
        for chunk in self._batches():
            if not len(chunk):
                continue
            if carry is not None:
                chunk = BarChunk.concat([carry, chunk])
                chunk = chunk.take(np.lexsort((chunk.ticker.astype(str), chunk.ts)))
            cut = int(np.searchsorted(chunk.ts, chunk.ts[-1], side="left"))
            if cut > 0:
                yield chunk.take(slice(0, cut))
            carry = chunk.take(slice(cut, None))
        if carry is not None and len(carry):
            yield carry


_Row = tuple[str, float, float, float, float, float]
_StepCols = tuple[int, list[str], list[float], list[float], list[float], list[float],
                  list[float]]


class StepBars(Mapping[str, Bar]):
    """One step's bars by ticker; a domain :class:`Bar` is built only when asked for.

    ``rows`` are ``(ticker, open, high, low, close, volume)``; given ``tickers`` (each row's
    ticker), a row's first field is not read (the exchange's rows start with the time).
    """

    __slots__ = ("_rows", "_ts")

    def __init__(self, ts: datetime, rows: Sequence[tuple[Any, float, float, float, float,
                                                          float]],
                 tickers: Sequence[str] | None = None) -> None:
        self._ts = ts
        self._rows = dict(zip(tickers, rows, strict=True)) if tickers is not None else \
            {r[0]: r for r in rows}

    def __getitem__(self, ticker: str) -> Bar:
        _, o, h, lo, c, v = self._rows[ticker]
        return Bar(ticker, self._ts, o, h, lo, c, v)

    def get(self, ticker: str, default: Any = None) -> Any:
        r = self._rows.get(ticker)
        return default if r is None else Bar(ticker, self._ts, r[1], r[2], r[3], r[4], r[5])

    def __contains__(self, ticker: object) -> bool:
        return ticker in self._rows

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)


class _StepSink(Protocol):
    def process_bars(self, ts_ns: int,
                     rows: Iterable[tuple[str, float, float, float, float, float]]) -> None: ...


class ArrayReplay:
    """The engine's :class:`~application.engine.MarketDriver` over :class:`DailyBars`.

    Each step moves ``clock`` to the step's time and hands the step's rows to ``broker``
    (``process_bars``: every bar matched, then the session's day orders end), then the
    engine gets a :class:`MarketStep` whose bars are a :class:`StepBars`. Nothing is built
    per bar. ``speed`` paces the replay (data seconds per wall second; 0: as fast as
    possible).
    """

    def __init__(self, data: DailyBars, broker: _StepSink, clock: TestClock, *,
                 speed: float = 0.0, sleep: Callable[[float], None] = time.sleep) -> None:
        self.data = data
        self.broker = broker
        self.clock = clock
        self.speed = speed
        self._sleep = sleep
        # a broker that takes a step's bars as columns (the simulated exchange's
        # ``take_bars`` + ``end_step`` is its ``process_bars``)
        self._take: Callable[[int, Sequence[str], list[Any]], None] | None = \
            getattr(broker, "take_bars", None)
        self._end: Callable[[int], None] | None = getattr(broker, "end_step", None)
        if self._end is None:
            self._take = None

    def __len__(self) -> int:
        return len(self.data.step_ts)

    @property
    def tickers(self) -> list[str]:
        """Return every ticker with data."""
        return self.data.tickers

    def remaining(self, after: datetime | None) -> int:
        """Return how many steps lie after ``after``."""
        ts = self.data.step_ts
        if after is None:
            return len(ts)
        return int(len(ts) - np.searchsorted(ts, ns_from_dt(after), side="right"))

    def _steps(self) -> Iterator[_StepCols]:
        for chunk in self.data.chunks():
            yield from step_columns(chunk)

    def _apply(self, step: _StepCols) -> tuple[datetime, list[Any]]:
        ts_ns, tk, o, h, lo, c, v = step
        ts = dt_from_ns(ts_ns)
        if ts > self.clock.now():
            self.clock.set(ts)
        take = self._take
        if take is not None:  # the simulated exchange: its own rows (time first), built once
            rows: list[Any] = list(zip(repeat(ts_ns), o, h, lo, c, v))
            take(ts_ns, tk, rows)
            self._end(ts_ns)  # type: ignore[misc]
        else:
            rows = list(zip(tk, o, h, lo, c, v, strict=True))
            self.broker.process_bars(ts_ns, rows)
        return ts, rows

    def prime(self, until: datetime | None) -> None:
        """Push every step up to ``until`` into the broker and feed (resume)."""
        if until is None:
            return
        until_ns = ns_from_dt(until)
        for step in self._steps():
            if step[0] > until_ns:
                break
            self._apply(step)

    def steps(self, after: datetime | None) -> Iterator[MarketStep]:
        """Yield the steps after ``after``, each applied to the broker first."""
        after_ns = None if after is None else ns_from_dt(after)
        prev: int | None = None
        for step in self._steps():
            ts_ns = step[0]
            if after_ns is not None and ts_ns <= after_ns:
                continue
            if self.speed > 0 and prev is not None:
                self._sleep(max(0.0, (ts_ns - prev) / 1e9 / self.speed))
            prev = ts_ns
            ts, rows = self._apply(step)
            yield MarketStep(ts, StepBars(ts, rows, step[1]))


class _BarSink(Protocol):
    def push_bar(self, bar: Bar) -> None: ...


def replay_into(
    bars: Iterable[Bar], broker: _BarSink, clock: TestClock, *, speed: float = 0.0,
    extra: Iterable[Callable[[MarketStep], None]] = (),
) -> BarReplay:
    """Return a replay that moves ``clock`` to each step and pushes its bars into ``broker``
    (a simulated exchange or fake that is also the price feed)."""

    end_step = getattr(broker, "advance_to", None)

    def step(s: MarketStep) -> None:
        if s.ts > clock.now():
            clock.set(s.ts)
        for b in s.bars.values():
            broker.push_bar(b)
        if end_step is not None:  # every bar of the step is matched: the session's orders end
            end_step(s.ts)

    sinks = [step, *extra]
    return BarReplay(bars, sinks, sinks, speed=speed)


class LedgerBroker(Protocol):
    """A broker whose money lives in a domain :class:`Ledger` (simulated exchange, fakes)."""

    ledger: Ledger


def restore_ledger(broker: object, uow: UnitOfWork) -> int:
    """Rebuild an in-process broker's ledger from the fills stored in the database.

    An in-process exchange loses its cash and positions with the process; after a restart the
    stored fills (the audit trail) are the truth, so they are replayed into its ledger in time
    order. Returns the number of fills applied.
    """
    fills: list[Fill] = []
    restore = getattr(broker, "restore", None)
    ledger: Ledger | None = getattr(broker, "ledger", None)
    if restore is None and ledger is None:
        return 0
    for order in uow.orders.list():
        fills.extend(uow.fills.for_order(order.client_order_id))
    if restore is not None:  # the simulated exchange rebuilds its own book
        return int(restore(fills))
    if ledger is None:
        return 0
    fills.sort(key=lambda f: (f.ts_event, f.fill_id))
    n = 0
    for f in fills:
        if f.fill_id in ledger.seen_fills:
            continue
        ledger.apply_fill(f)
        n += 1
    return n
