"""Closes from an OHLCV file, and the equal-weight buy-and-hold benchmark over them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

from application.views import benchmark_curve

__all__ = ["benchmark_from_series", "benchmark_series", "close_series", "closes_from_frame",
           "load_closes"]


def closes_from_frame(df: pd.DataFrame, tickers: Iterable[str] | None = None
                      ) -> dict[str, list[tuple[datetime, float]]]:
    """Return ticker -> (date, close) from a canonical OHLCV frame (date, ticker, close)."""
    keep = set(tickers) if tickers is not None else None
    out: dict[str, list[tuple[datetime, float]]] = {}
    frame = df.sort_values(["ticker", "date"])
    for t, g in frame.groupby("ticker", sort=True):
        if keep is not None and t not in keep:
            continue
        dates = pd.to_datetime(g["date"]).dt.tz_localize(None) if getattr(
            g["date"].dtype, "tz", None) is not None else pd.to_datetime(g["date"])
        out[str(t)] = [(d.to_pydatetime(), float(c))
                       for d, c in zip(dates.dt.normalize(), g["close"], strict=True)]
    return out


def load_closes(path: str | Path, tickers: Iterable[str] | None = None, *,
                ticker: str | None = None) -> dict[str, list[tuple[datetime, float]]]:
    """Return ticker -> (date, close) of an OHLCV CSV/Parquet file (``ticker`` names the
    ticker of a file without a ticker column)."""
    from adapters.data.ohlcv import load_ohlcv

    return closes_from_frame(load_ohlcv(path, ticker=ticker), tickers)


def benchmark_series(closes: Mapping[str, Sequence[tuple[datetime, float]]],
                     equity: pd.Series) -> pd.Series:
    """Return equal-weight buy-and-hold of ``closes`` over the dates of ``equity`` (a daily,
    tz-naive series), starting with the equity's first value; empty without overlap."""
    if equity.empty:
        return pd.Series(dtype=float)
    start, end = equity.index[0].to_pydatetime(), equity.index[-1].to_pydatetime()
    pts = benchmark_curve(closes, Decimal(str(equity.iloc[0])), start, end)
    return pd.Series([float(p.equity) for p in pts],
                     index=pd.DatetimeIndex([p.ts for p in pts]), dtype=float)


def close_series(df: pd.DataFrame) -> dict[str, pd.Series]:
    """Return ticker -> closes (floats indexed by day, tz-naive, date order) of a canonical
    OHLCV frame: the same values and order as :func:`closes_from_frame`, as series."""
    out: dict[str, pd.Series] = {}
    frame = df.sort_values(["ticker", "date"])
    for t, g in frame.groupby("ticker", sort=True):
        dates = pd.to_datetime(g["date"])
        if getattr(dates.dtype, "tz", None) is not None:
            dates = dates.dt.tz_localize(None)
        out[str(t)] = pd.Series(g["close"].to_numpy(dtype=float),
                                index=pd.DatetimeIndex(dates.dt.normalize()), dtype=float)
    return out


def benchmark_from_series(closes: Mapping[str, pd.Series], equity: pd.Series) -> pd.Series:
    """Return :func:`benchmark_series` of the same closes given as series (ticker -> closes
    indexed by day, date order), computed a whole column at a time with the same arithmetic:
    each ticker's share is ``share * (last / first)`` (its share in cash before its first
    close in the window), added ticker by ticker in the mapping's order, rounded to 6 places.
    """
    if equity.empty:
        return pd.Series(dtype=float)
    start, end = equity.index[0], equity.index[-1]
    kept: list[tuple[float, pd.Series]] = []
    for s in closes.values():
        idx = pd.DatetimeIndex(s.index)
        vals = s.to_numpy(dtype=float)
        with np.errstate(invalid="ignore"):
            mask = (vals > 0) & (idx >= start) & (idx <= end)
        if not mask.any():
            continue
        w = pd.Series(vals[mask], index=idx[mask])
        first = float(w.iloc[0])
        # several closes on one day: the last one counts from that day on
        kept.append((first, w[~w.index.duplicated(keep="last")]))
    if not kept:
        return pd.Series(dtype=float)
    stamps = kept[0][1].index
    for _, w in kept[1:]:
        stamps = stamps.union(w.index)
    stamps = stamps.sort_values()
    share = float(Decimal(str(equity.iloc[0]))) / len(kept)
    total: np.ndarray | None = None
    for first, w in kept:
        last = w.reindex(stamps, method="ffill").to_numpy(dtype=float)
        part = np.where(np.isnan(last), share, share * (last / first))
        total = part if total is None else total + part
    assert total is not None
    return pd.Series([round(float(v), 6) for v in total], index=stamps, dtype=float)
