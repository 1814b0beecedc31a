"""The bundled XNYS session table: equal to exchange_calendars, and used only where it holds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import example, given, settings
from hypothesis import strategies as st

from adapters.data import calendar as cal
from adapters.simulated.sessions import sessions_for

REGENERATE = ("regenerate it: python -c 'from adapters.data.calendar import "
              "write_session_table; write_session_table()'")


def test_bundled_table_when_rebuilt_from_exchange_calendars_then_identical(tmp_path: Path) -> None:
    fresh = cal.write_session_table(tmp_path / "t.npz")
    with np.load(fresh) as a, np.load(cal.SESSION_TABLE) as b:
        for k in ("days", "opens", "closes"):
            assert np.array_equal(a[k], b[k]), f"{k} differs from exchange_calendars: {REGENERATE}"


def test_table_when_compared_with_the_default_calendar_then_same_sessions() -> None:
    # the calendar every caller got before: 1990-01-02 to about a year from now
    sched = cal.get_calendar("XNYS").schedule
    opens, closes = cal.schedule_ns("XNYS")
    n = len(sched)
    assert np.array_equal(opens[:n], cal._utc_ns(sched["open"]))
    assert np.array_equal(closes[:n], cal._utc_ns(sched["close"]))
    s = sessions_for("XNYS")
    assert np.array_equal(s.closes[:n], cal._utc_ns(sched["close"]))


_DAYS = st.dates(min_value=pd.Timestamp("1985-01-01").date(),
                 max_value=pd.Timestamp("2040-12-31").date())


@settings(max_examples=60)
@given(st.lists(_DAYS, min_size=1, max_size=30))
@example([pd.Timestamp("2024-11-29").date()])  # an early close (13:00)
@example([pd.Timestamp("2024-07-04").date()])  # a holiday: not a session
@example([pd.Timestamp("1989-12-29").date()])  # before the table
@example([pd.Timestamp("2036-01-02").date()])  # after the table
@example([pd.Timestamp("2028-07-03").date()])  # an early close past the calendar's horizon
@example([pd.Timestamp("2000-01-01").date(), pd.Timestamp("2028-07-03").date()])
def test_session_bounds_when_table_or_calendar_then_same(days: list) -> None:
    arr = np.array(sorted(set(days)), dtype="datetime64[ns]")
    fast = cal.session_bounds_ns(arr)
    # a DatetimeIndex never takes the table's own path: the calendar's answer, with the
    # table's sessions put in place over its span
    slow = cal.session_bounds_ns(pd.DatetimeIndex(arr))
    assert np.array_equal(fast[0], slow[0]) and np.array_equal(fast[1], slow[1])
    # the calendar built over the table's span agrees on every session (past the default
    # calendar's horizon, about a year ahead, too: an early close included)
    far = cal.get_calendar("XNYS", "1990-01-02", "2035-12-31").schedule
    for d, o, c in zip(pd.DatetimeIndex(arr), *fast, strict=True):
        if d in far.index:
            assert o == pd.Timestamp(far.loc[d, "open"]).value
            assert c == pd.Timestamp(far.loc[d, "close"]).value
        else:  # no session: 09:30-16:00 New York time
            ny = d.tz_localize("America/New_York")
            assert o == (ny + pd.Timedelta(hours=9, minutes=30)).value
            assert c == (ny + pd.Timedelta(hours=16)).value


def test_bounds_from_table_when_outside_the_span_or_not_midnight_then_declines() -> None:
    session = np.array(["2024-11-29"], dtype="datetime64[ns]")
    o, c = cal._bounds_from_table(session, "XNYS")  # type: ignore[misc]
    assert pd.Timestamp(int(c[0]), tz="UTC") == pd.Timestamp("2024-11-29 18:00", tz="UTC")
    assert cal._bounds_from_table(np.array(["1989-07-04"], "datetime64[ns]"), "XNYS") is None
    assert cal._bounds_from_table(np.array(["2024-11-29T10:00"], "datetime64[ns]"),
                                  "XNYS") is None
    assert cal._bounds_from_table(session, "XLON") is None
