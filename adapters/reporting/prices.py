"""Closes from an OHLCV file, and the equal-weight buy-and-hold benchmark over them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pandas as pd

from application.views import benchmark_curve

__all__ = ["benchmark_series", "closes_from_frame", "load_closes"]


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
