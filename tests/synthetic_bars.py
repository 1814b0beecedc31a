"""Synthetic daily bars shaped like real split and crash cases, for the data-pipeline tests.

Every series is a seeded random walk on real XNYS sessions; the helpers then put a real
event into it the way a vendor's unadjusted file shows it.
"""

from __future__ import annotations

import attrs
import numpy as np
import pandas as pd

from adapters.data.calendar import sessions_between
from domain.market_data import OhlcvSeries


@attrs.frozen(eq=False)
class Bars:
    """Adjusted ("true") bars and what the raw file shows."""

    true: OhlcvSeries  # continuous, split-adjusted
    raw: OhlcvSeries  # as the file has it


def walk(
    n: int = 400,
    *,
    seed: int = 0,
    start: str = "2019-01-02",
    ticker: str = "TEST",
    daily_vol: float = 0.015,
    volume: float = 1e6,
    volume_noise: float = 0.25,
) -> OhlcvSeries:
    """Return ``n`` bars of a random walk on XNYS sessions from ``start``."""
    rng = np.random.default_rng(seed)
    days = sessions_between(start, pd.Timestamp(start) + pd.Timedelta(days=2 * n))[:n]
    assert len(days) == n
    rets = rng.normal(0.0, daily_vol, n)
    rets[0] = 0.0
    close = 100.0 * np.exp(np.cumsum(rets))
    open_ = close * np.exp(rng.normal(0.0, daily_vol / 3, n))
    high = np.maximum(open_, close) * (1.0 + np.abs(rng.normal(0.0, daily_vol / 2, n)))
    low = np.minimum(open_, close) * (1.0 - np.abs(rng.normal(0.0, daily_vol / 2, n)))
    vol = volume * np.exp(rng.normal(0.0, volume_noise, n))
    return OhlcvSeries(ticker, days, open_, high, low, close, vol)


def with_move(s: OhlcvSeries, k: int, move: float) -> OhlcvSeries:
    """Return ``s`` with bars ``k..`` scaled so that close[k] / close[k-1] == ``move``."""
    scale = move / (s.close[k] / s.close[k - 1])
    arrs = [a.copy() for a in (s.open, s.high, s.low, s.close)]
    for a in arrs:
        a[k:] *= scale
    return OhlcvSeries(s.ticker, s.dates, *arrs, s.volume.copy())


def with_volume(s: OhlcvSeries, volume: np.ndarray) -> OhlcvSeries:
    """Return ``s`` with another volume column."""
    return OhlcvSeries(s.ticker, s.dates, s.open, s.high, s.low, s.close, volume, s.adj_close)


def with_adj_close(s: OhlcvSeries, adj: np.ndarray | None) -> OhlcvSeries:
    """Return ``s`` with an adjusted-close column."""
    return OhlcvSeries(s.ticker, s.dates, s.open, s.high, s.low, s.close, s.volume, adj)


def unadjusted_split(true: OhlcvSeries, k: int, ratio: float, *, volume_too: bool = True) -> Bars:
    """Undo the adjustment of a ``ratio``:1 split at bar ``k``: earlier prices times
    ``ratio`` and (when ``volume_too``) earlier volume divided by it."""
    arrs = [a.copy() for a in (true.open, true.high, true.low, true.close)]
    for a in arrs:
        a[:k] *= ratio
    vol = true.volume.copy()
    if volume_too:
        vol[:k] /= ratio
    raw = OhlcvSeries(true.ticker, true.dates, *arrs, vol, true.adj_close)
    return Bars(true, raw)


def crash_volume(s: OhlcvSeries, k: int, spike: float, after: tuple[float, ...],
                 level: float) -> np.ndarray:
    """Return volume with a news day at ``k``: ``spike`` times the usual level that day,
    then the multipliers ``after`` for the next days, then ``level`` times for good."""
    v = s.volume.copy()
    base = float(np.median(v[:k]))
    v[k] = spike * base
    for j, m in enumerate(after, start=1):
        v[k + j] = m * base
    v[k + 1 + len(after):] *= level
    return v


def to_frame(*series: OhlcvSeries) -> pd.DataFrame:
    """Return a canonical frame of ``series`` (``adj_close`` when any has it)."""
    from adapters.data.ohlcv import series_to_frame

    return series_to_frame(series)
