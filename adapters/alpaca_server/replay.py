"""History replay for the sim-server: a dataset's bars become the market, in time order.

Daily bars (the project's OHLCV layout, one row per ticker and exchange date) are stamped at
their session's close on the XNYS calendar: that is when a day's bar is complete and known.
:meth:`HistoryReplay.advance_to` moves the market to a time, pushing every bar that ends by
then through :meth:`AlpacaCompatServer.bar` (orders match, fills stream) and moving the
exchange's clock; nothing after that time is ever served. Pacing (a speed factor against the
wall clock, or stop by stop: each session's open, then its close) belongs to the caller:
``catalyst sim-server --data`` drives it.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs

from adapters.simulated.sessions import dt_from_ns, ns_from_dt, sessions_for

_CAL = "XNYS"


@attrs.frozen
class HistoryBar:
    """One bar of the dataset, stamped at the time it becomes known (its session's close)."""

    ts: datetime
    ticker: str
    open: float
    high: float
    low: float
    close: float
    volume: float


def load_history(path: str | Path | None = None) -> list[HistoryBar]:
    """Read an OHLCV file (the bundled sample when None) into bars in time order.

    Raises :class:`~domain.errors.DataError` (from the loader) for a missing or bad file.
    """
    from adapters.data.ohlcv import load_ohlcv  # noqa: PLC0415 - pandas is slow to import
    from adapters.data.sample import sample_paths  # noqa: PLC0415

    frame = load_ohlcv(path if path is not None else sample_paths().prices)
    sessions = sessions_for(_CAL)
    close_of: dict[Any, datetime] = {}
    for o, c in zip(sessions.opens, sessions.closes, strict=True):
        # a session's date is its open's date in New York (opens are 13:30/14:30 UTC)
        close_of[dt_from_ns(int(o)).date()] = dt_from_ns(int(c))
    days: list[Any] = [d.date() for d in frame["date"].tolist()]
    cols = [frame[c].to_numpy(dtype=float).tolist()
            for c in ("open", "high", "low", "close", "volume")]
    out = []
    for day, ticker, o, h, lo, c, v in zip(days, frame["ticker"].astype(str).tolist(), *cols,
                                           strict=True):
        ts = close_of.get(day)
        if ts is None:  # not an XNYS session: 16:00 New York, roughly
            ts = datetime(day.year, day.month, day.day, 21, tzinfo=UTC)
        out.append(HistoryBar(ts=ts, ticker=ticker, open=o, high=h, low=lo, close=c,
                              volume=v))
    out.sort(key=lambda b: (b.ts, b.ticker))
    return out


def session_open_before(close: datetime) -> datetime:
    """Return the open of the XNYS session that closes at ``close``."""
    sessions = sessions_for(_CAL)
    i = sessions.next_index(ns_from_dt(close) - 1)
    return dt_from_ns(int(sessions.opens[min(i, len(sessions.opens) - 1)]))


class HistoryReplay:
    """Feed ``bars`` to ``server`` as time passes; see the module docstring.

    Parameters
    ----------
    server
        An :class:`~adapters.alpaca_server.AlpacaCompatServer` whose exchange runs on a test
        clock (:func:`replay_exchange`).
    bars
        From :func:`load_history`, oldest first.
    start
        The market's time at the start: bars ending by then are history (default: the open
        of the dataset's second session, so one day of bars is known).
    """

    def __init__(self, server: Any, bars: Sequence[HistoryBar],
                 start: datetime | None = None) -> None:
        if not bars:
            raise ValueError("the dataset has no bars")
        self.server = server
        self.bars = list(bars)
        days = sorted({b.ts for b in self.bars})
        if start is None:
            start = session_open_before(days[1]) if len(days) > 1 else days[0]
        if start > days[-1]:
            raise ValueError(f"start {start.isoformat()} is after the dataset's last bar "
                             f"({days[-1].isoformat()})")
        self.start = start
        # the stops of a bar-by-bar replay: each session's open (the market trades on the
        # last known prices) and its close (the day's bars arrive)
        self.steps = sorted({t for d in days for t in (session_open_before(d), d)})
        self.cursor = 0
        self.now = start
        self.advance_to(start)
        server.set_time(start)

    @property
    def done(self) -> bool:
        """Return True once every bar has been served."""
        return self.cursor >= len(self.bars)

    @property
    def next_time(self) -> datetime | None:
        """Return the next stop after now (a session open or close), or None at the end."""
        i = bisect.bisect_right(self.steps, self.now)
        return None if self.done or i >= len(self.steps) else self.steps[i]

    def advance_to(self, ts: datetime) -> int:
        """Serve every bar that ends by ``ts`` and move the clock there; return how many."""
        n = 0
        with self.server.lock:
            while self.cursor < len(self.bars) and self.bars[self.cursor].ts <= ts:
                b = self.bars[self.cursor]
                self.server.bar(b.ticker, b.open, b.high, b.low, b.close, b.volume, ts=b.ts)
                self.cursor += 1
                n += 1
            if ts > self.now:
                self.now = ts
                self.server.set_time(ts)
        return n


def replay_exchange(cash: Decimal, start: datetime) -> Any:
    """Return the simulated exchange a replay trades on: XNYS sessions, no volume cap."""
    from adapters.alpaca_server.server import default_exchange  # noqa: PLC0415

    return default_exchange(cash, calendar=_CAL, start=start)
