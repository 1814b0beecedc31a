"""Closes from an OHLCV file, and the equal-weight buy-and-hold benchmark over them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from application.views import benchmark_curve

__all__ = ["benchmark_from_series", "benchmark_series", "close_series", "closes_from_frame",
           "load_close_series", "load_closes"]


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


def load_close_series(path: str | Path, *, ticker: str | None = None) -> dict[str, pd.Series]:
    """Return ``close_series(load_ohlcv(path, ticker=ticker))`` of a CSV/Parquet file: the
    same series, but a Parquet file is read for its date, ticker and close columns only, and
    each distinct date and ticker is parsed once (a panel repeats them on every row).

    The columns are found, renamed, parsed and sorted as :func:`adapters.data.ohlcv.load_ohlcv`
    does it (by calling its :func:`~adapters.data.ohlcv.canonicalize` on the distinct values);
    a file it would refuse, or one this cannot read by columns, goes through the loader
    itself, which names the problem.
    """
    from adapters.data.ohlcv import DataError, load_ohlcv

    p = Path(path)
    suffixes = [s.lower() for s in p.suffixes]
    raw = _parquet_columns(p) if ".parquet" in suffixes or ".pq" in suffixes else None
    if raw is None:
        return close_series(load_ohlcv(p, ticker=ticker))
    try:
        return _series_of(raw, ticker)
    except DataError:
        return close_series(load_ohlcv(p, ticker=ticker))


_TARGETS = ("date", "ticker", "close")


def _parquet_columns(p: Path) -> pd.DataFrame | None:
    """The file's date, ticker (when it has one) and close columns, renamed; None when the
    loader must read it (no such file, no pandas-readable schema, a stored index, a column
    the canonical layout needs is missing)."""
    import pyarrow.parquet as pq

    from adapters.data.ohlcv import CANONICAL_COLUMNS, canonical_column

    if not p.is_file():
        return None
    try:
        schema = pq.read_schema(p)
    except (OSError, ValueError):
        return None
    meta = schema.pandas_metadata or {}
    if any(not isinstance(c, dict) for c in meta.get("index_columns", [])):
        return None  # a stored index comes back as the frame's index, not a column
    renamed: dict[str, str] = {}  # canonical name -> the file's first column of that name
    for name in schema.names:
        renamed.setdefault(canonical_column(name), name)
    if any(c not in renamed for c in CANONICAL_COLUMNS if c != "ticker"):
        return None
    wanted = {c: renamed[c] for c in _TARGETS if c in renamed}
    try:
        raw = pd.read_parquet(p, columns=list(wanted.values()))
    except (OSError, ValueError):
        return None
    if list(raw.columns) != list(wanted.values()):
        return None
    raw.columns = list(wanted)
    return raw


def _series_of(raw: pd.DataFrame, ticker: str | None) -> dict[str, pd.Series]:
    """close_series of the canonical frame of ``raw`` (date, close and maybe ticker)."""
    from adapters.data.ohlcv import DataError, canonicalize

    if "ticker" not in raw.columns and ticker is None:
        raise DataError("no ticker column")
    # each distinct date and ticker through the loader's own parsing, once
    dcodes, dvals = pd.factorize(raw["date"], use_na_sentinel=False)
    if "ticker" in raw.columns:
        tcodes, tvals = pd.factorize(raw["ticker"], use_na_sentinel=False)
    else:
        tcodes, tvals = np.zeros(len(raw), dtype=np.intp), pd.Index([ticker], dtype=object)
    days = _canonical_column(canonicalize, "date", dvals).to_numpy(dtype="datetime64[ns]")
    names = _canonical_column(canonicalize, "ticker", tvals)
    close = pd.to_numeric(raw["close"], errors="coerce").astype("float64").to_numpy()
    # sort by ticker then date (missing dates last), stable: the loader's order
    keep = ~names.isna().to_numpy()
    order_of_name = np.full(len(names), -1, dtype=np.int64)
    kept_names = sorted(str(n) for n in names[keep])
    rank = {n: i for i, n in enumerate(kept_names)}
    for k in np.flatnonzero(keep):
        order_of_name[k] = rank[str(names.iloc[k])]
    row_rank = order_of_name[tcodes]
    row_day = days[dcodes]
    day_key = row_day.view("int64").copy()
    day_key[np.isnat(row_day)] = np.iinfo(np.int64).max
    rows = np.flatnonzero(row_rank >= 0)
    rows = rows[np.lexsort((day_key[rows], row_rank[rows]))]
    ranks = row_rank[rows]
    cuts = np.flatnonzero(np.diff(ranks)) + 1
    # one index of every row in order, each ticker's series a slice of it
    index = pd.DatetimeIndex(row_day[rows], name="date")
    values = close[rows]
    out: dict[str, pd.Series] = {}
    for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, len(rows)], strict=True):
        if lo < hi:
            out[kept_names[ranks[lo]]] = pd.Series(values[lo:hi], index=index[lo:hi],
                                                   dtype=float)
    return out


def _canonical_column(canonicalize: Any, column: str, values: Any) -> pd.Series:
    """``values`` (distinct dates or tickers) as the canonical frame has them, in order."""
    filler = {"date": "2000-01-03", "ticker": "X"}
    frame = pd.DataFrame({c: (values if c == column else filler[c]) for c in filler}
                         | {c: 0.0 for c in ("open", "high", "low", "close", "volume")},
                         index=range(len(values)))
    where: list[int] = []
    canon = canonicalize(frame, source_rows=where)
    col = canon[column]
    return pd.Series(col.to_numpy(), index=pd.Index(where)).sort_index()


def benchmark_from_series(closes: Mapping[str, pd.Series], equity: pd.Series) -> pd.Series:
    """Return :func:`benchmark_series` of the same closes given as series (ticker -> closes
    indexed by day, date order), computed a whole column at a time with the same arithmetic:
    each ticker's share is ``share * (last / first)`` (its share in cash before its first
    close in the window), added ticker by ticker in the mapping's order, rounded to 6 places.
    """
    if equity.empty:
        return pd.Series(dtype=float)
    # the window's ends as numpy datetimes: compared with each index's array, not its Index
    start, end = equity.index[0].to_datetime64(), equity.index[-1].to_datetime64()
    kept: list[tuple[float, pd.Series]] = []
    for s in closes.values():
        idx = pd.DatetimeIndex(s.index)
        days = idx.to_numpy()
        vals = s.to_numpy(dtype=float)
        with np.errstate(invalid="ignore"):
            mask = (vals > 0) & (days >= start) & (days <= end)
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
