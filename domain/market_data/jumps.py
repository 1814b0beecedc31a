"""Large close-to-close moves: a stock split, a real move, or too little evidence to say."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from enum import StrEnum
from fractions import Fraction

import attrs
import numpy as np
from numpy.typing import NDArray

from domain.market_data.findings import IssueSeverity, Problem, ValidationIssue, day_set, day_strings
from domain.market_data.series import EXACT_SPLIT_RATIOS, SPLIT_RATIOS, OhlcvSeries, SplitRules

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
Dates = NDArray[np.datetime64]

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
    days = day_strings(d)
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
    explained = day_set(catalyst_dates)
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


def jump_issue(ticker: str, f: JumpFinding, *, repaired: bool) -> ValidationIssue:
    move = f"close {f.prev_close:g} -> {f.close:g} ({f.move - 1.0:+.1%})"
    r = "" if f.ratio is None else ratio_text(f.ratio)
    if f.verdict is Verdict.SPLIT and f.ratio is not None:
        if repaired:
            detail = (
                f"adjusted the {f.index} earlier bars for a {r} split "
                f"(prices x{1.0 / f.ratio:.6g}, volume x{f.ratio:.6g})"
            )
            return ValidationIssue(
                ticker, f.date, Problem.SPLIT_LIKE_JUMP, detail, IssueSeverity.WARNING, f.evidence
            )
        detail = f"{move}: an unadjusted {r} split; --repair adjusts the {f.index} earlier bars"
        return ValidationIssue(ticker, f.date, Problem.SPLIT_LIKE_JUMP, detail,
                               IssueSeverity.ERROR, f.evidence)
    if f.verdict is Verdict.MOVE:
        detail = f"{move}: a real move, not a split" + ("; not repaired" if repaired else "")
        return ValidationIssue(ticker, f.date, Problem.LARGE_MOVE, detail,
                               IssueSeverity.WARNING, f.evidence)
    if f.verdict is Verdict.LISTED_NOT_IN_PRICES:
        detail = f"listed {r} split not applied: the prices show no jump here"
        return ValidationIssue(ticker, f.date, Problem.SPLIT_NOT_IN_PRICES, detail,
                               IssueSeverity.WARNING, f.evidence)
    detail = (
        f"{'not repaired: ' if repaired else ''}{move}: ambiguous, split or real move; "
        "list it in a splits file (--splits), add an alert for that day, or build with --force"
    )
    return ValidationIssue(ticker, f.date, Problem.SPLIT_LIKE_JUMP, detail,
                           IssueSeverity.ERROR, f.evidence)
