"""The order executor: signal -> validate -> size -> plan -> risk -> persist -> submit -> fills.

This module is the facade: :class:`OrderExecutor` composes the jobs of
:mod:`application.execution` (signal intake, exits, fill booking, housekeeping, over the shared
persist-then-send core) into the one object the engine, the monitor and the entrypoints use.

Every attempt leaves an execution-log row (success or not, with its timing). The order is
written with its deterministic client order id and committed *before* it is sent; after any
failed or ambiguous submit the broker is asked for the order by that id before anything is
sent again, so a retry or a restart can never place a second order.

Fills arrive as broker events (:meth:`OrderExecutor.apply_events`, called by the engine each
step): they move the order through its state machine, are stored once each, and open, grow,
reduce or close the position. Orders working longer than ``fill_timeout`` are canceled; a
partial fill is kept.
"""

from __future__ import annotations

from application.execution.booking import FillBooking
from application.execution.housekeeping import Housekeeping
from application.execution.intake import SignalIntake
from application.execution.results import ExecutionResult, ExecutionStatus, summarize
from application.execution.submit import PLAN_KEY, ExecutorConfig
from domain.portfolio import position_id_for

__all__ = [
    "PLAN_KEY",
    "ExecutionResult",
    "ExecutionStatus",
    "ExecutorConfig",
    "OrderExecutor",
    "position_id_for",
    "summarize",
]


class OrderExecutor(SignalIntake, FillBooking, Housekeeping):
    """Signals to orders, broker events to fills and positions.

    Every method works inside the caller's open unit of work (the engine's step) and never
    opens its own transaction; it commits only to make an order durable before it is sent.
    """
