"""OHLCV frames: load CSV/Parquet into the canonical layout, fetch through a bar source.

The canonical frame has exactly the columns ``date, ticker, open, high, low, close,
volume``: ``date`` is ``datetime64[ns]`` at midnight (the exchange date of a daily bar),
``ticker`` upper-case ``str``, prices and volume ``float64``; rows sorted by ticker then
date. Nothing is dropped or fixed here: that is ``catalyst data validate --repair``'s job.
Asked for (``adj_close=True``), a vendor's adjusted close is kept as an eighth column
``adj_close``: evidence for split repair, never a price.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from domain.market_data import OhlcvSeries

__all__ = [
    "CANONICAL_COLUMNS",
    "BarSource",
    "DataError",
    "canonical_column",
    "canonicalize",
    "fetch_ohlcv",
    "frame_to_series",
    "load_ohlcv",
    "series_to_frame",
]

CANONICAL_COLUMNS = ("date", "ticker", "open", "high", "low", "close", "volume")
PRICE_COLUMNS = ("open", "high", "low", "close", "volume")

_ALIASES = {
    "timestamp": "date",
    "time": "date",
    "datetime": "date",
    "t": "date",
    "symbol": "ticker",
    "name": "ticker",
    "o": "open",
    "h": "high",
    "l": "low",
    "c": "close",
    "v": "volume",
    "vol": "volume",
    "adj close": "adj_close",
    "adj. close": "adj_close",
    "adjclose": "adj_close",
    "adjusted_close": "adj_close",
    "adjusted close": "adj_close",
}


def canonical_column(name: object) -> str:
    """Return the canonical name of an input column (``Symbol`` -> ``ticker``, ``T`` ->
    ``date``; others lower-cased and stripped)."""
    key = str(name).strip().lower()
    return _ALIASES.get(key, key)


class DataError(ValueError):
    """A data file or source could not be read into the canonical layout."""


class BarSource(Protocol):
    """Anything with ``get_bars`` (the price-feed port, the Alpaca adapter, a fake).

    It returns rows: :class:`domain.market.Bar` objects, mappings or objects with
    ``ts``/``timestamp``, ``open``, ``high``, ``low``, ``close``, ``volume`` (and
    optionally ``ticker``/``symbol``).
    """

    def get_bars(
        self, ticker: str, start: datetime, end: datetime, timeframe: str = "1Day"
    ) -> Sequence[Any]:
        """Return the bars of ``ticker`` with ``start <= ts <= end``."""
        ...


def canonicalize(
    df: pd.DataFrame, *, ticker: str | None = None, adj_close: bool = False,
    source_rows: list[int] | None = None,
) -> pd.DataFrame:
    """Return ``df`` in the canonical layout (renaming common aliases, any case).

    Parameters
    ----------
    df
        A frame with at least a date/timestamp column and OHLCV columns.
    ticker
        Ticker to use when the frame has no ticker column (a single-ticker file).
    adj_close
        Keep an adjusted-close column (``adj_close``, ``Adj Close``, ...) when there is one.
    source_rows
        When given, filled with each output row's position in ``df`` (to name a bad row).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`CANONICAL_COLUMNS` (and ``adj_close`` when asked for and present),
        sorted by ticker and date.

    Raises
    ------
    DataError
        If a column is missing or a value cannot be parsed.
    """
    cols = {c: canonical_column(c) for c in df.columns}
    out = df.rename(columns=cols)
    out = out.loc[:, ~out.columns.duplicated()]
    if "ticker" not in out.columns:
        if ticker is None:
            raise DataError(
                "no ticker column (expected 'ticker' or 'symbol'): add one, or pass --ticker "
                "SYMBOL for a single-ticker file (data import, validate and build, backtest "
                "and run all take it)"
            )
        out = out.assign(ticker=ticker)
    missing = [c for c in CANONICAL_COLUMNS if c not in out.columns]
    if missing:
        raise DataError(
            f"missing column(s): {', '.join(missing)}; have {list(df.columns)}"
        )
    keep = list(CANONICAL_COLUMNS)
    if adj_close and "adj_close" in out.columns:
        keep.append("adj_close")
    out = out[keep].copy()
    out["date"] = _exchange_dates(out["date"])
    out["ticker"] = out["ticker"].astype(str).str.strip().str.upper()
    for c in keep[2:]:
        out[c] = pd.to_numeric(out[c], errors="coerce").astype("float64")
    out = out.sort_values(["ticker", "date"], kind="stable")
    if source_rows is not None:  # each row's position in the input (0: the first data row)
        source_rows.extend(out.index.to_numpy().tolist())
    return out.reset_index(drop=True)


def _exchange_dates(col: pd.Series) -> pd.Series:
    """Parse dates; naive values are exchange dates, aware ones map to their NY date."""
    try:
        try:
            parsed = pd.to_datetime(col, format="mixed")
        except (ValueError, TypeError):
            parsed = pd.to_datetime(col, format="mixed", utc=True)
    except (ValueError, TypeError) as exc:
        raise DataError(f"cannot parse dates: {exc}") from exc
    if parsed.dt.tz is not None:
        parsed = parsed.dt.tz_convert("America/New_York").dt.tz_localize(None)
    try:
        return parsed.dt.normalize().astype("datetime64[ns]")
    except (ValueError, OverflowError) as exc:  # a year such as 9999 or 0001
        raise DataError(f"date out of range (1677..2262 at most): {exc}") from exc


def load_ohlcv(
    path: str | Path, *, ticker: str | None = None, adj_close: bool = False,
    source_rows: list[int] | None = None,
) -> pd.DataFrame:
    """Read an OHLCV CSV or Parquet file into the canonical layout.

    Parameters
    ----------
    path
        ``.csv`` (optionally ``.gz``) or ``.parquet`` file.
    ticker
        Ticker for files without a ticker column.
    adj_close
        Keep the file's adjusted close, if any (see :func:`canonicalize`).
    source_rows
        When given, filled with each row's data-row position in the file (see
        :func:`canonicalize`).

    Returns
    -------
    pandas.DataFrame
        The canonical frame (see :func:`canonicalize`).

    Raises
    ------
    DataError
        If the file is missing, of an unknown type or lacks columns.
    """
    p = Path(path)
    if not p.exists():
        raise DataError(f"no such file: {p}")
    suffixes = [s.lower() for s in p.suffixes]
    try:
        if ".parquet" in suffixes or ".pq" in suffixes:
            raw = pd.read_parquet(p)
        elif ".csv" in suffixes or ".txt" in suffixes:
            raw = pd.read_csv(p)
        else:
            raise DataError(f"unknown file type {p.suffix!r}: use .csv or .parquet")
    except (OSError, ValueError) as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(f"cannot read {p}: {exc}") from exc
    return canonicalize(raw, ticker=ticker, adj_close=adj_close, source_rows=source_rows)


def _field(row: Any, *names: str) -> Any:
    for n in names:
        if isinstance(row, Mapping):
            if n in row:
                return row[n]
        elif hasattr(row, n):
            return getattr(row, n)
    raise DataError(f"bar row has none of {names}: {row!r}")


def fetch_ohlcv(
    source: BarSource,
    tickers: Iterable[str],
    start: datetime,
    end: datetime,
    timeframe: str = "1Day",
) -> pd.DataFrame:
    """Fetch bars for ``tickers`` from any :class:`BarSource` into the canonical layout.

    Parameters
    ----------
    source
        An object with ``get_bars(ticker, start, end, timeframe)`` returning rows.
    tickers
        Symbols to fetch.
    start, end
        Inclusive time range (timezone-aware).
    timeframe
        Bar size understood by the source (``"1Day"``).

    Returns
    -------
    pandas.DataFrame
        The canonical frame of every bar returned.
    """
    records: list[dict[str, Any]] = []
    for t in tickers:
        for row in source.get_bars(t, start, end, timeframe):
            try:
                sym = _field(row, "ticker", "symbol")
            except DataError:
                sym = t
            records.append(
                {
                    "date": _field(row, "ts", "timestamp", "date", "t"),
                    "ticker": sym,
                    **{c: float(_field(row, c, c[0])) for c in PRICE_COLUMNS},
                }
            )
    if not records:
        return pd.DataFrame(
            {c: pd.Series(dtype="float64") for c in CANONICAL_COLUMNS}
        ).pipe(_empty_canonical)
    return canonicalize(pd.DataFrame.from_records(records))


def _empty_canonical(df: pd.DataFrame) -> pd.DataFrame:
    df["date"] = pd.Series(dtype="datetime64[ns]")
    df["ticker"] = pd.Series(dtype="str")
    return df[list(CANONICAL_COLUMNS)]


def frame_to_series(df: pd.DataFrame) -> dict[str, OhlcvSeries]:
    """Split a canonical frame into one :class:`OhlcvSeries` per ticker (file order kept)."""
    out: dict[str, OhlcvSeries] = {}
    for ticker, g in df.groupby("ticker", sort=True):
        o, h, lo, c, v = (g[k].to_numpy(np.float64, copy=True) for k in PRICE_COLUMNS)
        out[str(ticker)] = OhlcvSeries(
            str(ticker),
            g["date"].to_numpy("datetime64[ns]").astype("datetime64[D]"),
            o,
            h,
            lo,
            c,
            v,
            adj_close=(
                g["adj_close"].to_numpy(np.float64, copy=True)
                if "adj_close" in g.columns
                else None
            ),
        )
    return out


def series_to_frame(series: Iterable[OhlcvSeries]) -> pd.DataFrame:
    """Concatenate series back into a canonical frame (with ``adj_close`` if any has it)."""
    series = list(series)
    with_adj = any(s.adj_close is not None for s in series)
    parts = []
    for s in series:
        cols: dict[str, object] = {
            "date": s.dates.astype("datetime64[ns]"),
            "ticker": s.ticker,
            "open": s.open,
            "high": s.high,
            "low": s.low,
            "close": s.close,
            "volume": s.volume,
        }
        if with_adj:
            cols["adj_close"] = (
                np.full(len(s), np.nan) if s.adj_close is None else s.adj_close
            )
        parts.append(pd.DataFrame(cols))
    if not parts:
        return _empty_canonical(pd.DataFrame({c: [] for c in CANONICAL_COLUMNS}))
    df = pd.concat(parts, ignore_index=True)
    return df.sort_values(["ticker", "date"], kind="stable").reset_index(drop=True)
