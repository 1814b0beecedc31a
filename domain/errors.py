"""Typed errors of the domain.

Expected failures (bad input, broker down, rule breached) are typed errors; invariant
violations raise :class:`InvariantViolation` so that corrupt state crashes loudly.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every error the project raises on purpose."""


class InvalidInput(DomainError, ValueError):
    """A value failed validation; names the field, the value and what was expected."""

    def __init__(self, field: str, value: Any, expected: str) -> None:
        self.field = field
        self.value = value
        self.expected = expected
        super().__init__(f"invalid {field}: got {value!r}, expected {expected}")


class InvariantViolation(DomainError, AssertionError):
    """The model was asked to enter a state that must never exist."""


class IllegalTransition(InvariantViolation):
    """An order was asked to move along an edge its state table does not have."""

    def __init__(self, client_order_id: str, current: Any, target: Any, event: str) -> None:
        self.client_order_id = client_order_id
        self.current = current
        self.target = target
        super().__init__(
            f"order {client_order_id}: illegal transition {current} -> {target} on {event}"
        )


class DuplicateFill(DomainError):
    """A fill whose id was already applied; replayed broker events must not double a position."""

    def __init__(self, fill_id: str, target: str) -> None:
        self.fill_id = fill_id
        super().__init__(f"fill {fill_id!r} was already applied to {target}")


class OverFill(InvariantViolation):
    """A fill would take an order or a position beyond its quantity."""


class ConcurrencyConflict(DomainError):
    """Another writer changed the entity first (optimistic concurrency)."""


class NotFound(DomainError):
    """An entity or record that was asked for does not exist."""


class TradingHalted(DomainError):
    """Trading is halted; only a recorded manual approval resumes it."""


class BrokerError(DomainError):
    """Base of failures reported by a broker adapter, already translated from the vendor."""

    retryable: bool = False


class BrokerUnavailable(BrokerError):
    """The broker could not be reached or answered 5xx; the outcome of a submit is unknown."""

    retryable = True


class RateLimited(BrokerError):
    """The broker asked us to slow down (HTTP 429)."""

    retryable = True


class AuthFailed(BrokerError):
    """The broker rejected our credentials (the key is never echoed)."""


class OrderRejected(BrokerError):
    """The broker refused an order; ``reason`` says why in the broker's terms."""

    def __init__(self, reason: str, client_order_id: str | None = None) -> None:
        self.reason = reason
        self.client_order_id = client_order_id
        prefix = f"order {client_order_id} rejected" if client_order_id else "order rejected"
        super().__init__(f"{prefix}: {reason}")


class InsufficientBuyingPower(OrderRejected):
    """Not enough buying power for the order."""


class MarketClosed(OrderRejected):
    """The market is closed and the order does not allow extended hours."""


class InvalidOrder(OrderRejected):
    """The order is malformed for the broker (bad price, bad quantity, bad combination)."""


class DuplicateClientOrderId(BrokerError):
    """The broker already holds an order with this client order id: it was placed before."""

    def __init__(self, client_order_id: str) -> None:
        self.client_order_id = client_order_id
        super().__init__(f"client order id {client_order_id!r} already placed")


class OrderNotFound(BrokerError, NotFound):
    """The broker has no such order."""
