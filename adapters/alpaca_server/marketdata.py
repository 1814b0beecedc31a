"""Market-data and calendar shapes of the loopback Alpaca server (pure functions over bars).

Alpaca's stock data API v2 answers bars, trades and quotes; the loopback server only knows
bars (pushed or replayed), so a trade is the bar's close and a quote has bid = ask = close.
Bars of a coarser timeframe are built by bucketing the known bars.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from domain.ids import digest
from domain.market import Bar, MarketClock

NEW_YORK = ZoneInfo("America/New_York")
_TIMEFRAME = re.compile(r"^(\d+)(Min|T|Hour|H|Day|D|Week|W|Month|M)$")
_UNIT = {"Min": "min", "T": "min", "Hour": "hour", "H": "hour", "Day": "day", "D": "day",
         "Week": "week", "W": "week", "Month": "month", "M": "month"}


class BadParam(ValueError):
    """A query parameter could not be read; the message names it, its value and the rule."""

    def __init__(self, name: str, value: object, expected: str) -> None:
        super().__init__(f"invalid {name} {value!r}: expected {expected}")


def iso(ts: datetime | None) -> str | None:
    """Return ``ts`` as RFC 3339 in UTC with a ``Z``."""
    return None if ts is None else ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_ts(name: str, value: str | None) -> datetime | None:
    """Parse an RFC 3339 time or a date (naive means UTC); raise :class:`BadParam`."""
    if value is None or value == "":
        return None
    try:
        ts = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadParam(name, value, "an RFC 3339 time or YYYY-MM-DD date") from None
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)


def parse_date(name: str, value: str | None) -> date | None:
    """Parse ``YYYY-MM-DD`` (an RFC 3339 time is cut to its date)."""
    if value is None or value == "":
        return None
    try:
        return date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        raise BadParam(name, value, "a YYYY-MM-DD date") from None


def parse_int(name: str, value: str | None, default: int, lo: int, hi: int) -> int:
    """Parse an integer query parameter within ``[lo, hi]``."""
    if value is None or value == "":
        return default
    try:
        n = int(value)
    except ValueError:
        raise BadParam(name, value, f"an integer in {lo}..{hi}") from None
    if not lo <= n <= hi:
        raise BadParam(name, value, f"an integer in {lo}..{hi}")
    return n


def parse_timeframe(value: str | None) -> tuple[int, str]:
    """Return ``(amount, unit)`` of an Alpaca timeframe such as ``1Day`` or ``15Min``."""
    m = _TIMEFRAME.match(value or "1Day")
    if m is None or int(m.group(1)) < 1:
        raise BadParam("timeframe", value, "[1-59]Min, [1-23]Hour, 1Day, 1Week or "
                       "[1,2,3,4,6,12]Month")
    return int(m.group(1)), _UNIT[m.group(2)]


def bucket(ts: datetime, amount: int, unit: str) -> tuple[int, ...]:
    """Return the key of the ``amount``-``unit`` bucket ``ts`` falls in (days in New York)."""
    if unit in ("min", "hour"):
        size = amount * (60 if unit == "min" else 3600)
        return (int(ts.timestamp()) // size,)
    local = ts.astimezone(NEW_YORK).date()
    if unit == "day":
        return (local.toordinal() // amount,)
    if unit == "week":
        monday = local - timedelta(days=local.weekday())
        return (monday.toordinal() // (7 * amount),)
    return (local.year, (local.month - 1) // amount)


def aggregate(bars: Sequence[Bar], amount: int, unit: str) -> list[Bar]:
    """Combine ``bars`` (oldest first) into timeframe buckets, labelled by their first bar."""
    out: list[Bar] = []
    key: tuple[int, ...] | None = None
    for b in bars:
        k = bucket(b.ts, amount, unit)
        if out and k == key:
            a = out[-1]
            out[-1] = Bar(ticker=a.ticker, ts=a.ts, open=a.open, high=max(a.high, b.high),
                          low=min(a.low, b.low), close=b.close, volume=a.volume + b.volume)
        else:
            out.append(b)
            key = k
    return out


def bar_json(b: Bar) -> dict[str, Any]:
    """Return a bar in Alpaca's compact shape."""
    return {"t": iso(b.ts), "o": b.open, "h": b.high, "l": b.low, "c": b.close, "v": b.volume,
            "n": 1, "vw": b.close}


def trade_json(b: Bar) -> dict[str, Any]:
    """Return the last trade implied by a bar: its close, at its time."""
    return {"t": iso(b.ts), "x": "V", "p": b.close, "s": 100, "c": ["@"],
            "i": int(digest(b.ticker, b.ts, length=8), 16), "z": "C"}


def quote_json(b: Bar) -> dict[str, Any]:
    """Return the quote implied by a bar: bid = ask = its close."""
    return {"t": iso(b.ts), "ax": "V", "ap": b.close, "as": 1, "bx": "V", "bp": b.close,
            "bs": 1, "c": ["R"], "z": "C"}


def snapshot_json(bars: Sequence[Bar]) -> dict[str, Any]:
    """Return Alpaca's snapshot of a symbol from its known bars (oldest first, not empty)."""
    last = bars[-1]
    days = aggregate(bars, 1, "day")
    return {"latestTrade": trade_json(last), "latestQuote": quote_json(last),
            "minuteBar": bar_json(last), "dailyBar": bar_json(days[-1]),
            "prevDailyBar": bar_json(days[-2]) if len(days) > 1 else None}


def always_open_clock(now: datetime, sessions: Any) -> MarketClock:
    """Return an always-open clock whose next close and open come from a real calendar.

    ``sessions`` is an exchange's :class:`~adapters.simulated.sessions.Sessions`; the close
    is the calendar's next close after ``now`` and the open the one after that close, so a
    bot computing "time to close" gets a real duration instead of zero.
    """
    c = sessions.clock(now)
    if c.next_close <= now:
        return MarketClock(timestamp=now, is_open=True, next_open=now + timedelta(days=1),
                           next_close=now + timedelta(hours=6, minutes=30))
    after = sessions.clock(c.next_close)
    nxt_open = after.next_open if after.next_open > c.next_close else \
        c.next_close + timedelta(hours=17, minutes=30)
    return MarketClock(timestamp=now, is_open=True, next_open=nxt_open,
                       next_close=c.next_close)


def calendar_rows(schedule: Any, start: date, end: date) -> list[dict[str, str]]:
    """Return Alpaca's ``/v2/calendar`` rows for the sessions of ``schedule`` in [start, end].

    ``schedule`` is an ``exchange_calendars`` schedule (``open``/``close`` columns in UTC,
    indexed by session date). Times are New York wall-clock times, like Alpaca's.
    """
    rows = []
    sessions = list(schedule.index)
    for i, (day, row) in enumerate(schedule.iterrows()):
        d = day.date()
        if d < start or d > end:
            continue
        o = row["open"].to_pydatetime().astimezone(NEW_YORK)
        c = row["close"].to_pydatetime().astimezone(NEW_YORK)
        settle = sessions[i + 1].date() if i + 1 < len(sessions) else d + timedelta(days=1)
        rows.append({"date": d.isoformat(), "open": o.strftime("%H:%M"),
                     "close": c.strftime("%H:%M"), "session_open": "0400",
                     "session_close": "2000", "settlement_date": settle.isoformat()})
    return rows
