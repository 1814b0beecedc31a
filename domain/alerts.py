"""Catalyst alerts: dated news events with a score and a sentiment."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any

import attrs

from domain.errors import InvalidInput
from domain.values import aware, enum_value, ticker


class CatalystType(StrEnum):
    """Kinds of catalyst the router and the RL features know."""

    EARNINGS = "earnings"
    MERGER = "merger"
    FDA = "fda"
    OFFERING = "offering"
    INSIDER = "insider"
    OTHER = "other"


def _bounded(value: Any, lo: float, hi: float, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(field, value, f"a number in [{lo:g}, {hi:g}]")
    try:
        f = float(value)
    except OverflowError:  # an integer too large for a float is out of any range
        raise InvalidInput(field, value, f"a number in [{lo:g}, {hi:g}]") from None
    if math.isnan(f) or not (lo <= f <= hi):
        raise InvalidInput(field, value, f"a number in [{lo:g}, {hi:g}]")
    return f


def _score(value: Any) -> float:
    return _bounded(value, 0.0, 1.0, "score")


def _sentiment(value: Any) -> float:
    return _bounded(value, -1.0, 1.0, "sentiment")


def _id(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("id", value, "a non-empty string")
    return value.strip()



def _known_at(v: Any) -> datetime:
    return aware(v, "known_at")


def _catalyst_type(v: Any) -> CatalystType:
    return enum_value(CatalystType, v, "catalyst_type")


def _frozen_map(v: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(v or {}))


@attrs.frozen
class Alert:
    """A catalyst alert as the project's JSONL/CSV format carries it.

    ``known_at`` is when the news became public to us; nothing may act on it earlier.
    """

    id: str = attrs.field(converter=_id)
    ticker: str = attrs.field(converter=ticker)
    known_at: datetime = attrs.field(converter=_known_at)
    catalyst_type: CatalystType = attrs.field(
        converter=_catalyst_type
    )
    score: float = attrs.field(converter=_score)
    sentiment: float = attrs.field(converter=_sentiment)
    headline: str = ""
    source: str = ""
    data: Mapping[str, Any] = attrs.field(
        factory=dict, converter=_frozen_map
    )
