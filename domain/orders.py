"""The order entity and its explicit state machine."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal

import attrs

from domain.commands import SubmitOrder
from domain.errors import DuplicateFill, IllegalTransition, InvalidInput, OverFill
from domain.events import (
    TERMINAL_STATUSES,
    Fill,
    OrderEvent,
    OrderFilled,
    OrderStatus,
    OrderStatusChanged,
    OrderSubmitted,
)
from domain.values import ZERO, OrderClass, OrderType, Side, TimeInForce

S = OrderStatus

_BROKER_STATES = frozenset(s for s in S if s not in (S.INITIALIZED, S.SUBMITTED))
_WORKING = frozenset(
    {
        S.PENDING_NEW, S.ACCEPTED, S.NEW, S.HELD, S.ACCEPTED_FOR_BIDDING, S.PARTIALLY_FILLED,
        S.DONE_FOR_DAY, S.PENDING_CANCEL, S.PENDING_REPLACE, S.STOPPED, S.SUSPENDED,
        S.CALCULATED,
    }
)
_LIVE_EXITS = frozenset(
    {S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.EXPIRED, S.PENDING_CANCEL, S.PENDING_REPLACE,
     S.REPLACED, S.DONE_FOR_DAY, S.STOPPED, S.SUSPENDED, S.CALCULATED}
)

#: The state table. A status not listed as a key is terminal. Initialized and submitted
#: orders may jump to any broker status because reconciliation can find an order the
#: broker accepted (or even filled) before we stored its answer.
ORDER_STATE_TABLE: Mapping[OrderStatus, frozenset[OrderStatus]] = {
    S.INITIALIZED: frozenset({S.SUBMITTED}) | _BROKER_STATES,
    S.SUBMITTED: _BROKER_STATES,
    S.PENDING_NEW: frozenset({S.ACCEPTED, S.NEW, S.HELD, S.REJECTED}) | _LIVE_EXITS,
    S.ACCEPTED: frozenset({S.NEW, S.HELD, S.REJECTED, S.ACCEPTED_FOR_BIDDING}) | _LIVE_EXITS,
    S.NEW: frozenset({S.ACCEPTED, S.REJECTED}) | _LIVE_EXITS,
    S.HELD: frozenset({S.NEW, S.ACCEPTED}) | _LIVE_EXITS,
    S.ACCEPTED_FOR_BIDDING: frozenset({S.NEW, S.ACCEPTED}) | _LIVE_EXITS,
    S.PARTIALLY_FILLED: _LIVE_EXITS,
    S.DONE_FOR_DAY: frozenset({S.NEW, S.ACCEPTED}) | _LIVE_EXITS,
    S.PENDING_CANCEL: frozenset({S.NEW, S.ACCEPTED}) | _LIVE_EXITS,
    S.PENDING_REPLACE: frozenset({S.NEW, S.ACCEPTED}) | _LIVE_EXITS,
    S.STOPPED: _LIVE_EXITS,
    S.SUSPENDED: frozenset({S.NEW, S.ACCEPTED}) | _LIVE_EXITS,
    S.CALCULATED: _LIVE_EXITS,
}
#: Statuses in which a fill may arrive.
FILLABLE = frozenset({S.INITIALIZED, S.SUBMITTED}) | _WORKING


def can_transition(current: OrderStatus, target: OrderStatus) -> bool:
    """Return True when the state table has an edge from ``current`` to ``target``."""
    return target in ORDER_STATE_TABLE.get(current, frozenset())


@attrs.define(eq=False, init=False)
class Order:
    """An order and everything that happened to it; its state changes only by :meth:`apply`.

    The order keeps the exact filled notional (the sum of ``quantity x price`` over its
    fills); the average fill price is derived from it (``filled_notional / filled_qty``), so
    it never drifts with the number or order of the fills.
    """

    request: SubmitOrder
    created_at: datetime
    status: OrderStatus = OrderStatus.INITIALIZED
    broker_order_id: str | None = None
    filled_qty: Decimal = ZERO
    filled_notional: Decimal = ZERO
    commission: Decimal = ZERO
    fill_ids: set[str] = attrs.field(factory=set)
    reject_reason: str | None = None
    submitted_at: datetime | None = None
    updated_at: datetime | None = None
    filled_at: datetime | None = None
    closed_at: datetime | None = None
    parent_id: str | None = None
    version: int = 0

    def __init__(
        self,
        request: SubmitOrder,
        created_at: datetime,
        status: OrderStatus = OrderStatus.INITIALIZED,
        broker_order_id: str | None = None,
        filled_qty: Decimal = ZERO,
        filled_notional: Decimal | None = None,
        commission: Decimal = ZERO,
        fill_ids: set[str] | None = None,
        reject_reason: str | None = None,
        submitted_at: datetime | None = None,
        updated_at: datetime | None = None,
        filled_at: datetime | None = None,
        closed_at: datetime | None = None,
        parent_id: str | None = None,
        version: int = 0,
        *,
        avg_fill_price: Decimal | None = None,
    ) -> None:
        """Build an order; a store that kept only the average fill price may pass
        ``avg_fill_price`` instead of ``filled_notional`` (the notional is then
        ``avg_fill_price x filled_qty``). Passing both, inconsistent, raises."""
        if filled_notional is None:
            filled_notional = (avg_fill_price or ZERO) * filled_qty
        elif avg_fill_price is not None and filled_qty and \
                filled_notional / filled_qty != avg_fill_price:
            raise InvalidInput("avg_fill_price", avg_fill_price,
                               f"filled_notional / filled_qty = {filled_notional / filled_qty}")
        self.__attrs_init__(
            request, created_at, status, broker_order_id, filled_qty, filled_notional,
            commission, set(fill_ids or ()), reject_reason, submitted_at, updated_at,
            filled_at, closed_at, parent_id, version,
        )

    @classmethod
    def create(
        cls, request: SubmitOrder, created_at: datetime, parent_id: str | None = None
    ) -> Order:
        """Return a new order in status ``initialized`` for ``request``."""
        return cls(request=request, created_at=created_at, updated_at=created_at,
                   parent_id=parent_id)

    # --- read-only views ---------------------------------------------------------------
    @property
    def client_order_id(self) -> str:
        """Return the deterministic id we gave the order."""
        return self.request.client_order_id

    @property
    def ticker(self) -> str:
        """Return the instrument."""
        return self.request.ticker

    @property
    def side(self) -> Side:
        """Return buy or sell."""
        return self.request.side

    @property
    def quantity(self) -> Decimal:
        """Return the ordered quantity."""
        return self.request.quantity

    @property
    def order_type(self) -> OrderType:
        """Return the order type."""
        return self.request.order_type

    @property
    def order_class(self) -> OrderClass:
        """Return simple or bracket."""
        return self.request.order_class

    @property
    def time_in_force(self) -> TimeInForce:
        """Return the time in force."""
        return self.request.time_in_force

    @property
    def avg_fill_price(self) -> Decimal | None:
        """Return the average fill price, ``filled_notional / filled_qty`` (None unfilled)."""
        if self.filled_qty == 0:
            return None
        return self.filled_notional / self.filled_qty

    @property
    def leaves_qty(self) -> Decimal:
        """Return the quantity still to fill."""
        return self.request.quantity - self.filled_qty

    @property
    def is_open(self) -> bool:
        """Return True while the order can still fill or be canceled."""
        return self.status not in TERMINAL_STATUSES

    # --- the only way state changes -----------------------------------------------------
    def apply(self, event: OrderEvent) -> bool:
        """Apply ``event`` and return True if the order changed.

        A repeated status event is a no-op (False). A fill whose id was applied before
        raises :class:`DuplicateFill`; an edge missing from the state table raises
        :class:`IllegalTransition`, and the order is left untouched.
        """
        if event.client_order_id != self.client_order_id:
            raise InvalidInput("client_order_id", event.client_order_id, self.client_order_id)
        if isinstance(event, OrderFilled):
            self._apply_fill(event.fill, event)
            return True
        target = event.target
        assert target is not None
        if target is self.status:
            return False
        if not can_transition(self.status, target):
            raise IllegalTransition(self.client_order_id, self.status, target, type(event).__name__)
        self.status = target
        self.updated_at = event.ts_event
        if event.broker_order_id:
            self.broker_order_id = event.broker_order_id
        if isinstance(event, OrderSubmitted):
            self.submitted_at = event.ts_event
        if isinstance(event, OrderStatusChanged) and target is S.REJECTED:
            self.reject_reason = event.reason
        if target in TERMINAL_STATUSES:
            self.closed_at = event.ts_event
        self.version += 1
        return True

    def _apply_fill(self, fill: Fill, event: OrderEvent) -> None:
        if fill.fill_id in self.fill_ids:
            raise DuplicateFill(fill.fill_id, f"order {self.client_order_id}")
        if self.status not in FILLABLE:
            raise IllegalTransition(self.client_order_id, self.status, "fill", "OrderFilled")
        if fill.ticker != self.ticker or fill.side is not self.side:
            raise InvalidInput(
                "fill", f"{fill.side} {fill.ticker}", f"{self.side} {self.ticker} of the order"
            )
        new_qty = self.filled_qty + fill.quantity
        if new_qty > self.quantity:
            raise OverFill(
                f"order {self.client_order_id}: fill {fill.fill_id} of {fill.quantity} would "
                f"take filled quantity to {new_qty} > ordered {self.quantity}"
            )
        self.filled_notional += fill.notional
        self.filled_qty = new_qty
        self.commission += fill.commission
        self.fill_ids.add(fill.fill_id)
        self.status = S.FILLED if new_qty == self.quantity else S.PARTIALLY_FILLED
        self.updated_at = fill.ts_event
        if event.broker_order_id:
            self.broker_order_id = event.broker_order_id
        if self.status is S.FILLED:
            self.filled_at = fill.ts_event
            self.closed_at = fill.ts_event
        self.version += 1


@attrs.frozen
class OrderReport:
    """The broker's view of an order, as a broker adapter returns it."""

    client_order_id: str
    broker_order_id: str
    ticker: str
    side: Side
    quantity: Decimal
    order_type: OrderType
    status: OrderStatus
    filled_qty: Decimal = ZERO
    filled_avg_price: Decimal | None = None
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.DAY
    order_class: OrderClass = OrderClass.SIMPLE
    created_at: datetime | None = None
    updated_at: datetime | None = None
    reject_reason: str | None = None
    legs: tuple[OrderReport, ...] = ()
