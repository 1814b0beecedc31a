"""Use case: build a feature dataset from a price history and an alert history.

The bars are validated first; errors refuse the build unless forced (and are then reported).
A dataset already built from the same inputs is taken from the store's cache.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import attrs

from application.ports import FeatureSet, FeatureStore, PriceHistory
from domain.alerts import Alert
from domain.market_data import DatasetSpec, IssueSeverity, ValidationIssue

__all__ = ["DatasetBuild", "DatasetRejectedError", "build_dataset"]


class DatasetRejectedError(ValueError):
    """The bars have unrepaired errors and the build was not forced."""

    def __init__(self, source: str, errors: Sequence[ValidationIssue]) -> None:
        first = errors[0]
        super().__init__(
            f"{source} has {len(errors)} unrepaired error(s), first {first.ticker} "
            f"{first.date} {first.problem.value}: {first.detail}"
        )
        self.source = source
        self.errors = list(errors)


@attrs.frozen
class DatasetBuild:
    """A built (or cached) dataset and what the build found on the way."""

    features: FeatureSet
    cached: bool
    alerts: int
    unrepaired: list[ValidationIssue]
    alerts_before_first_bar: dict[str, int]


def build_dataset(
    bars: PriceHistory,
    alerts: Sequence[Alert],
    store: FeatureStore,
    spec: DatasetSpec,
    output: str,
    *,
    cache_key: str | None = None,
    force: bool = False,
    on_ticker: Callable[[str], None] | None = None,
) -> DatasetBuild:
    """Validate the bars, build (or reuse) the dataset and write it to ``output``.

    Parameters
    ----------
    bars, alerts
        The price history and the alert history (each ticker uses its own alerts).
    store
        Builds, caches and writes datasets.
    spec
        Benchmark, alert availability, split fractions and embargo.
    output
        Where the dataset is written.
    cache_key
        Key of these inputs in the store's cache; ``None`` always rebuilds.
    force
        Build even if validation finds errors (they are returned in ``unrepaired``).
    on_ticker
        Told each ticker once its features are built.

    Raises
    ------
    DatasetRejectedError
        Validation found errors and ``force`` is false; nothing is written.
    ValueError
        Nothing to build from.
    """
    errors = [i for i in bars.validate(alerts) if i.severity is IssueSeverity.ERROR]
    if errors and not force:
        raise DatasetRejectedError(bars.name, errors)
    too_old = bars.alerts_before_first_bar(alerts, spec.availability)
    features = store.cached(cache_key) if cache_key is not None else None
    hit = features is not None
    if features is None:
        features = store.build(bars, alerts, spec, on_ticker)
        if cache_key is not None:
            store.cache(cache_key, features)
    store.write(features, output)
    return DatasetBuild(features, hit, len(alerts), errors, too_old)
