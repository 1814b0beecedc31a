"""Check one ticker's bars and list every problem found, without changing them."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
from numpy.typing import NDArray

from domain.market_data.findings import (
    DEFAULT_SEVERITY,
    IssueSeverity,
    Problem,
    ValidationIssue,
    day_strings,
    nonzero_rows,
)
from domain.market_data.jumps import classify_jumps, jump_issue
from domain.market_data.series import OhlcvSeries, SplitRules

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
Dates = NDArray[np.datetime64]

#: Prices below this are not quotes of a listed equity (a 1e-9 is a unit or parsing error).
MIN_PRICE = 1e-4
#: The dates an exchange calendar covers; bars outside are refused, not guessed at.
FIRST_DAY = np.datetime64("1990-01-01", "D")
LAST_DAY = np.datetime64("2099-12-31", "D")


def row_problems(
    dates: Dates, tickers: NDArray[np.object_], open_: F64, high: F64, low: F64, close: F64,
    volume: F64,
) -> list[tuple[int, Problem, str]]:
    """Return ``(row, problem, detail)`` for every bar row a replay must not trade on.

    Checked per row, in the rows' own order: a missing ticker, a missing or infinite value, a
    price that is not positive or implausibly small (< :data:`MIN_PRICE`), negative volume,
    high below low,
    open or close outside [low, high], a weekend date, a date outside the calendars
    (:data:`FIRST_DAY`..:data:`LAST_DAY`) and a second bar for the same ticker and date.
    """
    days = dates.astype("datetime64[D]")
    weekday = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    if _all_clean(days, weekday, tickers, open_, high, low, close, volume):
        return []  # the common case, checked on whole columns
    return row_by_row(days, weekday, tickers, open_, high, low, close, volume)


def row_by_row(
    days: Dates, weekday: I64, tickers: NDArray[np.object_], open_: F64, high: F64, low: F64,
    close: F64, volume: F64,
) -> list[tuple[int, Problem, str]]:
    """:func:`row_problems` one row at a time (``days`` in ``datetime64[D]``, ``weekday``
    with Monday = 0): the first problem of each row, with its detail."""
    out: list[tuple[int, Problem, str]] = []
    seen: set[tuple[str, np.datetime64]] = set()
    for i in range(len(days)):
        if not _named(tickers[i]):
            out.append((i, Problem.NAN, "ticker missing"))
            continue
        vals = {"open": float(open_[i]), "high": float(high[i]), "low": float(low[i]),
                "close": float(close[i]), "volume": float(volume[i])}
        bad = [f"{k}={v}" for k, v in vals.items() if math.isnan(v)]
        if bad:
            out.append((i, Problem.NAN, ", ".join(bad)))
            continue
        bad = [f"{k}={v}" for k, v in vals.items() if math.isinf(v)]
        if bad:
            out.append((i, Problem.NON_FINITE, ", ".join(bad)))
            continue
        o, h, lo, c = vals["open"], vals["high"], vals["low"], vals["close"]
        bad = [f"{k}={vals[k]:g}" for k in ("open", "high", "low", "close") if vals[k] <= 0]
        if bad:
            out.append((i, Problem.NON_POSITIVE_PRICE, ", ".join(bad)))
            continue
        bad = [f"{k}={vals[k]:g}" for k in ("open", "high", "low", "close")
               if vals[k] < MIN_PRICE]
        if bad:
            out.append((i, Problem.IMPLAUSIBLE_PRICE, ", ".join(bad) + f" (< {MIN_PRICE:g})"))
            continue
        if vals["volume"] < 0:
            out.append((i, Problem.NEGATIVE_VOLUME, f"volume={vals['volume']:g}"))
            continue
        if h < lo:
            out.append((i, Problem.HIGH_BELOW_LOW, f"high={h:g} < low={lo:g}"))
            continue
        if not lo <= o <= h:
            out.append((i, Problem.OPEN_OUTSIDE_RANGE, f"open={o:g} outside [low={lo:g}, "
                                                       f"high={h:g}]"))
            continue
        if not lo <= c <= h:
            out.append((i, Problem.CLOSE_OUTSIDE_RANGE, f"close={c:g} outside [low={lo:g}, "
                                                        f"high={h:g}]"))
            continue
        if days[i] < FIRST_DAY or days[i] > LAST_DAY:
            out.append((i, Problem.OUT_OF_CALENDAR, f"date outside {FIRST_DAY}..{LAST_DAY}"))
            continue
        if weekday[i] >= 5:
            out.append((i, Problem.NOT_A_SESSION,
                        "a " + ("Saturday" if weekday[i] == 5 else "Sunday")))
            continue
        key = (str(tickers[i]), days[i])
        if key in seen:
            out.append((i, Problem.DUPLICATE_TIMESTAMP, "a second bar for this ticker and date"))
            continue
        seen.add(key)
    return out


def _all_clean(days: Dates, weekday: I64, tickers: NDArray[np.object_], open_: F64, high: F64,
               low: F64, close: F64, volume: F64) -> bool:
    """Return True when no row has any problem :func:`row_problems` looks for.

    The same conditions on whole columns: True only when the row-by-row check would report
    nothing (a NaN or NaT fails every comparison here, so such a row is never waved through).
    """
    if not _values_ok(days.astype(np.int64), weekday, open_, high, low, close, volume):
        return False
    names = tickers.tolist()
    if not all(_named(t) for t in set(names)):
        return False
    keys = set(zip(map(str, names), days.astype(np.int64).tolist(), strict=True))
    return len(keys) == len(days)


def _named(ticker: object) -> bool:
    """A ticker is a non-empty string (a missing one reads back as None or NaN)."""
    return isinstance(ticker, str) and bool(ticker.strip())


def rows_clean(day: I64, code: I64, open_: F64, high: F64, low: F64, close: F64,
               volume: F64) -> bool:
    """Return True when :func:`row_problems` would report nothing for these rows.

    ``day`` is each row's date as a day number (days since 1970-01-01) and ``code`` its
    ticker as an integer (one code per ticker, ``0 <= code``): a reader that has already
    turned the tickers into codes checks a batch without a string per row.
    """
    if not len(day):
        return True
    weekday = (day + 3) % 7
    if not _values_ok(day, weekday, open_, high, low, close, volume):
        return False
    if int(code.min()) < 0:
        raise ValueError(f"ticker codes must be >= 0, got {int(code.min())}")
    key = (day - _FIRST_DAY_N) * (int(code.max()) + 1) + code
    if bool(np.all(key[1:] > key[:-1])):
        return True  # in order and unique (a time-ordered file's rows mostly are)
    return len(np.unique(key)) == len(key)


_FIRST_DAY_N = int(FIRST_DAY.astype(np.int64))
_LAST_DAY_N = int(LAST_DAY.astype(np.int64))


def _values_ok(day: I64, weekday: I64, open_: F64, high: F64, low: F64, close: F64,
               volume: F64) -> bool:
    # every per-row condition of row_by_row at once (day: int day numbers; NaT is the
    # smallest int64, so it falls outside the calendars)
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(volume) & (volume >= 0)
        for px in (open_, high, low, close):
            ok &= np.isfinite(px) & (px >= MIN_PRICE)
        ok &= (high >= low) & (low <= open_) & (open_ <= high) & (low <= close) & (close <= high)
        ok &= (day >= _FIRST_DAY_N) & (day <= _LAST_DAY_N) & (weekday < 5)
    return bool(ok.all())


def bad_rows(s: OhlcvSeries, in_sess: NDArray[np.bool_]) -> dict[int, Problem]:
    """Return, per row to drop, why (``s`` sorted; duplicates excluded by the caller)."""
    out: dict[int, Problem] = {}
    o, h, lo, c, v = (s.open, s.high, s.low, s.close, s.volume)
    for i in range(len(s)):
        op, hi, low, cl, vol = (float(o[i]), float(h[i]), float(lo[i]), float(c[i]),
                                float(v[i]))
        if any(math.isnan(x) for x in (op, hi, low, cl, vol)):
            out[i] = Problem.NAN
        elif any(math.isinf(x) for x in (op, hi, low, cl, vol)):
            out[i] = Problem.NON_FINITE
        elif min(op, hi, low, cl) <= 0.0:
            out[i] = Problem.NON_POSITIVE_PRICE
        elif vol < 0.0:
            out[i] = Problem.NEGATIVE_VOLUME
        elif hi < low:
            out[i] = Problem.HIGH_BELOW_LOW
        elif not in_sess[i]:
            out[i] = Problem.NOT_A_SESSION
    return out


def duplicate_rows(dates: Dates) -> NDArray[np.bool_]:
    dup = np.zeros(len(dates), dtype=bool)
    if len(dates) > 1:
        dup[1:] = dates[1:] == dates[:-1]
    return dup


def validate_series(
    s: OhlcvSeries,
    sessions: Dates | None = None,
    *,
    jump_threshold: float = 0.40,
    catalyst_dates: Iterable[np.datetime64 | str] = (),
    splits: Iterable[tuple[str | np.datetime64, float]] = (),
    rules: SplitRules = SplitRules(),  # noqa: B008 - frozen, immutable default
) -> list[ValidationIssue]:
    """Check one ticker's bars and return every problem found, in date order.

    Parameters
    ----------
    s
        The bars.
    sessions
        The exchange's sessions (``datetime64[D]``) covering at least the series' range;
        when given, dates that are not sessions are errors and sessions between the first
        and last bar with no bar are ``missing_session`` warnings. ``None`` skips both.
    jump_threshold
        A close-to-close move larger than this fraction (0.40 = 40 %) is weighed by
        :func:`classify_jumps`.
    catalyst_dates
        Dates with a known catalyst for this ticker, which explain a large move.
    splits
        Known splits of this ticker, ``(date, ratio)`` (see :func:`classify_jumps`).
    rules
        The split-evidence thresholds.

    Returns
    -------
    list of ValidationIssue
        Errors for duplicates, NaN, non-positive prices, negative volume, high < low,
        open or close outside [low, high], non-sessions, unadjusted splits and ambiguous
        jumps (``split_like_jump``); warnings for missing sessions, unsorted input, real
        large moves (``large_move``) and listed splits the prices do not show. The jumps are
        weighed on the bars :func:`repair_series` would keep, so both agree.
    """
    out: list[ValidationIssue] = []

    def add(day: str, problem: Problem, detail: str) -> None:
        sev = DEFAULT_SEVERITY.get(problem, IssueSeverity.ERROR)
        out.append(ValidationIssue(s.ticker, day, problem, detail, sev))

    dates = s.dates.astype("datetime64[D]")
    if len(dates) > 1 and bool(np.any(dates[1:] < dates[:-1])):
        add(
            day_strings(dates[:1])[0],
            Problem.UNSORTED,
            "rows are not in date order (checked sorted)",
        )
    s = s.take(np.argsort(dates, kind="stable"))
    dates = s.dates.astype("datetime64[D]")
    days = day_strings(dates)

    dup = duplicate_rows(dates)
    for i in nonzero_rows(dup):
        add(days[i], Problem.DUPLICATE_TIMESTAMP, "more than one bar for this date")

    cols = {
        "open": s.open.tolist(),
        "high": s.high.tolist(),
        "low": s.low.tolist(),
        "close": s.close.tolist(),
        "volume": s.volume.tolist(),
    }
    for i, day in enumerate(days):
        row: dict[str, float] = {k: float(v[i]) for k, v in cols.items()}
        nan = [k for k, v in row.items() if math.isnan(v)]
        if nan:
            add(day, Problem.NAN, f"missing {', '.join(nan)}")
        inf = [f"{k}={v}" for k, v in row.items() if math.isinf(v)]
        if inf:
            add(day, Problem.NON_FINITE, ", ".join(inf))
            continue
        tiny = [f"{k}={v:g}" for k, v in row.items()
                if k != "volume" and 0.0 < v < MIN_PRICE]
        if tiny:
            add(day, Problem.IMPLAUSIBLE_PRICE, ", ".join(tiny) + f" (< {MIN_PRICE:g})")
        bad = [f"{k}={v:g}" for k, v in row.items() if k != "volume" and v <= 0.0]
        if bad:
            add(day, Problem.NON_POSITIVE_PRICE, ", ".join(bad))
        if row["volume"] < 0.0:
            add(day, Problem.NEGATIVE_VOLUME, f"volume={row['volume']:g}")
        o, h, lo, c = row["open"], row["high"], row["low"], row["close"]
        if h < lo:
            add(day, Problem.HIGH_BELOW_LOW, f"high={h:g} < low={lo:g}")
            continue
        rng = f"[low={lo:g}, high={h:g}]"
        if not (lo <= o <= h) and not (
            math.isnan(o) or math.isnan(h) or math.isnan(lo)
        ):
            add(day, Problem.OPEN_OUTSIDE_RANGE, f"open={o:g} outside {rng}")
        if not (lo <= c <= h) and not (
            math.isnan(c) or math.isnan(h) or math.isnan(lo)
        ):
            add(day, Problem.CLOSE_OUTSIDE_RANGE, f"close={c:g} outside {rng}")

    sess = None if sessions is None else np.unique(sessions.astype("datetime64[D]"))
    if sess is not None and len(dates):
        for i in nonzero_rows(~np.isin(dates, sess)):
            add(days[i], Problem.NOT_A_SESSION, "not a trading session of the exchange")
        inside = sess[(sess >= dates[0]) & (sess <= dates[-1])]
        for day in day_strings(inside[~np.isin(inside, dates)]):
            add(day, Problem.MISSING_SESSION, "no bar for this exchange session")

    in_sess = np.ones(len(dates), dtype=bool) if sess is None else np.isin(dates, sess)
    keep = ~dup
    for i in bad_rows(s, in_sess):
        keep[i] = False
    clean = s.take(np.flatnonzero(keep))
    for f in classify_jumps(
        clean,
        jump_threshold=jump_threshold,
        catalyst_dates=catalyst_dates,
        splits=splits,
        rules=rules,
    ):
        out.append(jump_issue(s.ticker, f, repaired=False))

    out.sort(key=lambda x: (x.date, x.problem.value))
    return out
