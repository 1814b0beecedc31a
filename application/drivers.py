"""Market drivers of the engine: what moves the market one step at a time.

:class:`BarReplay` replays bars held in memory (as fast as possible or paced);
:class:`WallClockDriver` follows the wall clock and a live price feed. Both yield
:class:`MarketStep` values to :class:`~application.engine.Engine`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Protocol

import attrs
import structlog

from application.ports import BrokerPort, Clock, PriceFeedPort
from domain.errors import BrokerError
from domain.market import Bar

log = structlog.get_logger("application.engine")

__all__ = ["BarReplay", "MarketDriver", "MarketStep", "WallClockDriver"]


@attrs.frozen
class MarketStep:
    """One timestamp of market data: the bars that completed at ``ts``."""

    ts: datetime
    bars: Mapping[str, Bar]


class MarketDriver(Protocol):
    """Moves the market: pushes bars into the broker and the feed, sets the clock."""

    def prime(self, until: datetime | None) -> None:
        """Replay history up to ``until`` into the price feed only (resume)."""
        ...

    def steps(self, after: datetime | None) -> Iterator[MarketStep]:
        """Yield the steps after ``after``, each applied to broker and feed before it is
        yielded."""
        ...


class BarReplay:
    """A :class:`MarketDriver` over bars in memory, as fast as possible or paced.

    Parameters
    ----------
    bars
        Every bar, any order (sorted here by time, then ticker).
    sinks
        Called with each step's bars before the step is yielded (the simulated broker's
        matching, the price feed, the clock). A broker sink gets the whole step at once, so
        it can match every ticker's bar before any day order of that session close expires
        (``adapters.sources.market.replay_into`` pushes the bars, then calls the simulated
        exchange's ``advance_to``).
    history_sinks
        Called instead of ``sinks`` while priming (resume): the feed, not the broker.
    speed
        0: as fast as possible; otherwise data seconds per wall second.
    sleep
        Injected sleeper (tests pass a fake).
    """

    def __init__(
        self,
        bars: Iterable[Bar],
        sinks: Sequence[Callable[[MarketStep], None]],
        history_sinks: Sequence[Callable[[MarketStep], None]] = (),
        *,
        speed: float = 0.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        by_ts: dict[datetime, dict[str, Bar]] = {}
        for b in bars:
            by_ts.setdefault(b.ts, {})[b.ticker] = b
        self._steps = [MarketStep(ts, dict(sorted(by_ts[ts].items()))) for ts in sorted(by_ts)]
        self.sinks = list(sinks)
        self.history_sinks = list(history_sinks)
        self.speed = speed
        self._sleep = sleep

    def __len__(self) -> int:
        return len(self._steps)

    @property
    def tickers(self) -> list[str]:
        """Return every ticker with data."""
        return sorted({t for s in self._steps for t in s.bars})

    @property
    def first_ts(self) -> datetime | None:
        """Return the first step's time."""
        return self._steps[0].ts if self._steps else None

    @property
    def last_ts(self) -> datetime | None:
        """Return the last step's time."""
        return self._steps[-1].ts if self._steps else None

    def remaining(self, after: datetime | None) -> int:
        """Return how many steps lie after ``after``."""
        return sum(1 for s in self._steps if after is None or s.ts > after)

    def prime(self, until: datetime | None) -> None:
        """Push every step up to ``until`` into the history sinks."""
        if until is None:
            return
        for s in self._steps:
            if s.ts > until:
                break
            for sink in self.history_sinks:
                sink(s)

    def steps(self, after: datetime | None) -> Iterator[MarketStep]:
        """Yield the steps after ``after``, paced by ``speed``."""
        prev: datetime | None = None
        for s in self._steps:
            if after is not None and s.ts <= after:
                continue
            if self.speed > 0 and prev is not None:
                self._sleep(max(0.0, (s.ts - prev).total_seconds() / self.speed))
            prev = s.ts
            for sink in self.sinks:
                sink(s)
            yield s


class WallClockDriver:
    """A :class:`MarketDriver` for real time: the wall clock drives, the feed supplies bars.

    Every ``interval`` seconds while the market is open (``broker.get_clock()``), the latest
    bar of each ticker is read from the price feed; a step is yielded with the bars that are
    new since the last step (the step's time is the wall clock's). While the market is closed
    the driver sleeps until the next open (at most ``max_idle`` seconds at a time, so a stop
    request is noticed). ``stop`` (the engine's ``stopping``) ends the iteration.
    """

    def __init__(
        self,
        feed: PriceFeedPort,
        broker: BrokerPort,
        clock: Clock,
        tickers: Sequence[str],
        *,
        interval: float = 60.0,
        max_idle: float = 60.0,
        stop: Callable[[], bool] = lambda: False,
        sleep: Callable[[float], None] = time.sleep,
        max_steps: int | None = None,
    ) -> None:
        self.feed = feed
        self.broker = broker
        self.clock = clock
        self.tickers = list(tickers)
        self.interval = interval
        self.max_idle = max_idle
        self.stop = stop
        self._sleep = sleep
        self.max_steps = max_steps
        self._seen: dict[str, datetime] = {}

    def prime(self, until: datetime | None) -> None:
        """Nothing to replay: a live feed serves history itself."""

    def steps(self, after: datetime | None) -> Iterator[MarketStep]:
        """Yield one step per interval with the bars that completed since the last one."""
        n = 0
        while not self.stop() and (self.max_steps is None or n < self.max_steps):
            try:
                mc = self.broker.get_clock()
            except BrokerError as exc:
                log.warning("engine.clock_unavailable", error=str(exc))
                self._sleep(self.interval)
                continue
            if not mc.is_open:
                wait = (mc.next_open - self.clock.now()).total_seconds()
                self._sleep(min(max(wait, 1.0), self.max_idle))
                continue
            bars: dict[str, Bar] = {}
            for t in self.tickers:
                b = self.feed.latest_bar(t)
                if b is not None and (t not in self._seen or b.ts > self._seen[t]):
                    self._seen[t] = b.ts
                    bars[t] = b
            now = self.clock.now()
            if after is None or now > after:
                n += 1
                yield MarketStep(now, bars)
            self._sleep(self.interval)
