"""How a dataset is built from bars and alerts: benchmark, alert availability and splits."""

from __future__ import annotations

import attrs

from domain.market_data.catalyst import Availability

__all__ = ["DatasetSpec"]


@attrs.frozen
class DatasetSpec:
    """The settings of a feature dataset build.

    Parameters
    ----------
    benchmark
        Benchmark ticker for beta, or ``None`` for the panel's equal-weighted index.
    availability
        When an alert becomes usable by a bar's features.
    split_fractions
        Chronological train, validation and test fractions.
    embargo
        Bars left out between two splits.
    """

    benchmark: str | None = None
    availability: Availability = Availability.OPEN
    split_fractions: tuple[float, float, float] = (0.70, 0.15, 0.15)
    embargo: int = 5

    def key_parts(self) -> list[object]:
        """Return the settings in a fixed order, for a cache key."""
        return [self.benchmark, self.availability.value, *self.split_fractions, self.embargo]
