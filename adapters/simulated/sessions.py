"""Trading sessions of the simulated exchange, as int64 nanosecond arrays.

Built once from ``exchange_calendars`` (XNYS by default): regular open and close of every
session (early closes and holidays included), and the extended window around it
(04:00 New York before the open, four hours after the close). Lookups are a binary search
the first time a bar leaves the cached session, then two integer comparisons.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache

import numpy as np

from adapters.data.calendar import schedule_ns
from domain.market import MarketClock

__all__ = ["AlwaysOpen", "Sessions", "dt_from_ns", "ns_from_dt", "sessions_for"]

_EXT_BEFORE = (5 * 3600 + 1800) * 1_000_000_000  # 04:00 New York for a 09:30 open
_EXT_AFTER = 4 * 3600 * 1_000_000_000  # 20:00 New York for a 16:00 close
_FAR = 2**62


def ns_from_dt(ts: datetime) -> int:
    """Return ``ts`` (timezone-aware) as int nanoseconds since the epoch."""
    delta = ts - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def dt_from_ns(ns: int) -> datetime:
    """Return a UTC datetime for int nanoseconds since the epoch (microsecond precision)."""
    return datetime.fromtimestamp(ns // 1_000_000_000, tz=UTC).replace(
        microsecond=(ns // 1000) % 1_000_000)


class Sessions:
    """Regular and extended sessions of one exchange calendar."""

    def __init__(self, opens: np.ndarray, closes: np.ndarray) -> None:
        self.opens = np.asarray(opens, dtype=np.int64)
        self.closes = np.asarray(closes, dtype=np.int64)
        self._lo = 0
        self._hi = -1
        self._idx = -1

    def index_for_bar(self, ts_ns: int) -> int:
        """Return the index of the first session whose (extended) close is at or after ``ts_ns``."""
        return int(np.searchsorted(self.closes + _EXT_AFTER, ts_ns, side="left"))

    def is_regular_bar(self, ts_ns: int) -> bool:
        """Return True when a bar ending at ``ts_ns`` lies in a regular session."""
        if self._lo < ts_ns <= self._hi:
            return True
        i = int(np.searchsorted(self.closes, ts_ns, side="left"))
        if i < len(self.closes) and self.opens[i] < ts_ns <= self.closes[i]:
            self._lo, self._hi, self._idx = int(self.opens[i]), int(self.closes[i]), i
            return True
        return False

    def is_extended_bar(self, ts_ns: int) -> bool:
        """Return True when a bar ending at ``ts_ns`` lies in a session's extended window."""
        i = int(np.searchsorted(self.closes, ts_ns - _EXT_AFTER, side="left"))
        return i < len(self.closes) and \
            self.opens[i] - _EXT_BEFORE < ts_ns <= self.closes[i] + _EXT_AFTER

    def is_session_close(self, ts_ns: int) -> bool:
        """Return True when ``ts_ns`` is exactly a session's close (the closing auction)."""
        i = int(np.searchsorted(self.closes, ts_ns, side="left"))
        return i < len(self.closes) and int(self.closes[i]) == ts_ns

    def next_index(self, now_ns: int) -> int:
        """Return the index of the session that is open at ``now_ns`` or opens next."""
        return int(np.searchsorted(self.closes, now_ns, side="right"))

    def day_expiry(self, now_ns: int, extended: bool = False) -> int:
        """Return when a day order submitted at ``now_ns`` expires (its session's close)."""
        if extended:
            i = int(np.searchsorted(self.closes + _EXT_AFTER, now_ns, side="right"))
            return int(self.closes[i]) + _EXT_AFTER if i < len(self.closes) else _FAR
        i = self.next_index(now_ns)
        return int(self.closes[i]) if i < len(self.closes) else _FAR

    def is_open(self, now_ns: int, extended: bool = False) -> bool:
        """Return True when the market is open at ``now_ns`` (optionally extended hours)."""
        i = self.next_index(now_ns)
        if i >= len(self.closes):
            return False
        if extended:
            j = int(np.searchsorted(self.closes + _EXT_AFTER, now_ns, side="right"))
            return j < len(self.closes) and \
                self.opens[j] - _EXT_BEFORE <= now_ns < self.closes[j] + _EXT_AFTER
        return bool(self.opens[i] <= now_ns)

    def clock(self, now: datetime) -> MarketClock:
        """Return the :class:`MarketClock` at ``now``."""
        n = ns_from_dt(now)
        i = self.next_index(n)
        if i >= len(self.closes):
            return MarketClock(timestamp=now, is_open=False, next_open=now, next_close=now)
        is_open = bool(self.opens[i] <= n)
        nxt_open = int(self.opens[i + 1]) if is_open and i + 1 < len(self.opens) else \
            int(self.opens[i])
        return MarketClock(timestamp=now, is_open=is_open, next_open=dt_from_ns(nxt_open),
                           next_close=dt_from_ns(int(self.closes[i])))

    def session_close_after(self, now_ns: int) -> int:
        """Return the close of the session open at ``now_ns`` or opening next."""
        i = self.next_index(now_ns)
        return int(self.closes[i]) if i < len(self.closes) else _FAR


class AlwaysOpen(Sessions):
    """A calendar that never closes (crypto, synthetic data, tests that ignore hours)."""

    def __init__(self) -> None:
        super().__init__(np.zeros(0, np.int64), np.zeros(0, np.int64))

    def is_regular_bar(self, ts_ns: int) -> bool:  # noqa: D102
        return True

    def is_extended_bar(self, ts_ns: int) -> bool:  # noqa: D102
        return True

    def is_session_close(self, ts_ns: int) -> bool:  # noqa: D102
        return True

    def day_expiry(self, now_ns: int, extended: bool = False) -> int:  # noqa: D102
        return _FAR

    def is_open(self, now_ns: int, extended: bool = False) -> bool:  # noqa: D102
        return True

    def session_close_after(self, now_ns: int) -> int:  # noqa: D102
        return _FAR

    def clock(self, now: datetime) -> MarketClock:  # noqa: D102
        return MarketClock(timestamp=now, is_open=True, next_open=now, next_close=now)


@lru_cache(maxsize=4)
def _build(name: str) -> Sessions:
    return Sessions(*schedule_ns(name))


def sessions_for(name: str | None) -> Sessions:
    """Return the sessions of calendar ``name`` (a fresh cache), or AlwaysOpen for None."""
    if name is None:
        return AlwaysOpen()
    base = _build(name)
    return Sessions(base.opens, base.closes)
