"""Exchange sessions from ``exchange_calendars`` (XNYS by default)."""

from __future__ import annotations

import warnings
from functools import lru_cache

import exchange_calendars as xcals
import numpy as np
import pandas as pd
from numpy.typing import NDArray

__all__ = [
    "get_calendar",
    "previous_session_bounds_ns",
    "session_bounds_ns",
    "sessions_between",
]

# exchange_calendars builds its default calendar from 2006 on; ask for more when needed.
_MIN_START = pd.Timestamp("1990-01-02")


@lru_cache(maxsize=8)
def get_calendar(
    name: str = "XNYS", start: str = "1990-01-02"
) -> xcals.ExchangeCalendar:
    """Return the exchange calendar ``name`` covering ``start`` until about a year from now."""
    with warnings.catch_warnings():
        # exchange_calendars 4.13 trips a pandas 3.1 deprecation warning while building.
        warnings.simplefilter("ignore")
        return xcals.get_calendar(name, start=max(pd.Timestamp(start), _MIN_START))


def _cal_for(dates: pd.DatetimeIndex | pd.Series, name: str) -> xcals.ExchangeCalendar:
    first = pd.Timestamp(min(dates)) if len(dates) else pd.Timestamp("2000-01-03")
    start = (
        "1990-01-02"
        if first >= pd.Timestamp("1990-01-02")
        else first.strftime("%Y-%m-%d")
    )
    return get_calendar(name, start)


def sessions_between(
    first: object, last: object, name: str = "XNYS"
) -> NDArray[np.datetime64]:
    """Return the exchange's sessions from ``first`` to ``last`` inclusive (``datetime64[D]``)."""
    a, b = pd.Timestamp(first).normalize(), pd.Timestamp(last).normalize()  # type: ignore[arg-type]
    cal = _cal_for(pd.DatetimeIndex([a]), name)
    # dates before the calendar's first session (or after its last) have no sessions: the
    # validation reports them as not sessions rather than failing here
    a, b = max(a, cal.first_session), min(b, cal.last_session)
    if a > b:
        return np.zeros(0, dtype="datetime64[D]")
    s = cal.sessions_in_range(a, b)
    return np.asarray(s.values.astype("datetime64[D]"))


def session_bounds_ns(
    dates: NDArray[np.datetime64] | pd.DatetimeIndex | pd.Series, name: str = "XNYS"
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Return each date's session open and close as int64 ns since the epoch, UTC.

    Dates that are not sessions of the exchange (bad data) get 09:30 and 16:00 New York
    time of that date, so that the caller can still order them; validation reports them.
    Early closes (e.g. 13:00 the day after Thanksgiving) come from the calendar.
    """
    idx = pd.DatetimeIndex(pd.to_datetime(np.asarray(dates))).normalize()
    if len(idx) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty.copy()
    cal = _cal_for(idx, name)
    opens = cal.schedule["open"]
    closes = cal.schedule["close"]
    o = opens.reindex(idx)
    c = closes.reindex(idx)
    missing = o.isna().to_numpy()
    if missing.any():
        ny = idx[missing].tz_localize("America/New_York")
        o[missing] = (ny + pd.Timedelta(hours=9, minutes=30)).tz_convert("UTC")
        c[missing] = (ny + pd.Timedelta(hours=16)).tz_convert("UTC")
    o_ns = (
        o.dt.tz_convert("UTC")
        .dt.tz_localize(None)
        .to_numpy("datetime64[ns]")
        .astype(np.int64)
    )
    c_ns = (
        c.dt.tz_convert("UTC")
        .dt.tz_localize(None)
        .to_numpy("datetime64[ns]")
        .astype(np.int64)
    )
    return o_ns, c_ns


def previous_session_bounds_ns(date: object, name: str = "XNYS") -> tuple[int, int] | None:
    """Return the open and close (int64 ns since the epoch, UTC) of the last session
    strictly before ``date``, or ``None`` if the calendar has none."""
    d = pd.Timestamp(date).normalize()  # type: ignore[arg-type]
    cal = _cal_for(pd.DatetimeIndex([d]), name)
    sched = cal.schedule
    k = int(sched.index.searchsorted(d, side="left")) - 1
    if k < 0:
        return None
    row = sched.iloc[k]
    return int(pd.Timestamp(row["open"]).value), int(pd.Timestamp(row["close"]).value)
