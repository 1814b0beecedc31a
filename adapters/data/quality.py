"""Validate and repair canonical OHLCV frames, ticker by ticker, against the exchange calendar.

The pandas side of :mod:`domain.market_data`'s validation and repair rules: frames become
series, each ticker is checked (or repaired) against its sessions with the catalyst dates and
known splits as evidence, and the findings come back sorted.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from adapters.data.calendar import session_bounds_ns, sessions_between
from adapters.data.ohlcv import frame_to_series, series_to_frame
from domain.alerts import Alert
from domain.market_data import (
    SplitRules,
    ValidationIssue,
    alert_known_ns,
    first_usable_bar,
    repair_series,
    validate_series,
)

__all__ = ["SplitsByTicker", "alerts_by_ticker", "catalyst_dates", "repair_frame", "validate_frame"]

#: Known splits per ticker, ``{ticker: [(ISO date, ratio), ...]}`` (see adapters.data.splits).
SplitsByTicker = Mapping[str, Sequence[tuple[str, float]]]



def alerts_by_ticker(alerts: Iterable[Alert]) -> dict[str, list[Alert]]:
    """Return ``alerts`` grouped by ticker, in their order."""
    out: dict[str, list[Alert]] = defaultdict(list)
    for a in alerts:
        out[a.ticker].append(a)
    return out


def catalyst_dates(alerts: Sequence[Alert], dates: np.ndarray) -> list[str]:
    """Return the dates (ISO) on which ``alerts`` became known or first usable."""
    if not alerts:
        return []
    o, c = session_bounds_ns(dates)
    first = first_usable_bar(alert_known_ns(alerts), o, c)
    out = [
        str(pd.Timestamp(a.known_at).tz_convert("America/New_York").date())
        for a in alerts
    ]
    out += [str(dates[i])[:10] for i in first.tolist() if i < len(dates)]
    return out


def validate_frame(
    df: pd.DataFrame,
    alerts: Iterable[Alert] = (),
    *,
    calendar: str = "XNYS",
    jump_threshold: float = 0.40,
    splits: SplitsByTicker | None = None,
    rules: SplitRules = SplitRules(),  # noqa: B008 - frozen, immutable default
) -> list[ValidationIssue]:
    """Validate a canonical frame, ticker by ticker, against the exchange calendar.

    Parameters
    ----------
    df
        Canonical OHLCV frame (with ``adj_close`` when the file had one: evidence for
        splits).
    alerts
        Catalyst alerts; a large move on or the day after an alert is not a split.
    calendar
        Exchange calendar name for sessions and gaps.
    jump_threshold
        Close-to-close move above which the split evidence is weighed.
    splits
        Known splits per ticker (a splits file).
    rules
        Split-evidence thresholds (:class:`domain.market_data.SplitRules`).

    Returns
    -------
    list of ValidationIssue
        Every finding, sorted by ticker and date.
    """
    by_t = alerts_by_ticker(alerts)
    issues: list[ValidationIssue] = []
    for ticker, s in frame_to_series(df).items():
        if len(s) == 0:
            continue
        d = np.sort(s.dates)
        sess = sessions_between(d[0], d[-1], calendar)
        issues += validate_series(
            s,
            sess,
            jump_threshold=jump_threshold,
            catalyst_dates=catalyst_dates(by_t.get(ticker, []), np.unique(d)),
            splits=(splits or {}).get(ticker, ()),
            rules=rules,
        )
    return issues


def repair_frame(
    df: pd.DataFrame,
    alerts: Iterable[Alert] = (),
    *,
    calendar: str = "XNYS",
    jump_threshold: float = 0.40,
    splits: SplitsByTicker | None = None,
    rules: SplitRules = SplitRules(),  # noqa: B008 - frozen, immutable default
) -> tuple[pd.DataFrame, list[ValidationIssue]]:
    """Repair a canonical frame (see :func:`domain.market_data.repair_series`).

    Parameters are those of :func:`validate_frame`.

    Returns
    -------
    tuple
        The repaired canonical frame and one finding per action taken or refused.
    """
    by_t = alerts_by_ticker(alerts)
    fixed = []
    actions: list[ValidationIssue] = []
    for ticker, s in frame_to_series(df).items():
        if len(s) == 0:
            continue
        d = np.sort(s.dates)
        r = repair_series(
            s,
            sessions_between(d[0], d[-1], calendar),
            jump_threshold=jump_threshold,
            catalyst_dates=catalyst_dates(by_t.get(ticker, []), np.unique(d)),
            splits=(splits or {}).get(ticker, ()),
            rules=rules,
        )
        fixed.append(r.series)
        actions += r.actions
    return series_to_frame(fixed), actions
