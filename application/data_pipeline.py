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

import attrs
import numpy as np
from numpy.typing import NDArray

from domain.alerts import Alert, CatalystType

__all__ = [
    "CATALYST_FEATURES",
    "FLAG_TYPES",
    "Availability",
    "CatalystFeatures",
    "OhlcvSeries",
    "Problem",
    "RepairResult",
    "Severity",
    "SplitIndices",
    "ValidationIssue",
    "alert_known_ns",
    "catalyst_features",
    "chronological_splits",
    "first_usable_bar",
    "repair_series",
    "validate_series",
]

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
Dates = NDArray[np.datetime64]

#: Common stock-split ratios (new shares per old share) that ``repair_series`` undoes.
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
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
    """

    ticker: str
    dates: Dates
    open: F64
    high: F64
    low: F64
    close: F64
    volume: F64

    def __attrs_post_init__(self) -> None:
        n = len(self.dates)
        for name in ("open", "high", "low", "close", "volume"):
            if len(getattr(self, name)) != n:
                raise ValueError(
                    f"{self.ticker}: {name} has a different length than dates"
                )

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


_SEVERITY = {
    Problem.MISSING_SESSION: Severity.WARNING,
    Problem.UNSORTED: Severity.WARNING,
}


@attrs.frozen
class ValidationIssue:
    """One finding: which ticker, which date, what problem, and the values involved."""

    ticker: str
    date: str
    problem: Problem
    detail: str
    severity: Severity = Severity.ERROR


def _days(dates: Dates) -> list[str]:
    return [
        str(x) for x in np.datetime_as_string(dates.astype("datetime64[D]"), unit="D")
    ]


def _day_set(dates: Iterable[np.datetime64 | str]) -> set[str]:
    return {str(d)[:10] for d in dates}


def _nonzero(mask: NDArray[np.bool_]) -> list[int]:
    return [int(i) for i in np.flatnonzero(mask)]


def validate_series(
    s: OhlcvSeries,
    sessions: Dates | None = None,
    *,
    jump_threshold: float = 0.40,
    catalyst_dates: Iterable[np.datetime64 | str] = (),
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
        A close-to-close move larger than this fraction (0.40 = 40 %) with no catalyst on
        that date or the one before is a ``split_like_jump`` error.
    catalyst_dates
        Dates with a known catalyst for this ticker, which explain a large move.

    Returns
    -------
    list of ValidationIssue
        Errors for duplicates, NaN, non-positive prices, negative volume, high < low,
        open or close outside [low, high], non-sessions and split-like jumps; warnings for
        missing sessions and unsorted input.
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

    dup = np.zeros(len(dates), dtype=bool)
    if len(dates) > 1:
        dup[1:] = dates[1:] == dates[:-1]
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

    if sessions is not None and len(dates):
        sess = np.unique(sessions.astype("datetime64[D]"))
        for i in _nonzero(~np.isin(dates, sess)):
            add(days[i], Problem.NOT_A_SESSION, "not a trading session of the exchange")
        inside = sess[(sess >= dates[0]) & (sess <= dates[-1])]
        for day in _days(inside[~np.isin(inside, dates)]):
            add(day, Problem.MISSING_SESSION, "no bar for this exchange session")

    explained = _day_set(catalyst_dates)
    closes = cols["close"]
    for i in range(1, len(days)):
        prev, cur = closes[i - 1], closes[i]
        if not (prev > 0.0 and cur > 0.0) or dup[i]:
            continue
        move = cur / prev - 1.0
        if abs(move) > jump_threshold and not (
            days[i] in explained or days[i - 1] in explained
        ):
            add(
                days[i],
                Problem.SPLIT_LIKE_JUMP,
                f"close {prev:g} -> {cur:g} ({move:+.1%}) with no catalyst",
            )

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


def _split_ratio(move_ratio: float, tolerance: float) -> float | None:
    for r in SPLIT_RATIOS:
        if abs(move_ratio * r - 1.0) <= tolerance:
            return r
    return None


def repair_series(
    s: OhlcvSeries,
    sessions: Dates | None = None,
    *,
    jump_threshold: float = 0.40,
    catalyst_dates: Iterable[np.datetime64 | str] = (),
    split_tolerance: float = 0.03,
) -> RepairResult:
    """Fix or drop what can be fixed and say what was done.

    Parameters
    ----------
    s
        The bars.
    sessions, jump_threshold, catalyst_dates
        As for :func:`validate_series`.
    split_tolerance
        How close (relative) a jump must be to a common split ratio to be undone.

    Returns
    -------
    RepairResult
        The repaired series and one :class:`ValidationIssue` per action, whose ``detail``
        says what was done: rows are sorted; duplicate dates keep the first bar; rows with
        NaN, non-positive prices, negative volume, high < low or a non-session date are
        dropped; an open or close outside [low, high] widens the range to include it; a
        split-like jump within ``split_tolerance`` of a common split ratio (2:1, 3:1, 3:2,
        1:2, ...) is undone by dividing earlier prices by the ratio and multiplying earlier
        volume by it. Missing sessions (warning) and other jumps (error) are left as they
        are, marked "not repaired".
    """
    acts: list[ValidationIssue] = []

    def act(
        day: str, problem: Problem, detail: str, sev: Severity = Severity.WARNING
    ) -> None:
        acts.append(ValidationIssue(s.ticker, day, problem, detail, sev))

    s = s.take(np.argsort(s.dates.astype("datetime64[D]"), kind="stable"))
    dates = s.dates.astype("datetime64[D]")
    days = _days(dates)
    o, h, lo, c, v = (
        a.astype(np.float64, copy=True)
        for a in (s.open, s.high, s.low, s.close, s.volume)
    )

    keep = np.ones(len(dates), dtype=bool)
    if len(dates) > 1:
        dup = np.zeros(len(dates), dtype=bool)
        dup[1:] = dates[1:] == dates[:-1]
        for i in _nonzero(dup):
            act(
                days[i],
                Problem.DUPLICATE_TIMESTAMP,
                "dropped: kept the first bar of this date",
            )
        keep &= ~dup
    sess = None if sessions is None else np.unique(sessions.astype("datetime64[D]"))
    in_sess = np.ones(len(dates), dtype=bool) if sess is None else np.isin(dates, sess)
    for i in _nonzero(keep):
        op, hi, low, cl, vol = (
            float(o[i]),
            float(h[i]),
            float(lo[i]),
            float(c[i]),
            float(v[i]),
        )
        reason: Problem | None = None
        if any(math.isnan(x) for x in (op, hi, low, cl, vol)):
            reason = Problem.NAN
        elif min(op, hi, low, cl) <= 0.0:
            reason = Problem.NON_POSITIVE_PRICE
        elif vol < 0.0:
            reason = Problem.NEGATIVE_VOLUME
        elif hi < low:
            reason = Problem.HIGH_BELOW_LOW
        elif not in_sess[i]:
            reason = Problem.NOT_A_SESSION
        if reason is not None:
            keep[i] = False
            act(days[i], reason, "dropped the bar")
            continue
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

    idx = np.flatnonzero(keep)
    dates, o, h, lo, c, v = dates[idx], o[idx], h[idx], lo[idx], c[idx], v[idx]
    days = _days(dates)

    explained = _day_set(catalyst_dates)
    for i in range(1, len(days)):
        ratio = float(c[i]) / float(c[i - 1])
        if (
            abs(ratio - 1.0) <= jump_threshold
            or days[i] in explained
            or days[i - 1] in explained
        ):
            continue
        r = _split_ratio(ratio, split_tolerance)
        if r is None:
            msg = f"not repaired: move x{ratio:.4f} matches no split ratio"
            act(days[i], Problem.SPLIT_LIKE_JUMP, msg, Severity.ERROR)
            continue
        # A 2:1 split halves the price, so the bars before it are divided by 2.
        factor = 1.0 / r
        for arr in (o, h, lo, c):
            arr[:i] *= factor
        v[:i] /= factor
        act(
            days[i],
            Problem.SPLIT_LIKE_JUMP,
            f"adjusted the {i} earlier bars for a {r:g}:1 split "
            f"(prices x{factor:.6g}, volume /{factor:.6g})",
        )

    if sess is not None and len(dates):
        inside = sess[(sess >= dates[0]) & (sess <= dates[-1])]
        for day in _days(inside[~np.isin(inside, dates)]):
            act(
                day,
                Problem.MISSING_SESSION,
                "not repaired: no bar for this session (gap)",
            )

    acts.sort(key=lambda x: (x.date, x.problem.value))
    return RepairResult(OhlcvSeries(s.ticker, dates, o, h, lo, c, v), acts)


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
    """Per-bar catalyst features of one ticker (arrays of the bar count)."""

    catalyst_score: F64
    sentiment: F64
    is_earnings: F64
    is_merger: F64
    is_fda: F64
    is_offering: F64
    is_insider: F64
    news_velocity: F64
    days_since_catalyst: F64

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


def catalyst_features(
    alerts: Sequence[Alert],
    bar_open_ns: I64,
    bar_close_ns: I64,
    *,
    availability: Availability = Availability.OPEN,
    velocity_window: int = 5,
    active_bars: int = 1,
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
    )


def _ns(a: Alert) -> int:
    delta = a.known_at - _EPOCH
    return (
        delta.days * 86_400 + delta.seconds
    ) * 1_000_000_000 + delta.microseconds * 1000


def alert_known_ns(alerts: Sequence[Alert]) -> I64:
    """Return each alert's ``known_at`` as int64 ns since the epoch (UTC), exactly."""
    return np.asarray([_ns(a) for a in alerts], dtype=np.int64)
