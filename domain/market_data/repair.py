"""Fix or drop what can be fixed in one ticker's bars, and say what was done."""

from __future__ import annotations

from collections.abc import Iterable

import attrs
import numpy as np
from numpy.typing import NDArray

from domain.market_data.findings import IssueSeverity, Problem, ValidationIssue, day_strings, nonzero_rows
from domain.market_data.jumps import Verdict, classify_jumps, jump_issue
from domain.market_data.series import OhlcvSeries, SplitRules
from domain.market_data.validation import bad_rows, duplicate_rows

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
Dates = NDArray[np.datetime64]

@attrs.frozen(eq=False)
class RepairResult:
    """A repaired series and one finding per change made (or refused)."""

    series: OhlcvSeries
    actions: list[ValidationIssue]

    @property
    def unrepaired(self) -> list[ValidationIssue]:
        """Return the actions that left an error in place."""
        return [a for a in self.actions if a.severity is IssueSeverity.ERROR]

    @property
    def ambiguous(self) -> list[ValidationIssue]:
        """Return the large moves the evidence could not decide (left as they are)."""
        return [a for a in self.unrepaired if a.problem is Problem.SPLIT_LIKE_JUMP]


def repair_series(
    s: OhlcvSeries,
    sessions: Dates | None = None,
    *,
    jump_threshold: float = 0.40,
    catalyst_dates: Iterable[np.datetime64 | str] = (),
    splits: Iterable[tuple[str | np.datetime64, float]] = (),
    rules: SplitRules = SplitRules(),  # noqa: B008 - frozen, immutable default
) -> RepairResult:
    """Fix or drop what can be fixed and say what was done.

    Parameters
    ----------
    s
        The bars.
    sessions, jump_threshold, catalyst_dates, splits, rules
        As for :func:`validate_series`.

    Returns
    -------
    RepairResult
        The repaired series and one :class:`ValidationIssue` per action, whose ``detail``
        says what was done: rows are sorted; duplicate dates keep the first bar; rows with
        NaN, non-positive prices, negative volume, high < low or a non-session date are
        dropped; an open or close outside [low, high] widens the range to include it; a
        move that :func:`classify_jumps` finds to be a split by ``r`` is undone by dividing
        earlier prices by ``r`` and multiplying earlier volume by it (``evidence`` says
        why). Real moves (``large_move``, warning), ambiguous jumps (``split_like_jump``,
        error) and missing sessions (warning) are left as they are, marked "not repaired".
        ``adj_close`` is carried along unchanged (it is already adjusted).
    """
    acts: list[ValidationIssue] = []

    def act(
        day: str, problem: Problem, detail: str, sev: IssueSeverity = IssueSeverity.WARNING
    ) -> None:
        acts.append(ValidationIssue(s.ticker, day, problem, detail, sev))

    s = s.take(np.argsort(s.dates.astype("datetime64[D]"), kind="stable"))
    dates = s.dates.astype("datetime64[D]")
    days = day_strings(dates)
    h, lo = s.high.astype(np.float64, copy=True), s.low.astype(np.float64, copy=True)

    dup = duplicate_rows(dates)
    for i in nonzero_rows(dup):
        act(days[i], Problem.DUPLICATE_TIMESTAMP, "dropped: kept the first bar of this date")
    keep = ~dup
    sess = None if sessions is None else np.unique(sessions.astype("datetime64[D]"))
    in_sess = np.ones(len(dates), dtype=bool) if sess is None else np.isin(dates, sess)
    bad = bad_rows(s, in_sess)
    for i in nonzero_rows(keep):
        if i in bad:
            keep[i] = False
            act(days[i], bad[i], "dropped the bar")
            continue
        op, hi, low, cl = float(s.open[i]), float(h[i]), float(lo[i]), float(s.close[i])
        new_h, new_l = max(hi, op, cl), min(low, op, cl)
        if new_h != hi or new_l != low:
            p = (
                Problem.OPEN_OUTSIDE_RANGE
                if not (low <= op <= hi)
                else Problem.CLOSE_OUTSIDE_RANGE
            )
            act(
                days[i],
                p,
                f"widened [low, high] from [{low:g}, {hi:g}] to [{new_l:g}, {new_h:g}]",
            )
            h[i], lo[i] = new_h, new_l

    widened = OhlcvSeries(s.ticker, s.dates, s.open, h, lo, s.close, s.volume, s.adj_close)
    clean = widened.take(np.flatnonzero(keep))
    o, h, lo, c, v = (
        a.astype(np.float64, copy=True)
        for a in (clean.open, clean.high, clean.low, clean.close, clean.volume)
    )
    for f in classify_jumps(
        clean,
        jump_threshold=jump_threshold,
        catalyst_dates=catalyst_dates,
        splits=splits,
        rules=rules,
    ):
        if f.verdict is Verdict.SPLIT and f.ratio is not None:
            # A 2:1 split halves the price, so the bars before it are divided by 2.
            for arr in (o, h, lo, c):
                arr[: f.index] /= f.ratio
            v[: f.index] *= f.ratio
        acts.append(jump_issue(s.ticker, f, repaired=True))

    cdates = clean.dates.astype("datetime64[D]")
    if sess is not None and len(cdates):
        inside = sess[(sess >= cdates[0]) & (sess <= cdates[-1])]
        for day in day_strings(inside[~np.isin(inside, cdates)]):
            act(
                day,
                Problem.MISSING_SESSION,
                "not repaired: no bar for this session (gap)",
            )

    acts.sort(key=lambda x: (x.date, x.problem.value))
    fixed = OhlcvSeries(s.ticker, cdates, o, h, lo, c, v, clean.adj_close)
    return RepairResult(fixed, acts)
