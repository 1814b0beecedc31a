"""A signal source over a fixed list, released by time."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from domain.signal import Signal


class ListSignalSource:
    """Returns each signal once, when ``now`` reaches its timestamp."""

    def __init__(self, signals: Iterable[Signal]) -> None:
        self._pending = sorted(signals, key=lambda s: s.ts)
        self._i = 0

    def poll(self, now: datetime) -> Sequence[Signal]:
        """Return signals with ``ts <= now`` not returned before."""
        start = self._i
        while self._i < len(self._pending) and self._pending[self._i].ts <= now:
            self._i += 1
        return self._pending[start:self._i]
