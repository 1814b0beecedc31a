"""Enrich OHLCV frames: build the feature file and the RL panel.

This is the pandas side of the pipeline: it converts frames to arrays, calls the pure
rules in :mod:`domain.market_data` and :mod:`domain.market_data.features`, and converts
the results back. The feature file (Parquet) has one row per ticker and date with:

* the canonical OHLCV columns;
* the raw indicators :data:`domain.market_data.features.INDICATOR_COLUMNS`;
* the catalyst columns :data:`domain.market_data.CATALYST_FEATURES`;
* ``split``: ``train``, ``validation``, ``test`` or ``embargo`` (chronological per ticker);
* ``f_<name>`` for each of the 30 market features of the RL observation (``float32``).

Validating and repairing frames is in :mod:`adapters.data.quality`; ``validate_frame``,
``repair_frame`` and ``catalyst_dates`` are importable from here too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from adapters.data.alerts import read_alerts
from adapters.data.cache import ParquetCache, content_hash
from adapters.data.calendar import (
    previous_session_bounds_ns,
    session_bounds_ns,
)
from adapters.data.ohlcv import load_ohlcv
from adapters.data.quality import (
    alerts_by_ticker,
    catalyst_dates,
    repair_frame,
    validate_frame,
)
from adapters.data.sample import sample_paths
from domain.alerts import Alert
from domain.market_data import (
    Availability,
    alert_known_ns,
    alerts_before_start,
    catalyst_features,
    chronological_splits,
)
from domain.market_data.features import (
    INDICATOR_COLUMNS,
    MARKET_FEATURES,
    WARMUP_BARS,
    TickerFeatures,
    indicator_columns,
    market_matrix,
)

__all__ = [
    "FEATURE_COLUMNS",
    "PIPELINE_VERSION",
    "REQUIRED_FEATURE_COLUMNS",
    "FeatureFileError",
    "alerts_before_first_bar",
    "benchmark_close",
    "build_features",
    "catalyst_dates",
    "check_feature_frame",
    "feature_panel",
    "panel_split_labels",
    "repair_frame",
    "sample_features",
    "sample_panel",
    "validate_frame",
]

#: Bump when a feature definition changes: it is part of every cache key.
PIPELINE_VERSION = "features-v3"
FEATURE_COLUMNS = tuple(f"f_{n}" for n in MARKET_FEATURES)
#: Columns a feature file must have for the RL panel.
REQUIRED_FEATURE_COLUMNS = ("date", "ticker", "open", "high", "low", "close", "split",
                            *FEATURE_COLUMNS)

class FeatureFileError(ValueError):
    """A frame (or file) given as a feature file lacks the columns of one."""

Progress = Callable[[str], None]


def benchmark_close(df: pd.DataFrame, benchmark: str | None = None) -> pd.Series:
    """Return the benchmark's closes indexed by date.

    Parameters
    ----------
    df
        Canonical frame.
    benchmark
        A ticker in ``df`` (e.g. ``SPY``), or ``None`` for an equal-weighted index of every
        ticker in ``df``: each day's return is the mean of the tickers' close-to-close
        returns that day, compounded from 1.

    Returns
    -------
    pandas.Series
        Closes by date. A ticker's dates the benchmark lacks are skipped by beta (see
        :func:`domain.market_data.features.beta_on_common_dates`), never read as a zero return.
    """
    if benchmark is not None:
        name = benchmark.strip().upper()
        b = df[df["ticker"] == name]
        if b.empty:
            have = sorted(map(str, df["ticker"].unique()))
            shown = ", ".join(have[:10]) + (" ..." if len(have) > 10 else "")
            raise ValueError(
                f"benchmark {name!r} is not in the data (tickers: {shown}); add its bars "
                "to the OHLCV file, or leave --benchmark out for the equal-weighted index "
                "of the panel"
            )
        return b.set_index("date")["close"].sort_index()
    wide = df.pivot_table(
        index="date", columns="ticker", values="close", aggfunc="first"
    )
    rets = wide.pct_change(fill_method=None).mean(axis=1, skipna=True).fillna(0.0)
    return (1.0 + rets).cumprod().rename("benchmark")


def _one_ticker(
    g: pd.DataFrame,
    alerts: Sequence[Alert],
    bench: pd.Series,
    availability: Availability,
    split_of: dict[np.datetime64, str],
) -> pd.DataFrame:
    dates = g["date"].to_numpy("datetime64[ns]")
    o, h, lo, c, v = (
        g[k].to_numpy(np.float64) for k in ("open", "high", "low", "close", "volume")
    )
    b = bench.reindex(g["date"]).to_numpy(np.float64)
    open_ns, close_ns = session_bounds_ns(dates)
    cat = catalyst_features(
        alerts,
        open_ns,
        close_ns,
        availability=availability,
        session_before=previous_session_bounds_ns(dates[0]) if len(dates) else None,
    )
    raw = indicator_columns(h, lo, c, v, b)
    mat = market_matrix(o, h, lo, c, v, cat, b, raw)
    out = g[["date", "ticker", "open", "high", "low", "close", "volume"]].reset_index(
        drop=True
    )
    extra: dict[str, object] = {k: raw[k] for k in INDICATOR_COLUMNS}
    extra.update(cat.as_dict())
    extra["split"] = [split_of[d] for d in dates]
    extra.update({name: mat[:, j] for j, name in enumerate(FEATURE_COLUMNS)})
    return pd.concat([out, pd.DataFrame(extra)], axis=1)


def panel_split_labels(
    dates: np.ndarray, split_fractions: tuple[float, float, float], embargo: int
) -> dict[np.datetime64, str]:
    """Return the split label of every date of the panel.

    The cut points are dates common to every ticker (computed on the union of the panel's
    dates), so no ticker's training bars overlap another ticker's validation or test period
    in time; the embargo is counted in panel sessions.
    """
    days = np.unique(dates.astype("datetime64[ns]"))
    n = len(days)
    try:
        labels = chronological_splits(n, *split_fractions, embargo=embargo).labels(n)
    except ValueError:
        labels = ["train"] * n
    return dict(zip(days, labels, strict=True))


def build_features(
    df: pd.DataFrame,
    alerts: Iterable[Alert] = (),
    *,
    benchmark: str | None = None,
    availability: Availability = Availability.OPEN,
    split_fractions: tuple[float, float, float] = (0.70, 0.15, 0.15),
    embargo: int = 5,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """Compute indicators, catalyst features, split labels and the RL matrix per ticker.

    Parameters
    ----------
    df
        Canonical frame, validated (run :func:`validate_frame` first).
    alerts
        Alert history; only each ticker's own alerts are used.
    benchmark
        Benchmark ticker for beta, or ``None`` for the panel's equal-weighted index.
    availability
        When an alert becomes usable (see :class:`domain.market_data.Availability`).
    split_fractions, embargo
        Chronological train/validation/test fractions and the embargo in bars.
    progress
        Called with each ticker after it is done (drives a progress bar).

    Returns
    -------
    pandas.DataFrame
        The feature frame described in this module's docstring.
    """
    by_t = alerts_by_ticker(alerts)
    bench = benchmark_close(df, benchmark)
    split_of = panel_split_labels(df["date"].to_numpy("datetime64[ns]"), split_fractions, embargo)
    parts = []
    for ticker, g in df.groupby("ticker", sort=True):
        g = g.sort_values("date", kind="stable")
        parts.append(
            _one_ticker(
                g,
                by_t.get(str(ticker), []),
                bench,
                availability,
                split_of,
            )
        )
        if progress is not None:
            progress(str(ticker))
    if not parts:
        raise ValueError("no bars to build features from")
    return pd.concat(parts, ignore_index=True)


def alerts_before_first_bar(
    df: pd.DataFrame,
    alerts: Iterable[Alert],
    availability: Availability = Availability.OPEN,
) -> dict[str, int]:
    """Return, per ticker, how many alerts :func:`build_features` drops as too old.

    An alert is dropped when it belongs to a session before the ticker's first bar (see
    :func:`domain.market_data.alerts_before_start`); only tickers with at least one
    such alert are listed.
    """
    by_t = alerts_by_ticker(alerts)
    out: dict[str, int] = {}
    for ticker, g in df.groupby("ticker", sort=True):
        own = by_t.get(str(ticker), [])
        if not own:
            continue
        prev = previous_session_bounds_ns(g["date"].min())
        if prev is None:
            continue
        n = int(alerts_before_start(alert_known_ns(own), prev, availability).sum())
        if n:
            out[str(ticker)] = n
    return out


def check_feature_frame(features: pd.DataFrame, source: object = None) -> None:
    """Raise :class:`FeatureFileError` unless ``features`` has a feature file's columns.

    The message names the missing columns and how to build a feature file.
    """
    missing = [c for c in REQUIRED_FEATURE_COLUMNS if c not in features.columns]
    if not missing:
        return
    what = "the data" if source is None else str(source)
    shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
    raise FeatureFileError(
        f"{what} is not a feature file: missing column(s) {shown}; build one with "
        "'catalyst data build --data PRICES --out FEATURES.parquet'"
    )


def feature_panel(
    features: pd.DataFrame,
    split: str | None = None,
    tickers: Iterable[str] | None = None,
    warmup: int = WARMUP_BARS,
) -> dict[str, TickerFeatures]:
    """Turn a feature frame into the RL environment's panel.

    Parameters
    ----------
    features
        Output of :func:`build_features` (or the Parquet file it was saved to).
    split
        ``train``, ``validation`` or ``test`` to keep only that split's bars; ``None``
        keeps every bar (embargo bars included).
    tickers
        Keep only these tickers.
    warmup
        Drop each ticker's first ``warmup`` bars (indicators still warming up).

    Returns
    -------
    dict of str to TickerFeatures
        Tickers with at least two bars left (an episode needs a next bar to fill at).

    Raises
    ------
    FeatureFileError
        If the frame lacks a feature file's columns (e.g. a price file).
    """
    check_feature_frame(features)
    keep = None if tickers is None else {t.upper() for t in tickers}
    out: dict[str, TickerFeatures] = {}
    for ticker, g in features.groupby("ticker", sort=True):
        t = str(ticker)
        if keep is not None and t not in keep:
            continue
        g = g.sort_values("date", kind="stable").iloc[warmup:]
        if split is not None:
            g = g[g["split"] == split]
        if len(g) < 2:
            continue
        out[t] = TickerFeatures(
            t,
            g["date"].to_numpy("datetime64[ns]").astype("datetime64[D]"),
            g["open"].to_numpy(np.float64, copy=True),
            g["close"].to_numpy(np.float64, copy=True),
            np.ascontiguousarray(g[list(FEATURE_COLUMNS)].to_numpy(np.float32)),
            g["high"].to_numpy(np.float64, copy=True),
            g["low"].to_numpy(np.float64, copy=True),
        )
    return out


@lru_cache(maxsize=2)
def _sample_features_cached(cache_root: str | None) -> pd.DataFrame:
    paths = sample_paths()

    def build() -> pd.DataFrame:
        return build_features(load_ohlcv(paths.prices), read_alerts(paths.alerts))

    if cache_root is None:
        return build()
    key = content_hash(PIPELINE_VERSION, paths.prices, paths.alerts)
    df, _ = ParquetCache(cache_root).get_or_build("features", key, build)
    return df


def sample_features(cache_root: str | Path | None = None) -> pd.DataFrame:
    """Return the feature frame of the bundled sample (built once per process)."""
    return _sample_features_cached(
        None if cache_root is None else str(cache_root)
    ).copy()


def sample_panel(split: str | None = None) -> dict[str, TickerFeatures]:
    """Return the RL panel of the bundled sample, optionally one split of it."""
    return feature_panel(_sample_features_cached(None), split=split)
