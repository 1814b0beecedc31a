"""Catalyst features per bar from the alert history, each usable only once known."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from enum import StrEnum

import attrs
import numpy as np
from numpy.typing import NDArray

from domain.alerts import Alert, CatalystType

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
Dates = NDArray[np.datetime64]

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
