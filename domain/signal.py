"""Trading signals: what a strategy, an alert rule or an RL agent wants to do."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import attrs

from domain.errors import InvalidInput
from domain.values import Action, aware, enum_value, optional_positive, ticker, unit_interval


def _frozen_mapping(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(value or {}))


def _non_empty(_: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(attribute.name, value, "a non-empty string")


def _finite_score(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not (value >= 0.0) or (
        value == float("inf")
    ):
        raise InvalidInput(attribute.name, value, "a finite number >= 0")


def _size_hint(_: object, attribute: attrs.Attribute[float | None], value: float | None) -> None:
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, int | float) or not (0.0 < value <= 1.0)
    ):
        raise InvalidInput(attribute.name, value, "a fraction of the portfolio in (0, 1]")



def _confidence(v: Any) -> float:
    return unit_interval(v, "confidence")


def _ts(v: Any) -> datetime:
    return aware(v, "ts")


def _entry_price(v: Any) -> Decimal | None:
    return optional_positive(v, "entry_price")


def _stop_loss(v: Any) -> Decimal | None:
    return optional_positive(v, "stop_loss")


def _take_profit(v: Any) -> Decimal | None:
    return optional_positive(v, "take_profit")


def _action(v: Any) -> Action:
    return enum_value(Action, v, "action")


@attrs.frozen
class Signal:
    """A request to trade, validated on construction.

    Parameters
    ----------
    signal_id
        Stable identity; client order ids derive from it, so it must be deterministic for the
        same alert or bar (never random).
    ticker, action, confidence
        What to trade, BUY / SELL / HOLD, and how sure the source is, in [0, 1].
    ts
        When the signal was generated (timezone-aware).
    catalyst_score
        Score of the catalyst behind the signal (>= 0), if any.
    entry_price, stop_loss, take_profit
        Optional plan prices; the executor fills in what is missing.
    size_hint
        Optional fraction of the portfolio the source suggests, in (0, 1].
    strategy
        Name of the source (rule set, strategy callable, agent name@version).
    """

    signal_id: str = attrs.field(validator=_non_empty)
    ticker: str = attrs.field(converter=ticker)
    action: Action = attrs.field(converter=_action)
    confidence: float = attrs.field(converter=_confidence)
    ts: datetime = attrs.field(converter=_ts)
    catalyst_score: float = attrs.field(default=0.0, validator=_finite_score)
    entry_price: Decimal | None = attrs.field(
        default=None, converter=_entry_price
    )
    stop_loss: Decimal | None = attrs.field(
        default=None, converter=_stop_loss
    )
    take_profit: Decimal | None = attrs.field(
        default=None, converter=_take_profit
    )
    size_hint: float | None = attrs.field(default=None, validator=_size_hint)
    strategy: str = attrs.field(default="default", validator=_non_empty)
    metadata: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen_mapping)

    @property
    def is_actionable(self) -> bool:
        """Return True unless the signal is a HOLD."""
        return self.action is not Action.HOLD
