"""What the executor did with one signal or exit: a status and its reason."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

import attrs

__all__ = ["ExecutionResult", "ExecutionStatus", "summarize"]


class ExecutionStatus(StrEnum):
    """The outcome of one execution attempt (stored and printed as its value)."""

    SUBMITTED = "submitted"  # the entry order was sent
    SKIPPED = "skipped"  # nothing to do (hold, below threshold, already in, zero size, ...)
    REJECTED = "rejected"  # refused by the risk policy
    FAILED = "failed"  # could not be done (unknown ticker, broker error, broker rejection)
    EXISTS = "exists"  # an order for this signal was already placed
    EXIT = "exit"  # the closing order of a position was sent


@attrs.frozen
class ExecutionResult:
    """What :meth:`~application.executor.OrderExecutor.execute` did with one signal."""

    signal_id: str
    status: ExecutionStatus
    reason: str = ""
    client_order_id: str | None = None
    elapsed_s: float = 0.0


def summarize(results: Sequence[ExecutionResult]) -> dict[str, int]:
    """Return counts of execution results by status."""
    out: dict[str, int] = {}
    for r in results:
        out[r.status] = out.get(r.status, 0) + 1
    return out
