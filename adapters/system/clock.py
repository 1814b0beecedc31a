"""The wall clock, for real-time runs (replay uses :class:`domain.clock.TestClock`)."""

from __future__ import annotations

from datetime import UTC, datetime


class SystemClock:
    """A :class:`application.ports.Clock` that reads the system's UTC time."""

    def now(self) -> datetime:
        """Return the current UTC time."""
        return datetime.now(UTC)
