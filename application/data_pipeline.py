"""Data pipeline rules on plain arrays: validation, repair, splits, catalyst enrichment.

No pandas here (the adapters convert frames to :class:`OhlcvSeries`); no clock, no files.
Dates are ``numpy.datetime64[D]`` exchange dates; timestamps are ``int64`` nanoseconds
since the epoch, UTC.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from fractions import Fraction

import attrs
import numpy as np
from numpy.typing import NDArray

from domain.alerts import Alert, CatalystType

__all__ = [
    "CATALYST_FEATURES",
    "EXACT_SPLIT_RATIOS",
    "FLAG_TYPES",
    "SPLIT_RATIOS",
    "Availability",
    "CatalystFeatures",
    "JumpFinding",
    "OhlcvSeries",
    "Problem",
    "RepairResult",
    "Severity",
    "SplitIndices",
    "SplitRules",
    "ValidationIssue",
    "Verdict",
    "alert_known_ns",
    "alerts_before_start",
    "catalyst_features",
    "chronological_splits",
    "classify_jumps",
    "first_usable_bar",
    "ratio_text",
    "repair_series",
    "validate_series",
]

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
Dates = NDArray[np.datetime64]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

#: Common stock-split ratios (new shares per old share) that price and volume alone may
#: confirm; a reverse split is a ratio below 1 (0.1 = 1-for-10).
SPLIT_RATIOS = (
    2.0,
    3.0,
    4.0,
    5.0,
    7.0,
    8.0,
    10.0,
    1.5,
    20.0,
    0.5,
    1 / 3,
    0.25,
    0.2,
    0.1,
)

#: Ratios accepted when ``adj_close`` measures the factor exactly (a wider set, since the
#: measurement leaves no doubt about the size).
EXACT_SPLIT_RATIOS = tuple(
    sorted(
        {
            *SPLIT_RATIOS,
            *(float(n) for n in (6, 9, 12, 15, 25, 30, 40, 50, 100)),
            *(1.0 / n for n in (6, 7, 8, 9, 12, 15, 20, 25, 30, 40, 50, 100)),
            1.25,
            4 / 3,
            2.5,
            2 / 3,
            0.75,
            0.8,
            0.4,
        }
    )
)


@attrs.frozen
class SplitRules:
    """How much evidence a large move needs before it is called a split or a real move.

    Parameters
    ----------
    price_tolerance
        Without ``adj_close``: how far (relative) the close-to-close ratio may be from
        ``1 / ratio`` of a :data:`SPLIT_RATIOS` entry for that ratio to be considered. The
        day's own return moves the raw ratio off the split ratio (a real 4:1 split closed at
        x0.2585, 3.4 % off), so this is loose; the volume evidence decides.
    volume_window
        Bars on each side of the jump whose median volume is compared.
    min_volume_bars
        Fewer bars than this on either side: the volume evidence is missing (ambiguous).
    volume_tolerance
        A split by ``r`` multiplies the share volume by ``r`` for good: the after/before
        ratio of the median volumes must lie within ``r`` times or divided by this factor.
    volume_margin
        ...and be closer to ``r`` than to 1 (no change) and to any other candidate ratio
        by at least this factor.
    volume_spike
        The jump day's volume over the larger of the two median levels; at or above this
        the day looks like news (a crash or a squeeze), not a split.
    adj_tolerance
        With ``adj_close``: how close (relative) the implied factor
        ``(adj_close ratio) / (close ratio)`` must be to a ratio of
        :data:`EXACT_SPLIT_RATIOS`.
    dividend_allowance
        An implied factor within this of 1 is a dividend (or nothing), not a split.
    """

    price_tolerance: float = 0.10
    volume_window: int = 20
    min_volume_bars: int = 5
    volume_tolerance: float = 1.5
    volume_margin: float = 1.25
    volume_spike: float = 2.0
    adj_tolerance: float = 0.02
    dividend_allowance: float = 0.05


# --------------------------------------------------------------------------- series


@attrs.frozen(eq=False)
class OhlcvSeries:
    """Daily OHLCV bars of one ticker as arrays (the adapters build it from a frame).

    Parameters
    ----------
    ticker
        Symbol.
    dates
        Exchange dates (``datetime64[D]``), in file order.
    open, high, low, close, volume
        ``float64`` arrays of the same length as ``dates``.
    adj_close
        Optional split- and dividend-adjusted closes (the vendor's ``adj_close``): evidence
        for split repair, never used as a price. ``NaN`` where unknown.
    """

    ticker: str
    dates: Dates
    open: F64
    high: F64
    low: F64
    close: F64
    volume: F64
    adj_close: F64 | None = None

    def __attrs_post_init__(self) -> None:
        n = len(self.dates)
        for name in ("open", "high", "low", "close", "volume"):
            if len(getattr(self, name)) != n:
                raise ValueError(
                    f"{self.ticker}: {name} has a different length than dates"
                )
        if self.adj_close is not None and len(self.adj_close) != n:
            raise ValueError(f"{self.ticker}: adj_close has a different length than dates")

    def __len__(self) -> int:
        return len(self.dates)

    def take(self, index: NDArray[np.intp] | NDArray[np.bool_]) -> OhlcvSeries:
        """Return the rows selected by an integer or boolean index."""
        return OhlcvSeries(
            self.ticker,
            self.dates[index],
            self.open[index],
            self.high[index],
            self.low[index],
            self.close[index],
            self.volume[index],
            None if self.adj_close is None else self.adj_close[index],
        )


# ----------------------------------------------------------------------- validation


class Severity(StrEnum):
    """How bad a finding is: errors fail validation, warnings are reported only."""

    ERROR = "error"
    WARNING = "warning"


class Problem(StrEnum):
    """What a validation finding is about."""

    DUPLICATE_TIMESTAMP = "duplicate_timestamp"
    UNSORTED = "unsorted"
    NAN = "nan"
    NON_POSITIVE_PRICE = "non_positive_price"
    NEGATIVE_VOLUME = "negative_volume"
    HIGH_BELOW_LOW = "high_below_low"
    OPEN_OUTSIDE_RANGE = "open_outside_range"
    CLOSE_OUTSIDE_RANGE = "close_outside_range"
    NOT_A_SESSION = "not_a_session"
    MISSING_SESSION = "missing_session"
    SPLIT_LIKE_JUMP = "split_like_jump"
    LARGE_MOVE = "large_move"
    SPLIT_NOT_IN_PRICES = "split_not_in_prices"


_SEVERITY = {
    Problem.MISSING_SESSION: Severity.WARNING,
    Problem.UNSORTED: Severity.WARNING,
    Problem.LARGE_MOVE: Severity.WARNING,
    Problem.SPLIT_NOT_IN_PRICES: Severity.WARNING,
}


@attrs.frozen
class ValidationIssue:
    """One finding: which ticker, which date, what problem, and the values involved.

    ``evidence`` says, for a large move, what the split decision rests on (splits file,
    ``adj_close``, volume), so that an ambiguous case can be settled by hand.
    """

    ticker: str
    date: str
    problem: Problem
    detail: str
    severity: Severity = Severity.ERROR
    evidence: str = ""


def _days(dates: Dates) -> list[str]:
    return [
        str(x) for x in np.datetime_as_string(dates.astype("datetime64[D]"), unit="D")
    ]


def _day_set(dates: Iterable[np.datetime64 | str]) -> set[str]:
    return {str(d)[:10] for d in dates}


def _nonzero(mask: NDArray[np.bool_]) -> list[int]:
    return [int(i) for i in np.flatnonzero(mask)]


# ------------------------------------------------------------- large moves and splits


class Verdict(StrEnum):
    """What the evidence says about one large move (or one listed split)."""

    SPLIT = "split"  # an unadjusted split: the earlier bars need adjusting
    MOVE = "move"  # a real price move: leave it
    AMBIGUOUS = "ambiguous"  # the evidence does not decide: report, do not guess
    LISTED_NOT_IN_PRICES = "listed_not_in_prices"  # splits file entry, prices already adjusted


@attrs.frozen
class JumpFinding:
    """The verdict on one bar's close-to-close move.

    ``index`` is the bar (in the cleaned, date-sorted series) whose move it is; ``ratio``
    the split ratio (new shares per old share) for ``SPLIT`` and ``LISTED_NOT_IN_PRICES``.
    """

    index: int
    date: str
    prev_close: float
    close: float
    verdict: Verdict
    ratio: float | None
    evidence: str

    @property
    def move(self) -> float:
        """Return the close-to-close ratio."""
        return self.close / self.prev_close


def ratio_text(r: float) -> str:
    """Return a split ratio as ``7:1``, ``3:2`` or ``1:10`` (reverse split)."""
    f = Fraction(r).limit_denominator(200)
    return f"{f.numerator}:{f.denominator}"


def _nearest(value: float, ratios: Sequence[float], tolerance: float) -> float | None:
    best = min(ratios, key=lambda r: abs(math.log(value / r)))
    return best if abs(math.log(value / best)) <= math.log1p(tolerance) else None


def _finding(
    c: F64, i: int, days: list[str], verdict: Verdict, ratio: float | None, why: str
) -> JumpFinding:
    return JumpFinding(i, days[i], float(c[i - 1]), float(c[i]), verdict, ratio, why)


def _by_volume(
    c: F64,
    v: F64,
    i: int,
    days: list[str],
    rules: SplitRules,
) -> JumpFinding:
    m = float(c[i]) / float(c[i - 1])
    w = rules.volume_window
    before, after = v[max(0, i - w) : i], v[i + 1 : i + 1 + w]
    if min(len(before), len(after)) < rules.min_volume_bars:
        why = (
            f"too few bars to compare volume ({len(before)} before, {len(after)} after, "
            f"{rules.min_volume_bars} needed on each side)"
        )
        return _finding(c, i, days, Verdict.AMBIGUOUS, None, why)
    mb, ma = float(np.median(before)), float(np.median(after))
    if not (mb > 0.0 and ma > 0.0 and math.isfinite(mb) and math.isfinite(ma)):
        return _finding(c, i, days, Verdict.AMBIGUOUS, None, "no volume to compare")
    shift = ma / mb
    spike = float(v[i]) / max(mb, ma)
    cands = [
        r for r in SPLIT_RATIOS if abs(math.log(m * r)) <= math.log1p(rules.price_tolerance)
    ]
    cands.sort(key=lambda r: abs(math.log(shift / r)))
    vol = (
        f"median volume x{shift:.2f} after the jump ({len(after)} bars) against "
        f"{len(before)} bars before; the day's volume x{spike:.1f} of the higher level"
    )
    split_ok = False
    r = cands[0] if cands else None
    if r is not None:
        a = abs(math.log(shift / r))
        others = [abs(math.log(shift / x)) for x in cands[1:]] + [abs(math.log(shift))]
        split_ok = a <= math.log(rules.volume_tolerance) and all(
            o - a >= math.log(rules.volume_margin) for o in others
        )
    spiked = spike >= rules.volume_spike
    if r is not None and split_ok and not spiked:
        why = (
            f"close x{m:.4f} is {abs(m * r - 1):.1%} from a {ratio_text(r)} split and the "
            f"{vol}: a lasting shift like the split's"
        )
        return _finding(c, i, days, Verdict.SPLIT, r, why)
    if spiked and not split_ok:
        why = f"{vol}: a volume spike without a lasting shift by a split ratio"
        return _finding(c, i, days, Verdict.MOVE, None, why)
    if r is None:
        why = f"close x{m:.4f} matches no common split ratio and the {vol}, no spike"
    elif spiked:
        why = (
            f"the {vol}: the level shifted like a {ratio_text(r)} split, "
            "but the day's volume spiked like news"
        )
    else:
        why = (
            f"close x{m:.4f} is near a {ratio_text(r)} split, but the {vol}: "
            f"neither a lasting x{r:g} shift nor a spike"
        )
    return _finding(c, i, days, Verdict.AMBIGUOUS, r, why)


def classify_jumps(
    s: OhlcvSeries,
    *,
    jump_threshold: float = 0.40,
    catalyst_dates: Iterable[np.datetime64 | str] = (),
    splits: Iterable[tuple[str | np.datetime64, float]] = (),
    rules: SplitRules = SplitRules(),  # noqa: B008 - frozen, immutable default
) -> list[JumpFinding]:
    """Decide, from evidence, which large moves of one ticker are unadjusted splits.

    Parameters
    ----------
    s
        Clean bars: sorted, one per date, positive prices, non-negative volume (what
        :func:`repair_series` keeps).
    jump_threshold
        A close-to-close move larger than this fraction is examined.
    catalyst_dates
        Dates with a known catalyst: a large move on that date or the day after needs no
        explanation when neither a splits file nor ``adj_close`` says otherwise.
    splits
        Known splits of this ticker: ``(date, ratio)``, ``ratio`` new shares per old share
        (4 for 4:1, 0.1 for 1-for-10). The first bar on or after ``date`` is the first at
        the new price.
    rules
        The evidence thresholds.

    Returns
    -------
    list of JumpFinding
        In date order. Evidence is weighed in this order, the first that applies decides:

        1. A listed split: applied when the move matches it (after adjusting, the move is
           no larger than ``jump_threshold``); ``LISTED_NOT_IN_PRICES`` when the close did
           not jump at all (the data is already adjusted); otherwise ambiguous.
        2. ``adj_close`` on both bars: the implied factor ``adj ratio / close ratio`` is 1
           (within the dividend allowance) for a real move, a split ratio for a split
           (found even below ``jump_threshold``, e.g. 3:2), anything else is ambiguous.
        3. A catalyst on the day or the day before: a real move, no finding.
        4. Volume: a split by ``r`` multiplies the volume level by ``r`` for good; a crash
           or squeeze spikes the day's volume without a lasting shift by ``r``. A split
           needs the lasting shift and no spike, a real move needs the spike and no such
           shift; anything else (both, neither, too few bars) is ambiguous.

        The volume of bars before a confirmed split is scaled before later jumps are
        weighed, so a later window compares like with like.
    """
    n = len(s)
    if n < 2:
        return []
    d = s.dates.astype("datetime64[D]")
    days = _days(d)
    c = s.close.astype(np.float64)
    v = s.volume.astype(np.float64, copy=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        m = c[1:] / c[:-1]
        implied = (
            None if s.adj_close is None else (s.adj_close[1:] / s.adj_close[:-1]) / m
        )
    listed: dict[int, float] = {}
    for day, ratio in splits:
        k = int(np.searchsorted(d, np.datetime64(str(day)[:10], "D"), "left"))
        if 0 < k < n:
            listed[k] = float(ratio)
    big = np.abs(m - 1.0) > jump_threshold
    cand = {int(i) + 1 for i in np.flatnonzero(big)} | set(listed)
    usable = np.zeros(n - 1, dtype=bool)
    if implied is not None:
        usable = np.isfinite(implied) & (implied > 0.0)
        odd = np.abs(np.log(np.where(usable, implied, 1.0))) > math.log1p(
            rules.dividend_allowance
        )
        cand |= {int(i) + 1 for i in np.flatnonzero(usable & odd)}
    explained = _day_set(catalyst_dates)
    out: list[JumpFinding] = []
    thr = math.log1p(jump_threshold)
    for i in sorted(cand):
        mi = float(m[i - 1])
        f: JumpFinding | None
        if i in listed:
            r = listed[i]
            if abs(math.log(mi * r)) <= thr:
                f = _finding(c, i, days, Verdict.SPLIT, r, f"splits file: {ratio_text(r)}")
            elif abs(math.log(mi)) <= thr:
                why = (
                    f"the splits file lists a {ratio_text(r)} split, but the close moved "
                    f"only x{mi:.4f}: the prices are already adjusted"
                )
                f = _finding(c, i, days, Verdict.LISTED_NOT_IN_PRICES, r, why)
            else:
                why = (
                    f"the splits file lists a {ratio_text(r)} split, but the close moved "
                    f"x{mi:.4f} (x{mi * r:.4f} after adjusting)"
                )
                f = _finding(c, i, days, Verdict.AMBIGUOUS, r, why)
        elif implied is not None and usable[i - 1]:
            factor = float(implied[i - 1])
            adj_m = factor * mi
            if abs(math.log(factor)) <= math.log1p(rules.dividend_allowance):
                why = f"adj_close moved alike (x{adj_m:.4f} against close x{mi:.4f})"
                f = _finding(c, i, days, Verdict.MOVE, None, why) if big[i - 1] else None
            else:
                r_adj = _nearest(factor, EXACT_SPLIT_RATIOS, rules.adj_tolerance)
                if r_adj is not None:
                    why = (
                        f"adj_close moved x{adj_m:.4f} while close moved x{mi:.4f}: "
                        f"a factor of {factor:.4f}, a {ratio_text(r_adj)} split"
                    )
                    f = _finding(c, i, days, Verdict.SPLIT, r_adj, why)
                elif big[i - 1] or abs(math.log(factor)) > math.log(1.2):
                    why = (
                        f"adj_close moved x{adj_m:.4f} while close moved x{mi:.4f}: "
                        f"a factor of {factor:.4f}, which is no split ratio"
                    )
                    f = _finding(c, i, days, Verdict.AMBIGUOUS, None, why)
                else:
                    f = None
        elif days[i] in explained or days[i - 1] in explained:
            f = None
        else:
            f = _by_volume(c, v, i, days, rules)
        if f is None:
            continue
        if f.verdict is Verdict.SPLIT and f.ratio is not None:
            v[:i] *= f.ratio
        out.append(f)
    return out


def _jump_issue(ticker: str, f: JumpFinding, *, repaired: bool) -> ValidationIssue:
    move = f"close {f.prev_close:g} -> {f.close:g} ({f.move - 1.0:+.1%})"
    r = "" if f.ratio is None else ratio_text(f.ratio)
    if f.verdict is Verdict.SPLIT and f.ratio is not None:
        if repaired:
            detail = (
                f"adjusted the {f.index} earlier bars for a {r} split "
                f"(prices x{1.0 / f.ratio:.6g}, volume x{f.ratio:.6g})"
            )
            return ValidationIssue(
                ticker, f.date, Problem.SPLIT_LIKE_JUMP, detail, Severity.WARNING, f.evidence
            )
        detail = f"{move}: an unadjusted {r} split; --repair adjusts the {f.index} earlier bars"
        return ValidationIssue(ticker, f.date, Problem.SPLIT_LIKE_JUMP, detail,
                               Severity.ERROR, f.evidence)
    if f.verdict is Verdict.MOVE:
        detail = f"{move}: a real move, not a split" + ("; not repaired" if repaired else "")
        return ValidationIssue(ticker, f.date, Problem.LARGE_MOVE, detail,
                               Severity.WARNING, f.evidence)
    if f.verdict is Verdict.LISTED_NOT_IN_PRICES:
        detail = f"listed {r} split not applied: the prices show no jump here"
        return ValidationIssue(ticker, f.date, Problem.SPLIT_NOT_IN_PRICES, detail,
                               Severity.WARNING, f.evidence)
    detail = (
        f"{'not repaired: ' if repaired else ''}{move}: ambiguous, split or real move; "
        "list it in a splits file (--splits), add an alert for that day, or build with --force"
    )
    return ValidationIssue(ticker, f.date, Problem.SPLIT_LIKE_JUMP, detail,
                           Severity.ERROR, f.evidence)


def _bad_rows(s: OhlcvSeries, in_sess: NDArray[np.bool_]) -> dict[int, Problem]:
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


def _duplicates(dates: Dates) -> NDArray[np.bool_]:
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
        sev = _SEVERITY.get(problem, Severity.ERROR)
        out.append(ValidationIssue(s.ticker, day, problem, detail, sev))

    dates = s.dates.astype("datetime64[D]")
    if len(dates) > 1 and bool(np.any(dates[1:] < dates[:-1])):
        add(
            _days(dates[:1])[0],
            Problem.UNSORTED,
            "rows are not in date order (checked sorted)",
        )
    s = s.take(np.argsort(dates, kind="stable"))
    dates = s.dates.astype("datetime64[D]")
    days = _days(dates)

    dup = _duplicates(dates)
    for i in _nonzero(dup):
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
        for i in _nonzero(~np.isin(dates, sess)):
            add(days[i], Problem.NOT_A_SESSION, "not a trading session of the exchange")
        inside = sess[(sess >= dates[0]) & (sess <= dates[-1])]
        for day in _days(inside[~np.isin(inside, dates)]):
            add(day, Problem.MISSING_SESSION, "no bar for this exchange session")

    in_sess = np.ones(len(dates), dtype=bool) if sess is None else np.isin(dates, sess)
    keep = ~dup
    for i in _bad_rows(s, in_sess):
        keep[i] = False
    clean = s.take(np.flatnonzero(keep))
    for f in classify_jumps(
        clean,
        jump_threshold=jump_threshold,
        catalyst_dates=catalyst_dates,
        splits=splits,
        rules=rules,
    ):
        out.append(_jump_issue(s.ticker, f, repaired=False))

    out.sort(key=lambda x: (x.date, x.problem.value))
    return out


@attrs.frozen(eq=False)
class RepairResult:
    """A repaired series and one finding per change made (or refused)."""

    series: OhlcvSeries
    actions: list[ValidationIssue]

    @property
    def unrepaired(self) -> list[ValidationIssue]:
        """Return the actions that left an error in place."""
        return [a for a in self.actions if a.severity is Severity.ERROR]

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
        day: str, problem: Problem, detail: str, sev: Severity = Severity.WARNING
    ) -> None:
        acts.append(ValidationIssue(s.ticker, day, problem, detail, sev))

    s = s.take(np.argsort(s.dates.astype("datetime64[D]"), kind="stable"))
    dates = s.dates.astype("datetime64[D]")
    days = _days(dates)
    h, lo = s.high.astype(np.float64, copy=True), s.low.astype(np.float64, copy=True)

    dup = _duplicates(dates)
    for i in _nonzero(dup):
        act(days[i], Problem.DUPLICATE_TIMESTAMP, "dropped: kept the first bar of this date")
    keep = ~dup
    sess = None if sessions is None else np.unique(sessions.astype("datetime64[D]"))
    in_sess = np.ones(len(dates), dtype=bool) if sess is None else np.isin(dates, sess)
    bad = _bad_rows(s, in_sess)
    for i in _nonzero(keep):
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
        acts.append(_jump_issue(s.ticker, f, repaired=True))

    cdates = clean.dates.astype("datetime64[D]")
    if sess is not None and len(cdates):
        inside = sess[(sess >= cdates[0]) & (sess <= cdates[-1])]
        for day in _days(inside[~np.isin(inside, cdates)]):
            act(
                day,
                Problem.MISSING_SESSION,
                "not repaired: no bar for this session (gap)",
            )

    acts.sort(key=lambda x: (x.date, x.problem.value))
    fixed = OhlcvSeries(s.ticker, cdates, o, h, lo, c, v, clean.adj_close)
    return RepairResult(fixed, acts)


# --------------------------------------------------------------------------- splits


@attrs.frozen
class SplitIndices:
    """Half-open ``[start, stop)`` bar ranges of one ticker's train/validation/test sets."""

    train: tuple[int, int]
    validation: tuple[int, int]
    test: tuple[int, int]
    embargo: int

    def labels(self, n: int) -> list[str]:
        """Return a label per bar: ``train``, ``validation``, ``test`` or ``embargo``."""
        out = ["embargo"] * n
        for name in ("train", "validation", "test"):
            a, b = getattr(self, name)
            out[a:b] = [name] * (b - a)
        return out


def chronological_splits(
    n: int,
    train: float = 0.70,
    validation: float = 0.15,
    test: float = 0.15,
    embargo: int = 5,
) -> SplitIndices:
    """Split ``n`` bars in time order with ``embargo`` unused bars between the sets.

    Parameters
    ----------
    n
        Number of bars.
    train, validation, test
        Fractions of the bars left after removing the two embargo gaps; they must be
        non-negative and sum to 1.
    embargo
        Bars dropped between train and validation and between validation and test, so
        that trailing-window features and multi-bar rewards of one set do not overlap
        the next (5 by default).

    Returns
    -------
    SplitIndices
        ``train = [0, a)``, ``validation = [a + embargo, b)``, ``test = [b + embargo, n)``.

    Raises
    ------
    ValueError
        If the fractions are invalid or ``n`` is too small for the embargo.
    """
    fr = (train, validation, test)
    if any(f < 0 or math.isnan(f) for f in fr) or abs(sum(fr) - 1.0) > 1e-9:
        raise ValueError(f"split fractions must be >= 0 and sum to 1, got {fr}")
    if embargo < 0:
        raise ValueError(f"embargo must be >= 0, got {embargo}")
    usable = n - 2 * embargo
    if usable < 3:
        raise ValueError(
            f"{n} bars are too few for three splits with an embargo of {embargo}"
        )
    n_train = round(usable * train)
    n_val = round(usable * validation)
    n_val = min(n_val, usable - n_train)
    a = n_train
    b = a + embargo + n_val
    return SplitIndices((0, a), (a + embargo, b), (b + embargo, n), embargo)


# ---------------------------------------------------------------- catalyst features


class Availability(StrEnum):
    """When an alert may first be used by the features of a bar.

    ``OPEN`` (default, conservative): at the first bar whose session *opens* at or after
    ``known_at`` — news known before the open (or at it) is usable at that bar's close;
    news that arrives during a session waits for the next bar.
    ``CLOSE``: at the first bar whose close is strictly after ``known_at`` (intraday news
    is used at that day's close).
    """

    OPEN = "open"
    CLOSE = "close"


FLAG_TYPES = (
    CatalystType.EARNINGS,
    CatalystType.MERGER,
    CatalystType.FDA,
    CatalystType.OFFERING,
    CatalystType.INSIDER,
)

#: Column names produced by :func:`catalyst_features`, in order.
CATALYST_FEATURES = (
    "catalyst_score",
    "sentiment",
    "is_earnings",
    "is_merger",
    "is_fda",
    "is_offering",
    "is_insider",
    "news_velocity",
    "days_since_catalyst",
)


@attrs.frozen(eq=False)
class CatalystFeatures:
    """Per-bar catalyst features of one ticker (arrays of the bar count).

    ``dropped_before_start`` counts the alerts left out because they belong to a session
    before the ticker's first bar.
    """

    catalyst_score: F64
    sentiment: F64
    is_earnings: F64
    is_merger: F64
    is_fda: F64
    is_offering: F64
    is_insider: F64
    news_velocity: F64
    days_since_catalyst: F64
    dropped_before_start: int = 0

    def as_dict(self) -> dict[str, F64]:
        """Return the columns by name, in :data:`CATALYST_FEATURES` order."""
        return {k: getattr(self, k) for k in CATALYST_FEATURES}


def first_usable_bar(
    known_at_ns: I64 | Sequence[int],
    bar_open_ns: I64,
    bar_close_ns: I64,
    availability: Availability = Availability.OPEN,
) -> I64:
    """Return, per alert, the index of the first bar whose features may use it.

    Parameters
    ----------
    known_at_ns
        When each alert became known, ns since the epoch (UTC).
    bar_open_ns, bar_close_ns
        Each bar's session open and close, ns since the epoch (UTC), increasing.
    availability
        The rule, see :class:`Availability`.

    Returns
    -------
    numpy.ndarray
        Indices; ``len(bars)`` for alerts that become usable after the last bar.
    """
    k = np.asarray(known_at_ns, dtype=np.int64)
    if Availability(availability) is Availability.OPEN:
        return np.searchsorted(bar_open_ns, k, side="left").astype(np.int64)
    return np.searchsorted(bar_close_ns, k, side="right").astype(np.int64)


def alerts_before_start(
    known_at_ns: I64 | Sequence[int],
    session_before: tuple[int, int],
    availability: Availability = Availability.OPEN,
) -> NDArray[np.bool_]:
    """Return, per alert, whether it belongs to a session before the first bar.

    Parameters
    ----------
    known_at_ns
        When each alert became known, ns since the epoch (UTC).
    session_before
        Open and close (ns, UTC) of the exchange session just before the first bar.
    availability
        The rule, see :class:`Availability`: under ``OPEN`` an alert known at or before
        that session's open would be usable there, under ``CLOSE`` one known before its
        close; either way it is older news than the first bar can carry.
    """
    k = np.asarray(known_at_ns, dtype=np.int64)
    prev_open, prev_close = session_before
    if Availability(availability) is Availability.OPEN:
        return k <= prev_open
    return k < prev_close


def catalyst_features(
    alerts: Sequence[Alert],
    bar_open_ns: I64,
    bar_close_ns: I64,
    *,
    availability: Availability = Availability.OPEN,
    velocity_window: int = 5,
    active_bars: int = 1,
    session_before: tuple[int, int] | None = None,
) -> CatalystFeatures:
    """Turn one ticker's alert history into per-bar features without look-ahead.

    Parameters
    ----------
    alerts
        The ticker's alerts (any order; other tickers' alerts must be filtered out).
    bar_open_ns, bar_close_ns
        Session open and close of each bar, ns since the epoch (UTC), increasing.
    availability
        When an alert becomes usable, see :class:`Availability`.
    velocity_window
        Bars in the trailing news-velocity count (5 sessions).
    active_bars
        How many bars, starting at its first usable bar, an alert counts as "current" for
        the score, sentiment and type flags (1 = only that bar).
    session_before
        Open and close (ns, UTC) of the session before the first bar. When given, alerts
        that belong to that session or an earlier one (:func:`alerts_before_start`) are
        dropped and counted instead of being piled onto the first bar; without it every
        earlier alert counts at bar 0.

    Returns
    -------
    CatalystFeatures
        Per bar ``t``, over the alerts current at ``t``: ``catalyst_score`` the highest
        score (0 if none); ``sentiment`` the mean sentiment (0 if none); ``is_<type>`` 1.0 if
        any current alert has that type; ``news_velocity`` the number of alerts that became
        usable in bars ``t - velocity_window + 1 .. t``; ``days_since_catalyst`` the bars
        since the most recent alert became usable (0 on that bar, NaN before any).
    """
    n = len(bar_open_ns)
    if velocity_window < 1 or active_bars < 1:
        raise ValueError("velocity_window and active_bars must be >= 1")
    score = np.zeros(n)
    sent_sum = np.zeros(n)
    count = np.zeros(n)
    flags = {ct: np.zeros(n) for ct in FLAG_TYPES}
    dropped = 0
    if session_before is not None and len(alerts):
        early = alerts_before_start(alert_known_ns(alerts), session_before, availability)
        dropped = int(early.sum())
        alerts = [a for a, e in zip(alerts, early.tolist(), strict=True) if not e]
    first = first_usable_bar(
        alert_known_ns(alerts), bar_open_ns, bar_close_ns, availability
    )
    for a, f in zip(alerts, first.tolist(), strict=True):
        if f >= n:
            continue
        stop = min(n, f + active_bars)
        np.maximum(score[f:stop], a.score, out=score[f:stop])
        sent_sum[f:stop] += a.sentiment
        count[f:stop] += 1.0
        if a.catalyst_type in flags:
            flags[a.catalyst_type][f:stop] = 1.0
    with np.errstate(invalid="ignore", divide="ignore"):
        sentiment = np.where(count > 0, sent_sum / np.maximum(count, 1.0), 0.0)
    new = np.bincount(first[first < n], minlength=n).astype(np.float64)
    cum = np.cumsum(new)
    velocity = cum.copy()
    if n > velocity_window:
        velocity[velocity_window:] = cum[velocity_window:] - cum[:-velocity_window]
    idx = np.arange(n, dtype=np.float64)
    last = np.where(new > 0, idx, np.nan)
    last = np.fmax.accumulate(last) if n else last
    days = idx - last
    return CatalystFeatures(
        score,
        sentiment,
        flags[CatalystType.EARNINGS],
        flags[CatalystType.MERGER],
        flags[CatalystType.FDA],
        flags[CatalystType.OFFERING],
        flags[CatalystType.INSIDER],
        velocity,
        days,
        dropped,
    )


def _ns(a: Alert) -> int:
    delta = a.known_at - _EPOCH
    return (
        delta.days * 86_400 + delta.seconds
    ) * 1_000_000_000 + delta.microseconds * 1000


def alert_known_ns(alerts: Sequence[Alert]) -> I64:
    """Return each alert's ``known_at`` as int64 ns since the epoch (UTC), exactly."""
    return np.asarray([_ns(a) for a in alerts], dtype=np.int64)
