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


def _bounded(lo: float, hi: float, field: str) -> Any:
    def convert(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidInput(field, value, f"a number in [{lo:g}, {hi:g}]")
        f = float(value)
        if math.isnan(f) or not (lo <= f <= hi):
            raise InvalidInput(field, value, f"a number in [{lo:g}, {hi:g}]")
        return f

    return convert


def _text(field: str) -> Any:
    def convert(value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise InvalidInput(field, value, "a non-empty string")
        return value.strip()

    return convert


@attrs.frozen
class Alert:
    """A catalyst alert as the project's JSONL/CSV format carries it.

    ``known_at`` is when the news became public to us; nothing may act on it earlier.
    """

    id: str = attrs.field(converter=_text("id"))
    ticker: str = attrs.field(converter=ticker)
    known_at: datetime = attrs.field(converter=lambda v: aware(v, "known_at"))
    catalyst_type: CatalystType = attrs.field(
        converter=lambda v: enum_value(CatalystType, v, "catalyst_type")
    )
    score: float = attrs.field(converter=_bounded(0.0, 1.0, "score"))
    sentiment: float = attrs.field(converter=_bounded(-1.0, 1.0, "sentiment"))
    headline: str = ""
    source: str = ""
    data: Mapping[str, Any] = attrs.field(
        factory=dict, converter=lambda v: MappingProxyType(dict(v or {}))
    )
