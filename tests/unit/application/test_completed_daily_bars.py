"""Agents on a live feed decide on completed daily bars, each session exactly once.

Fakes of the feed and the broker's market clock: the feed serves daily bars the way Alpaca
does (labelled at their date's midnight in New York, the session in progress served as a
partial bar that changes until the close).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import pairwise

import pytest

from adapters.rl.inference import session_stamp
from application.live import CompletedDailyBars
from domain.errors import BrokerError
from domain.market import Bar, MarketClock
from tests.agent_support import Recorder

DAYS = [date(2024, 1, 2), date(2024, 1, 3), date(2024, 1, 4), date(2024, 1, 5),
        date(2024, 1, 8)]


def _utc(d: date, hour: int, minute: int = 0) -> datetime:
    return datetime(d.year, d.month, d.day, hour, minute, tzinfo=UTC)


def _final(t: str, d: date) -> Bar:
    k = DAYS.index(d)
    return Bar(t, _utc(d, 5), 100.0 + k, 102.0 + k, 99.0 + k, 101.0 + k, 1e6 + k)


class FakeFeed:
    """Daily bars as Alpaca serves them at ``now``: the sessions closed are final, the one in
    progress is partial."""

    def __init__(self) -> None:
        self.now = _utc(DAYS[0], 15)
        self.failing = False
        self.asked: list[tuple[str, datetime, datetime, str]] = []

    def get_bars(self, ticker: str, start: datetime, end: datetime,
                 timeframe: str = "1Day") -> list[Bar]:
        self.asked.append((ticker, start, end, timeframe))
        if self.failing:
            raise BrokerError("market data: HTTP 503")
        out = []
        for d in DAYS:
            if _utc(d, 14, 30) > self.now:  # not opened yet
                break
            b = _final(ticker, d)
            if self.now < _utc(d, 21):  # in progress: a partial bar
                b = Bar(ticker, b.ts, b.open, b.open + 0.5, b.open - 0.5, b.open + 0.1, 10.0)
            if start <= b.ts <= end:
                out.append(b)
        return out


class FakeClock:
    """The broker's market clock over ``DAYS`` (open 14:30-21:00 UTC)."""

    def __init__(self, feed: FakeFeed) -> None:
        self.feed = feed
        self.failing = False

    def get_clock(self) -> MarketClock:
        if self.failing:
            raise BrokerError("clock: timed out")
        now = self.feed.now
        days = [*DAYS, date(2024, 1, 9)]
        for d, after in pairwise(days):
            o, c = _utc(d, 14, 30), _utc(d, 21)
            if now < c:
                return MarketClock(timestamp=now, is_open=o <= now,
                                   next_open=o if now < o else _utc(after, 14, 30),
                                   next_close=c)
        raise AssertionError("past the calendar")


def _close(t: str, d: date) -> Bar:
    """The final bar of ``d``, stamped at its session's close (as the replay stamps it)."""
    b = _final(t, d)
    return Bar(t, session_stamp(b.ts)[1], b.open, b.high, b.low, b.close, b.volume)


@pytest.fixture
def wired() -> tuple[FakeFeed, FakeClock, Recorder, CompletedDailyBars]:
    feed = FakeFeed()
    clock = FakeClock(feed)
    rec = Recorder()
    return feed, clock, rec, CompletedDailyBars(rec, feed, clock, ["AAPL", "MSFT"],
                                                session_stamp)


def test_each_completed_session_is_handed_once_never_the_one_in_progress(
        wired: tuple[FakeFeed, FakeClock, Recorder, CompletedDailyBars]) -> None:
    feed, _, rec, daily = wired
    feed.now = _utc(DAYS[1], 15)  # Jan 3, in session: Jan 2 closed, Jan 3 partial
    daily.warm_up([b for t in ("AAPL", "MSFT")
                   for b in feed.get_bars(t, feed.now - timedelta(days=30), feed.now)])
    assert rec.warm == [_close("AAPL", DAYS[0]), _close("MSFT", DAYS[0])]
    minute = {"AAPL": Bar("AAPL", feed.now, 1.0, 1.0, 1.0, 1.0, 1.0)}
    # the first step: the warm-up's last session again (decided on once), nothing newer
    daily.observe(minute)
    feed.now = _utc(DAYS[1], 20, 59)
    daily.observe(minute)  # still Jan 3's session: its partial bar is not handed
    feed.now = _utc(DAYS[2], 14, 31)  # Jan 4 open: Jan 3 complete
    daily.observe(minute)
    daily.observe(minute)
    assert rec.steps == [
        {"AAPL": _close("AAPL", DAYS[0]), "MSFT": _close("MSFT", DAYS[0])}, {},
        {"AAPL": _close("AAPL", DAYS[1]), "MSFT": _close("MSFT", DAYS[1])}, {}]
    assert rec.steps[2]["AAPL"].ts == datetime(2024, 1, 3, 21, tzinfo=UTC)
    assert all(t == "1Day" for *_, t in feed.asked)


def test_sessions_missed_while_the_feed_failed_come_later_in_order(
        wired: tuple[FakeFeed, FakeClock, Recorder, CompletedDailyBars]) -> None:
    feed, clock, rec, daily = wired
    feed.now = _utc(DAYS[1], 15)
    daily.warm_up(feed.get_bars("AAPL", feed.now - timedelta(days=30), feed.now))
    daily.observe({})
    feed.now, feed.failing = _utc(DAYS[2], 14, 31), True
    daily.observe({})
    feed.now, feed.failing, clock.failing = _utc(DAYS[3], 14, 31), False, True
    daily.observe({})
    feed.now, clock.failing = _utc(DAYS[4], 14, 31), False  # Monday: Jan 3, 4 and 5 closed
    daily.observe({})
    got = [sorted((t, b.ts) for t, b in s.items()) for s in rec.steps]
    # MSFT had no warm-up: its first step fetches its recent completed sessions
    assert got == [[("AAPL", _close("AAPL", DAYS[0]).ts), ("MSFT", _close("MSFT", DAYS[0]).ts)],
                   [], [],
                   [("AAPL", _close("AAPL", DAYS[1]).ts), ("MSFT", _close("MSFT", DAYS[1]).ts)],
                   [("AAPL", _close("AAPL", DAYS[2]).ts), ("MSFT", _close("MSFT", DAYS[2]).ts)],
                   [("AAPL", _close("AAPL", DAYS[3]).ts), ("MSFT", _close("MSFT", DAYS[3]).ts)]]
    assert [b for s in rec.steps for b in s.values()] == daily.handed


def test_a_closed_market_counts_the_session_that_just_closed(
        wired: tuple[FakeFeed, FakeClock, Recorder, CompletedDailyBars]) -> None:
    feed, _, rec, daily = wired
    feed.now = _utc(DAYS[3], 22)  # Friday after the close: Monday opens next
    daily.warm_up(feed.get_bars("AAPL", feed.now - timedelta(days=30), feed.now))
    assert [b.ts for b in rec.warm] == [_close("AAPL", d).ts for d in DAYS[:4]]
