"""The dataset ports on pandas: a price frame, and a Parquet feature store with a cache.

:class:`FramePriceHistory` is the :class:`application.ports.PriceHistory` of a canonical
OHLCV frame; :class:`ParquetFeatureStore` builds feature frames
(:func:`adapters.data.features.build_features`), caches them in a
:class:`adapters.data.cache.ParquetCache` and writes them as Parquet or CSV.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import attrs
import pandas as pd

from adapters.data.cache import ParquetCache
from adapters.data.features import alerts_before_first_bar, build_features, validate_frame
from application.ports import FeatureSet, PriceHistory
from domain.alerts import Alert
from domain.market_data import Availability, DatasetSpec, ValidationIssue

__all__ = ["FeatureFrame", "FramePriceHistory", "ParquetFeatureStore", "write_frame"]


def write_frame(df: pd.DataFrame, dest: Path) -> None:
    """Write ``df`` as CSV when ``dest`` ends in ``.csv``, else as Parquet."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.suffix.lower() == ".csv":
        df.to_csv(dest, index=False)
    else:
        df.to_parquet(dest, index=False)


@attrs.frozen(eq=False)
class FramePriceHistory:
    """A canonical OHLCV frame as a price history."""

    frame: pd.DataFrame
    source: str

    @property
    def name(self) -> str:
        """Return the source's name."""
        return self.source

    def tickers(self) -> int:
        """Return how many tickers have bars."""
        return int(self.frame["ticker"].nunique())

    def validate(self, alerts: Sequence[Alert]) -> list[ValidationIssue]:
        """Validate every ticker against the exchange calendar."""
        return validate_frame(self.frame, alerts)

    def alerts_before_first_bar(
        self, alerts: Sequence[Alert], availability: Availability
    ) -> dict[str, int]:
        """Return, per ticker, the alerts dated before its first bar."""
        return alerts_before_first_bar(self.frame, alerts, availability)


@attrs.frozen(eq=False)
class FeatureFrame:
    """A feature frame as a :class:`application.ports.FeatureSet`."""

    frame: pd.DataFrame

    def rows(self) -> int:
        """Return the number of bars."""
        return len(self.frame)

    def columns(self) -> int:
        """Return the number of columns."""
        return int(self.frame.shape[1])

    def split_counts(self) -> dict[str, dict[str, int]]:
        """Return each ticker's bars per split label."""
        counts = self.frame.groupby(["ticker", "split"]).size().unstack(fill_value=0)
        return {
            str(t): {str(k): int(v) for k, v in r.items()} for t, r in counts.iterrows()
        }

    def catalyst_bars(self) -> dict[str, int]:
        """Return each ticker's bars with a positive catalyst score."""
        s = self.frame.groupby("ticker")["catalyst_score"].apply(lambda x: int((x > 0).sum()))
        return {str(k): int(v) for k, v in s.items()}


class ParquetFeatureStore:
    """Build feature frames, cache them under a folder, write them to files."""

    def __init__(self, cache_dir: Path) -> None:
        self._cache = ParquetCache(cache_dir)

    def cached(self, key: str) -> FeatureSet | None:
        """Return the cached feature frame of ``key``, if any."""
        df = self._cache.get("features", key)
        return None if df is None else FeatureFrame(df)

    def build(
        self,
        bars: PriceHistory,
        alerts: Sequence[Alert],
        spec: DatasetSpec,
        on_ticker: Callable[[str], None] | None = None,
    ) -> FeatureSet:
        """Compute the feature frame of a :class:`FramePriceHistory`."""
        if not isinstance(bars, FramePriceHistory):
            raise TypeError(f"this store builds from a FramePriceHistory, not {bars!r}")
        return FeatureFrame(
            build_features(
                bars.frame,
                alerts,
                benchmark=spec.benchmark,
                availability=spec.availability,
                split_fractions=spec.split_fractions,
                embargo=spec.embargo,
                progress=on_ticker,
            )
        )

    def cache(self, key: str, features: FeatureSet) -> None:
        """Keep the feature frame under ``key``."""
        self._cache.put("features", key, _frame(features))

    def write(self, features: FeatureSet, output: str) -> None:
        """Write the feature frame to ``output``."""
        write_frame(_frame(features), Path(output))


def _frame(features: FeatureSet) -> pd.DataFrame:
    if not isinstance(features, FeatureFrame):
        raise TypeError(f"this store keeps FeatureFrame datasets, not {features!r}")
    return features.frame
