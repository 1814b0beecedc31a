"""Exchange sessions from ``exchange_calendars`` (XNYS by default).

The XNYS sessions from 1990-01-02 to 2035-12-31 (open and close of each) are also kept in
``xnys_sessions.npz`` beside this module, written from ``exchange_calendars`` by
:func:`write_session_table`: a replay's session stamps and the simulated exchange's sessions
come from it without building the calendar (importing and building it costs about 0.3 s of
CPU, a tenth of a whole backtest). A test checks the file against the installed
``exchange_calendars``; any other calendar, or a date outside the file, is asked of
``exchange_calendars`` as before.
"""

from __future__ import annotations

import warnings
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from numpy.typing import NDArray

if TYPE_CHECKING:
    import exchange_calendars as xcals

__all__ = [
    "SESSION_TABLE",
    "get_calendar",
    "previous_session_bounds_ns",
    "schedule_ns",
    "session_bounds_ns",
    "sessions_between",
    "write_session_table",
]

# exchange_calendars builds its default calendar from 2006 on; ask for more when needed.
_MIN_START = pd.Timestamp("1990-01-02")

#: the bundled XNYS sessions (see the module's docstring) and the span they cover
SESSION_TABLE = Path(__file__).with_name("xnys_sessions.npz")
_TABLE_SPAN = ("1990-01-02", "2035-12-31")


@lru_cache(maxsize=8)
def get_calendar(
    name: str = "XNYS", start: str = "1990-01-02", end: str | None = None,
) -> xcals.ExchangeCalendar:
    """Return the exchange calendar ``name`` covering ``start`` until ``end`` (by default
    about a year from now)."""
    import exchange_calendars as xcals  # noqa: PLC0415 - slow import, rarely needed

    with warnings.catch_warnings():
        # exchange_calendars 4.13 trips a pandas 3.1 deprecation warning while building.
        warnings.simplefilter("ignore")
        return xcals.get_calendar(name, start=max(pd.Timestamp(start), _MIN_START),
                                  **({"end": pd.Timestamp(end)} if end else {}))


def _utc_ns(col: pd.Series) -> NDArray[np.int64]:
    return np.asarray(col.dt.tz_convert("UTC").dt.tz_localize(None)
                      .to_numpy("datetime64[ns]").astype(np.int64))


def write_session_table(path: Path = SESSION_TABLE) -> Path:
    """Write the XNYS sessions of :data:`_TABLE_SPAN` (days, opens, closes) to ``path``."""
    sched = get_calendar("XNYS", _TABLE_SPAN[0], _TABLE_SPAN[1]).schedule
    np.savez_compressed(path, days=sched.index.values.astype("datetime64[D]"),
                        opens=_utc_ns(sched["open"]), closes=_utc_ns(sched["close"]))
    return path


@lru_cache(maxsize=1)
def _table() -> tuple[NDArray[np.datetime64], NDArray[np.int64], NDArray[np.int64]] | None:
    try:
        with np.load(SESSION_TABLE) as z:
            arrays = z["days"], z["opens"], z["closes"]
    except (OSError, KeyError, ValueError):
        return None
    for a in arrays:  # shared by every caller: read-only
        a.flags.writeable = False
    return arrays


def schedule_ns(name: str = "XNYS") -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Return the open and close (int64 ns since the epoch, UTC) of every session of
    ``name`` from 1990-01-02 on, in order (the bundled table for XNYS)."""
    table = _table() if name == "XNYS" else None
    if table is not None:
        return table[1], table[2]
    sched = get_calendar(name).schedule
    return _utc_ns(sched["open"]), _utc_ns(sched["close"])


def _bounds_from_table(dates: object, name: str
                       ) -> tuple[NDArray[np.int64], NDArray[np.int64]] | None:
    """Session bounds of day-stamped ``dates`` from the bundled table; None unless every
    date lies in the table's span (a date there that is no session gets 09:30-16:00 New York
    time, as :func:`session_bounds_ns` gives it)."""
    table = _table() if name == "XNYS" else None
    if table is None or not isinstance(dates, np.ndarray) or dates.dtype.kind != "M" \
            or dates.size == 0:
        return None
    days = dates.astype("datetime64[D]")
    if (days != dates).any():  # not midnight: the pandas path normalizes
        return None
    tdays, opens, closes = table
    if days.min() < tdays[0] or days.max() > tdays[-1]:
        return None
    at = np.searchsorted(tdays, days)
    hit = tdays[at] == days
    if hit.all():
        return opens[at], closes[at]
    o, c = opens[at], closes[at]
    o[~hit], c[~hit] = _regular_hours_ns(pd.DatetimeIndex(days[~hit].astype("datetime64[ns]")))
    return o, c


def _regular_hours_ns(idx: pd.DatetimeIndex) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """09:30 and 16:00 New York time of each (tz-naive, midnight) day, as int64 ns UTC."""
    ny = idx.tz_localize("America/New_York")
    o = (ny + pd.Timedelta(hours=9, minutes=30)).tz_convert("UTC").tz_localize(None)
    c = (ny + pd.Timedelta(hours=16)).tz_convert("UTC").tz_localize(None)
    return (np.asarray(o.values.astype("datetime64[ns]").astype(np.int64)),
            np.asarray(c.values.astype("datetime64[ns]").astype(np.int64)))


def _table_overrides(idx: pd.DatetimeIndex, o_ns: NDArray[np.int64], c_ns: NDArray[np.int64],
                     name: str) -> None:
    """Put the table's bounds in place for every date of ``idx`` that is a session in it:
    the table is the answer inside its span whichever way a call went (past the calendar's
    default horizon, about a year ahead, only the table knows the sessions)."""
    table = _table() if name == "XNYS" else None
    if table is None or not len(idx):
        return
    tdays, opens, closes = table
    days = idx.values.astype("datetime64[D]")
    at = np.searchsorted(tdays, days).clip(max=len(tdays) - 1)
    hit = tdays[at] == days
    o_ns[hit], c_ns[hit] = opens[at[hit]], closes[at[hit]]


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
    fast = _bounds_from_table(dates, name)
    if fast is not None:
        return fast
    idx = pd.DatetimeIndex(pd.to_datetime(np.asarray(dates))).normalize()
    if len(idx) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty.copy()
    cal = _cal_for(idx, name)
    opens = cal.schedule["open"]
    closes = cal.schedule["close"]
    o = opens.reindex(idx)
    missing = o.isna().to_numpy()
    o_ns, c_ns = _utc_ns(o), _utc_ns(closes.reindex(idx))
    if missing.any():
        o_ns[missing], c_ns[missing] = _regular_hours_ns(idx[missing])
    _table_overrides(idx, o_ns, c_ns, name)
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
