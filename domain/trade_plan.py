"""The typed trade plan an order is sent with, and its versioned codec.

Every order the executor places carries a plan, stored next to the order under its client
order id: an :class:`EntryPlan` (what the signal asked for, how the entry was sized, where its
stop, target and trailing stop go) or an :class:`ExitPlan` (why a position is being closed).
When the entry's fills arrive, the position they open is armed from the entry plan, re-anchored
at the actual fill price (the distances are kept as fractions of the entry for that reason).

The codec turns a plan into a plain dict with a ``version`` field and back. Version 2 is a
superset of the unversioned dicts stored before the plan was typed (version 1), so both load:
a version-1 plan lacks ``entry``, ``quantity`` and ``trailing``, which decode as None. A dict
without a ``kind`` holds no plan (:func:`plan_from_dict` returns None); anything else that does
not fit raises :class:`~domain.errors.InvalidInput` naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import TypeVar

import attrs

from domain.errors import InvalidInput
from domain.position import TrailingStopConfig
from domain.risk.plan import levels
from domain.risk.sizing import SizingMethod
from domain.values import ExitReason, Side

__all__ = [
    "PLAN_VERSION",
    "EntryPlan",
    "ExitPlan",
    "TradePlan",
    "plan_from_dict",
    "plan_to_dict",
]

#: the version :func:`plan_to_dict` writes
PLAN_VERSION = 2


@attrs.frozen(kw_only=True)
class EntryPlan:
    """The plan of an entry order, decided when its signal was taken.

    ``stop_pct`` and ``target_pct`` are the stop and target distances as fractions of the
    entry; ``stop_loss`` and ``take_profit`` are those levels at the planned ``entry`` price.
    ``basis`` says where the distances came from (``atr``, ``fallback`` or ``signal``).
    ``trailing`` is the trailing stop planned for the position (None: not planned, or a plan
    stored before the field existed; the executor's own setting then applies).
    """

    signal_id: str
    strategy: str | None = None
    confidence: float | None = None
    catalyst_score: float | None = None
    alert_id: str | None = None
    entry: Decimal | None = None
    quantity: Decimal | None = None
    stop_pct: Decimal
    target_pct: Decimal
    stop_loss: Decimal
    take_profit: Decimal
    atr: Decimal | None = None
    basis: str
    sizing_method: SizingMethod
    sizing: str = ""
    trailing: TrailingStopConfig | None = None

    def exits_at(self, side: Side, entry: Decimal, *, min_stop_pct: Decimal | None = None,
                 max_stop_pct: Decimal | None = None) -> tuple[Decimal, Decimal]:
        """Return (stop, target) for an entry on ``side`` that filled at ``entry``, on valid
        ticks, the stop kept in ``[min_stop_pct, max_stop_pct]`` where rounding allows."""
        return levels(side, entry, self.stop_pct, self.target_pct,
                      min_stop_pct=min_stop_pct, max_stop_pct=max_stop_pct)


@attrs.frozen(kw_only=True)
class ExitPlan:
    """The plan of an order that closes a position: which position, why, at what trigger."""

    position_id: str
    reason: ExitReason
    trigger_price: Decimal
    level: Decimal | None = None


TradePlan = EntryPlan | ExitPlan
_E = TypeVar("_E", ExitReason, SizingMethod)


def _s(x: Decimal | None) -> str | None:
    return None if x is None else str(x)


def plan_to_dict(plan: TradePlan) -> dict[str, object]:
    """Return ``plan`` as a JSON-ready dict (decimals as strings) with ``version`` and ``kind``."""
    if isinstance(plan, ExitPlan):
        return {
            "version": PLAN_VERSION, "kind": "exit", "reason": plan.reason.value,
            "position_id": plan.position_id, "trigger_price": str(plan.trigger_price),
            "level": _s(plan.level),
        }
    trailing = None if plan.trailing is None else {
        "activation_pct": str(plan.trailing.activation_pct),
        "trail_pct": str(plan.trailing.trail_pct),
    }
    return {
        "version": PLAN_VERSION, "kind": "entry", "signal_id": plan.signal_id,
        "strategy": plan.strategy, "confidence": plan.confidence,
        "catalyst_score": plan.catalyst_score, "alert_id": plan.alert_id,
        "entry": _s(plan.entry), "quantity": _s(plan.quantity),
        "stop_pct": str(plan.stop_pct), "target_pct": str(plan.target_pct),
        "stop_loss": str(plan.stop_loss), "take_profit": str(plan.take_profit),
        "atr": _s(plan.atr), "basis": plan.basis, "sizing_method": plan.sizing_method.value,
        "sizing": plan.sizing, "trailing": trailing,
    }


def plan_from_dict(data: Mapping[str, object]) -> TradePlan | None:
    """Return the plan stored as ``data`` (version 1 or 2); None when it holds no plan."""
    version = data.get("version", 1)
    if isinstance(version, bool) or version not in (1, PLAN_VERSION):
        raise InvalidInput("plan.version", version, f"1 or {PLAN_VERSION}")
    kind = data.get("kind")
    if kind is None:
        return None
    if kind == "exit":
        return ExitPlan(
            position_id=_text(data, "position_id"),
            reason=_enum(data, "reason", ExitReason),
            trigger_price=_dec(data, "trigger_price"),
            level=_opt_dec(data, "level"),
        )
    if kind != "entry":
        raise InvalidInput("plan.kind", kind, "'entry' or 'exit'")
    return EntryPlan(
        signal_id=_text(data, "signal_id"),
        strategy=_opt_text(data, "strategy"),
        confidence=_opt_float(data, "confidence"),
        catalyst_score=_opt_float(data, "catalyst_score"),
        alert_id=_opt_text(data, "alert_id"),
        entry=_opt_dec(data, "entry"),
        quantity=_opt_dec(data, "quantity"),
        stop_pct=_dec(data, "stop_pct"),
        target_pct=_dec(data, "target_pct"),
        stop_loss=_dec(data, "stop_loss"),
        take_profit=_dec(data, "take_profit"),
        atr=_opt_dec(data, "atr"),
        basis=_text(data, "basis"),
        sizing_method=_enum(data, "sizing_method", SizingMethod),
        sizing=_opt_text(data, "sizing") or "",
        trailing=_trailing(data.get("trailing")),
    )


def _text(data: Mapping[str, object], key: str) -> str:
    v = data.get(key)
    if not isinstance(v, str) or not v:
        raise InvalidInput(f"plan.{key}", v, "a non-empty string")
    return v


def _opt_text(data: Mapping[str, object], key: str) -> str | None:
    v = data.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, str | int):
        raise InvalidInput(f"plan.{key}", v, "a string or null")
    return str(v)


def _opt_float(data: Mapping[str, object], key: str) -> float | None:
    v = data.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float | str):
        raise InvalidInput(f"plan.{key}", v, "a number or null")
    try:
        return float(v)
    except ValueError:
        raise InvalidInput(f"plan.{key}", v, "a number or null") from None


def _opt_dec(data: Mapping[str, object], key: str) -> Decimal | None:
    return None if data.get(key) is None else _dec(data, key)


def _dec(data: Mapping[str, object], key: str) -> Decimal:
    v = data.get(key)
    if isinstance(v, bool) or not isinstance(v, str | int):
        raise InvalidInput(f"plan.{key}", v, "a decimal number as a string")
    try:
        d = Decimal(str(v))
    except InvalidOperation:
        raise InvalidInput(f"plan.{key}", v, "a decimal number as a string") from None
    if not d.is_finite():
        raise InvalidInput(f"plan.{key}", v, "a finite decimal number")
    return d


def _enum(data: Mapping[str, object], key: str, kind: type[_E]) -> _E:
    v = data.get(key)
    allowed = ", ".join(repr(m.value) for m in kind)
    if not isinstance(v, str):
        raise InvalidInput(f"plan.{key}", v, f"one of {allowed}")
    try:
        return kind(v)
    except ValueError:
        raise InvalidInput(f"plan.{key}", v, f"one of {allowed}") from None


def _trailing(v: object) -> TrailingStopConfig | None:
    if v is None:
        return None
    if not isinstance(v, Mapping):
        raise InvalidInput("plan.trailing", v, "an object with activation_pct and trail_pct")
    return TrailingStopConfig(activation_pct=_dec(v, "activation_pct"),
                              trail_pct=_dec(v, "trail_pct"))
