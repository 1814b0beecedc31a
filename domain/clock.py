"""The clock abstraction: the domain and application never read the wall clock themselves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol

from domain.values import aware


class Clock(Protocol):
    """Anything that says what time it is (UTC, timezone-aware)."""

    def now(self) -> datetime:
        """Return the current time."""
        ...


class TestClock:
    """A clock that only moves when told to; replay and tests drive it."""

    __test__ = False  # not a pytest class

    def __init__(self, start: datetime | None = None) -> None:
        self._now = aware(start, "start") if start is not None else datetime(2020, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        """Return the time the clock was last set to."""
        return self._now

    def set(self, ts: datetime) -> None:
        """Move the clock to ``ts``; it never goes backwards."""
        ts = aware(ts, "ts")
        if ts < self._now:
            raise ValueError(f"clock cannot go backwards: {ts} < {self._now}")
        self._now = ts

    def advance(self, delta: timedelta) -> datetime:
        """Move the clock forward by ``delta`` and return the new time."""
        self.set(self._now + delta)
        return self._now
