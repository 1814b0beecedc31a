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

def bad_rows(s: OhlcvSeries, in_sess: NDArray[np.bool_]) -> dict[int, Problem]:
    """Return, per row to drop, why (``s`` sorted; duplicates excluded by the caller)."""
    out: dict[int, Problem] = {}
    o, h, lo, c, v = (s.open, s.high, s.low, s.close, s.volume)
    for i in range(len(s)):
        op, hi, low, cl, vol = (float(o[i]), float(h[i]), float(lo[i]), float(c[i]),
                                float(v[i]))
        if any(math.isnan(x) for x in (op, hi, low, cl, vol)):
            out[i] = Problem.NAN
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
