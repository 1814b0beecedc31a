"""Walk-forward windows over a series of bars: rolling or anchored, with an embargo.

A window trains on ``[train_start, train_stop)`` and tests out of sample on
``[test_start, test_stop)`` (half-open bar indices). ``embargo`` bars are left out between
the two, so that trailing features and multi-bar rewards of the train window do not reach
into the test window.

* ``rolling``: every train window has the same length and moves forward by ``step``.
* ``anchored``: every train window starts at bar 0 and grows by ``step``.

Lengths are :class:`Span` values: a bar count (``"500"``) or a calendar duration
(``"90d"``, ``"6w"``, ``"6m"``, ``"2y"``) resolved against the bars' dates. With ``step``
equal to ``test`` (the default) consecutive test windows touch: they tile the end of the
data without a gap or an overlap.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Sequence
from typing import Literal

import attrs

__all__ = [
    "SCHEMES",
    "Scheme",
    "Span",
    "Window",
    "last_windows",
    "parse_span",
    "walk_forward_windows",
]

Scheme = Literal["rolling", "anchored"]
SCHEMES: tuple[str, ...] = ("rolling", "anchored")

_SPAN = re.compile(r"^\s*(\d+)\s*([dwmy]?)\s*$", re.IGNORECASE)


@attrs.frozen
class Span:
    """A length: ``count`` bars (``unit == "bars"``) or ``count`` days/weeks/months/years."""

    count: int
    unit: Literal["bars", "d", "w", "m", "y"] = "bars"

    def __str__(self) -> str:
        return str(self.count) if self.unit == "bars" else f"{self.count}{self.unit}"


def parse_span(text: str, field: str = "span") -> Span:
    """Parse ``"500"`` (bars) or ``"90d"``, ``"6w"``, ``"6m"``, ``"2y"`` (calendar time).

    Raises
    ------
    ValueError
        Naming ``field``, the value and the accepted forms.
    """
    m = _SPAN.match(str(text))
    if m is None or int(m.group(1)) < 1:
        raise ValueError(
            f"{field} must be a positive bar count (e.g. 500) or a duration such as 90d, 6w, "
            f"6m or 2y, got {text!r}"
        )
    unit = m.group(2).lower()
    return Span(int(m.group(1)), unit if unit else "bars")  # type: ignore[arg-type]


@attrs.frozen
class Window:
    """One walk-forward window, as half-open bar ranges."""

    index: int
    train_start: int
    train_stop: int
    test_start: int
    test_stop: int

    @property
    def train_bars(self) -> int:
        """Return the number of train bars."""
        return self.train_stop - self.train_start

    @property
    def test_bars(self) -> int:
        """Return the number of test bars."""
        return self.test_stop - self.test_start


def _add(day: dt.date, span: Span) -> dt.date:
    if span.unit == "d":
        return day + dt.timedelta(days=span.count)
    if span.unit == "w":
        return day + dt.timedelta(weeks=span.count)
    months = span.count * (12 if span.unit == "y" else 1)
    y, m = divmod(day.month - 1 + months, 12)
    year, month = day.year + y, m + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


#: A duration may end up to this many days after the last bar and still count as complete
#: (a weekend or a holiday after the data's last session).
END_TOLERANCE_DAYS = 4


def _advance(start: int, span: Span, dates: Sequence[dt.date] | None, n: int) -> int:
    """Return the bar index ``span`` after bar ``start``; ``n + 1`` when it overruns the data."""
    if span.unit == "bars":
        return start + span.count
    if dates is None:
        raise ValueError(f"a duration ({span}) needs the bars' dates")
    if start >= n:
        return n + 1
    end = _add(dates[start], span)
    for i in range(start, n):
        if dates[i] >= end:
            return i
    return n if (end - dates[n - 1]).days <= END_TOLERANCE_DAYS else n + 1


def walk_forward_windows(
    n: int,
    *,
    train: Span,
    test: Span,
    step: Span | None = None,
    scheme: str = "rolling",
    embargo: int = 0,
    dates: Sequence[dt.date] | None = None,
    start: int = 0,
) -> list[Window]:
    """Return every complete window over ``n`` bars, the first train window at ``start``.

    Window ``k`` of the rolling scheme trains on ``train`` from ``start`` moved on by ``k``
    steps; window ``k`` of the anchored scheme trains from ``start`` to the first train
    window's end moved on by ``k`` steps. Each test window starts ``embargo`` bars after its
    train window and lasts ``test``. Windows are made until a test window would run past
    the data.

    Parameters
    ----------
    n
        Number of bars.
    train, test, step
        Window lengths; ``step`` (default: ``test``) is how far each window moves on.
    scheme
        ``rolling`` (fixed train length) or ``anchored`` (train starts at ``start``).
    embargo
        Bars left out between each train window and its test window.
    dates
        One date per bar (ascending), needed when a length is a duration.
    start
        First bar of the first train window.

    Raises
    ------
    ValueError
        A bad scheme or embargo, or data too short for a single window.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {', '.join(SCHEMES)}, got {scheme!r}")
    if embargo < 0:
        raise ValueError(f"embargo must be >= 0 bars, got {embargo}")
    if dates is not None and len(dates) != n:
        raise ValueError(f"dates has {len(dates)} entries for {n} bars")
    step = step or test
    out: list[Window] = []
    moved = start  # rolling: the train start; anchored: the train stop
    if scheme == "anchored":
        moved = _advance(start, train, dates, n)
    while moved < n:
        if scheme == "rolling":
            train_start, train_stop = moved, _advance(moved, train, dates, n)
        else:
            train_start, train_stop = start, moved
        test_start = train_stop + embargo
        test_stop = _advance(test_start, test, dates, n)
        if train_stop > n or test_stop > n or test_start >= test_stop:
            break
        out.append(Window(len(out), train_start, train_stop, test_start, test_stop))
        nxt = _advance(moved, step, dates, n)
        if nxt <= moved:
            break
        moved = nxt
    if not out:
        raise ValueError(
            f"{n} bars are too few for one window of train {train} + embargo {embargo} + "
            f"test {test}"
        )
    return out


def last_windows(
    n: int,
    windows: int,
    *,
    train: int | None = None,
    scheme: str = "rolling",
    embargo: int = 0,
) -> list[Window]:
    """Return ``windows`` equal test windows that tile the end of ``n`` bars.

    With ``train`` (bars) every rolling window trains on that many bars before its embargo;
    without it the first train window gets every bar before the first test window. The
    test length is the largest that fits; the few bars it leaves over begin the data.
    """
    if windows < 1:
        raise ValueError(f"windows must be >= 1, got {windows}")
    if embargo < 0:
        raise ValueError(f"embargo must be >= 0 bars, got {embargo}")
    if train is not None and train < 1:
        raise ValueError(f"train must be >= 1 bar, got {train}")
    reserve = train if train is not None else max(1, (n - embargo) // (windows + 1))
    test = (n - reserve - embargo) // windows
    if test < 1:
        raise ValueError(
            f"{n} bars are too few for {windows} test windows after {reserve} train bars "
            f"and an embargo of {embargo}"
        )
    first_test = n - windows * test
    out: list[Window] = []
    for k in range(windows):
        t0 = first_test + k * test
        train_stop = t0 - embargo
        if scheme == "anchored":
            train_start = 0
        elif scheme == "rolling":
            train_start = max(0, train_stop - reserve) if train is not None else max(
                0, train_stop - (first_test - embargo)
            )
        else:
            raise ValueError(f"scheme must be one of {', '.join(SCHEMES)}, got {scheme!r}")
        out.append(Window(k, train_start, train_stop, t0, t0 + test))
    return out
