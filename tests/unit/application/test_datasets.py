"""The build-a-dataset use case on a fake price history and a fake feature store."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import attrs
import pytest

from application.datasets import DatasetRejectedError, build_dataset
from application.ports import FeatureSet, PriceHistory
from domain.alerts import Alert
from domain.market_data import (
    Availability,
    DatasetSpec,
    IssueSeverity,
    Problem,
    ValidationIssue,
)

ERR = ValidationIssue("AAA", "2024-03-01", Problem.NAN, "close is NaN")
WARN = ValidationIssue("AAA", "2024-03-04", Problem.MISSING_SESSION, "no bar",
                       IssueSeverity.WARNING)


@attrs.frozen
class Features:
    tickers: tuple[str, ...]

    def rows(self) -> int:
        return 10 * len(self.tickers)

    def columns(self) -> int:
        return 40

    def split_counts(self) -> dict[str, dict[str, int]]:
        return {t: {"train": 7, "validation": 3} for t in self.tickers}

    def catalyst_bars(self) -> dict[str, int]:
        return dict.fromkeys(self.tickers, 1)


class Bars:
    name = "prices.csv"

    def __init__(self, issues: list[ValidationIssue]) -> None:
        self.issues = issues
        self.availability: list[Availability] = []

    def tickers(self) -> int:
        return 2

    def validate(self, alerts: Sequence[Alert]) -> list[ValidationIssue]:
        return self.issues

    def alerts_before_first_bar(self, alerts: Sequence[Alert],
                                availability: Availability) -> dict[str, int]:
        self.availability.append(availability)
        return {"AAA": 1}


class Store:
    def __init__(self) -> None:
        self.kept: dict[str, FeatureSet] = {}
        self.built: list[DatasetSpec] = []
        self.written: list[tuple[FeatureSet, str]] = []

    def cached(self, key: str) -> FeatureSet | None:
        return self.kept.get(key)

    def build(self, bars: PriceHistory, alerts: Sequence[Alert], spec: DatasetSpec,
              on_ticker: Callable[[str], None] | None = None) -> FeatureSet:
        self.built.append(spec)
        for t in ("AAA", "BBB"):
            if on_ticker is not None:
                on_ticker(t)
        return Features(("AAA", "BBB"))

    def cache(self, key: str, features: FeatureSet) -> None:
        self.kept[key] = features

    def write(self, features: FeatureSet, output: str) -> None:
        self.written.append((features, output))


SPEC = DatasetSpec(availability=Availability.CLOSE, embargo=3)


def test_build_when_clean_then_built_cached_and_written_then_reused() -> None:
    store, bars, ticks = Store(), Bars([WARN]), []
    first = build_dataset(bars, [], store, SPEC, "out.parquet", cache_key="k",
                          on_ticker=ticks.append)
    assert not first.cached and first.unrepaired == [] and ticks == ["AAA", "BBB"]
    assert store.built == [SPEC] and bars.availability == [Availability.CLOSE]
    assert first.alerts_before_first_bar == {"AAA": 1}
    again = build_dataset(bars, [], store, SPEC, "again.parquet", cache_key="k")
    assert again.cached and len(store.built) == 1
    assert [o for _, o in store.written] == ["out.parquet", "again.parquet"]


def test_build_when_no_cache_key_then_always_rebuilt() -> None:
    store = Store()
    for _ in range(2):
        build_dataset(Bars([]), [], store, SPEC, "o.parquet")
    assert len(store.built) == 2 and store.kept == {}


def test_build_when_errors_then_refused_and_nothing_written() -> None:
    store = Store()
    with pytest.raises(DatasetRejectedError, match=r"prices.csv has 1 unrepaired error\(s\), "
                       r"first AAA 2024-03-01 nan: close is NaN") as info:
        build_dataset(Bars([WARN, ERR]), [], store, SPEC, "o.parquet", cache_key="k")
    assert info.value.errors == [ERR]
    assert store.built == [] and store.written == [] and store.kept == {}


def test_build_when_errors_and_forced_then_built_and_errors_returned() -> None:
    store = Store()
    got = build_dataset(Bars([ERR]), [], store, SPEC, "o.parquet", force=True)
    assert got.unrepaired == [ERR] and len(store.written) == 1
