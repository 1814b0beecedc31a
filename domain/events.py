"""Domain events. Each carries identity and time: ``event_id``, ``ts_event``, ``ts_init``.

``ts_event`` is when it happened (at the broker, in the market); ``ts_init`` is when we
learned of it. Event ids are deterministic for the same content unless one is given, so a
replayed broker event is recognised as the same event.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType
from typing import Any

import attrs

from domain.errors import InvalidInput
from domain.ids import event_id as make_event_id
from domain.values import (
    ExitReason,
    Side,
    aware,
    enum_value,
    non_negative,
    positive,
    ticker,
)


class OrderStatus(StrEnum):
    """Lifecycle of an order: ours (initialized, submitted) plus every status Alpaca reports."""

    INITIALIZED = "initialized"  # persisted locally, not yet sent
    SUBMITTED = "submitted"  # sent; the broker has not answered yet
    PENDING_NEW = "pending_new"
    ACCEPTED = "accepted"
    NEW = "new"
    HELD = "held"  # a bracket leg waiting for its parent
    ACCEPTED_FOR_BIDDING = "accepted_for_bidding"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    DONE_FOR_DAY = "done_for_day"
    PENDING_CANCEL = "pending_cancel"
    PENDING_REPLACE = "pending_replace"
    CANCELED = "canceled"
    EXPIRED = "expired"
    REPLACED = "replaced"
    REJECTED = "rejected"
    STOPPED = "stopped"
    SUSPENDED = "suspended"
    CALCULATED = "calculated"

    @property
    def is_terminal(self) -> bool:
        """Return True once the order can never change again."""
        return self in TERMINAL_STATUSES

    @property
    def is_open(self) -> bool:
        """Return True while the order may still fill or be canceled."""
        return self not in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset(
    {
        OrderStatus.FILLED,
        OrderStatus.CANCELED,
        OrderStatus.EXPIRED,
        OrderStatus.REPLACED,
        OrderStatus.REJECTED,
    }
)


def _freeze(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(value or {}))



def _quantity(v: Any) -> Decimal:
    return positive(v, "quantity")


def _price(v: Any) -> Decimal:
    return positive(v, "price")


def _ts_event(v: Any) -> datetime:
    return aware(v, "ts_event")


def _commission(v: Any) -> Decimal:
    return non_negative(v, "commission")


def _side(v: Any) -> Side:
    return enum_value(Side, v, "side")


def _status(v: Any) -> OrderStatus:
    return enum_value(OrderStatus, v, "status")


@attrs.frozen
class Fill:
    """One execution of (part of) an order. ``fill_id`` is unique per broker execution."""

    fill_id: str
    client_order_id: str
    ticker: str = attrs.field(converter=ticker)
    side: Side = attrs.field(converter=_side)
    quantity: Decimal = attrs.field(converter=_quantity)
    price: Decimal = attrs.field(converter=_price)
    ts_event: datetime = attrs.field(converter=_ts_event)
    commission: Decimal = attrs.field(
        default=Decimal(0), converter=_commission
    )
    ts_init: datetime | None = None
    broker_order_id: str | None = None

    def __attrs_post_init__(self) -> None:
        if not self.fill_id:
            raise InvalidInput("fill_id", self.fill_id, "a non-empty execution id")

    @property
    def notional(self) -> Decimal:
        """Return quantity times price."""
        return self.quantity * self.price

    @property
    def signed_quantity(self) -> Decimal:
        """Return the quantity, negative for a sell."""
        return self.quantity if self.side is Side.BUY else -self.quantity


@attrs.frozen(kw_only=True)
class OrderEvent:
    """Base of the events that move an order through its state table."""

    client_order_id: str
    ts_event: datetime = attrs.field(converter=_ts_event)
    ts_init: datetime | None = None
    broker_order_id: str | None = None
    event_id: str = ""

    #: the status this event moves the order to (fills compute theirs).
    target: OrderStatus | None = attrs.field(default=None, init=False)

    def __attrs_post_init__(self) -> None:
        if not self.event_id:
            object.__setattr__(
                self,
                "event_id",
                make_event_id(type(self).__name__, self.client_order_id, self.ts_event.isoformat(),
                              self._identity()),
            )

    def _identity(self) -> str:
        return ""


@attrs.frozen(kw_only=True)
class OrderSubmitted(OrderEvent):
    """The order was sent to the broker."""

    target: OrderStatus | None = attrs.field(default=OrderStatus.SUBMITTED, init=False)


@attrs.frozen(kw_only=True)
class OrderStatusChanged(OrderEvent):
    """The broker reports a status that carries no fill (accepted, new, held, canceled...)."""

    status: OrderStatus = attrs.field(converter=_status)
    reason: str | None = None

    def __attrs_post_init__(self) -> None:
        if self.status in (OrderStatus.FILLED, OrderStatus.PARTIALLY_FILLED):
            raise InvalidInput("status", self.status, "a status without a fill; use OrderFilled")
        object.__setattr__(self, "target", self.status)
        super().__attrs_post_init__()

    def _identity(self) -> str:
        return f"{self.status}:{self.reason or ''}"


@attrs.frozen(kw_only=True)
class OrderFilled(OrderEvent):
    """The broker executed (part of) the order."""

    fill: Fill

    def __attrs_post_init__(self) -> None:
        if self.fill.client_order_id != self.client_order_id:
            raise InvalidInput(
                "fill.client_order_id", self.fill.client_order_id, self.client_order_id
            )
        super().__attrs_post_init__()

    def _identity(self) -> str:
        return self.fill.fill_id


@attrs.frozen(kw_only=True)
class PositionOpened:
    """A position came into being from its first fill."""

    position_id: str
    ticker: str
    ts_event: datetime
    event_id: str = ""


@attrs.frozen(kw_only=True)
class ExitTriggered:
    """A stop-loss, trailing stop, take-profit or time exit fired for a position."""

    position_id: str
    ticker: str
    reason: ExitReason
    trigger_price: Decimal
    level: Decimal | None
    ts_event: datetime
    was_trailing: bool = False
    event_id: str = ""

    def __attrs_post_init__(self) -> None:
        if not self.event_id:
            object.__setattr__(
                self,
                "event_id",
                make_event_id("exit", self.position_id, self.reason, self.ts_event.isoformat()),
            )


class RiskState(StrEnum):
    """Trading state: ACTIVE trades; REDUCING takes exits only; HALTED takes nothing new."""

    ACTIVE = "active"
    REDUCING = "reducing"
    HALTED = "halted"


@attrs.frozen(kw_only=True)
class RiskEvent:
    """A risk decision, a breaker trip, a kill or a resume, kept for audit."""

    kind: str
    rule: str
    message: str
    ts_event: datetime
    value: str | None = None
    limit: str | None = None
    state: RiskState | None = None
    actor: str | None = None
    data: Mapping[str, Any] = attrs.field(factory=dict, converter=_freeze)
    event_id: str = ""

    def __attrs_post_init__(self) -> None:
        if not self.event_id:
            object.__setattr__(
                self,
                "event_id",
                make_event_id("risk", self.kind, self.rule, self.ts_event.isoformat(),
                              self.message),
            )
