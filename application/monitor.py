"""The position monitor: marks open positions from bars and fires their exits, once each.

For every open position with a new bar: the exit check runs first with the levels in force
before the bar (stop-loss, trailing stop, take-profit; adverse first, gaps at the open), then
the position is marked (excursions, trailing stop). A position held longer than ``max_hold``
gets a time exit. A fired exit is journaled (the tickets' ``stop_loss_events``) and its closing
order sent through the executor; ``Position.exit_pending`` guarantees no second trigger until
that order fails.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal

import attrs

from application.executor import ExecutionResult, OrderExecutor
from application.ports import UnitOfWork
from domain.events import ExitTriggered
from domain.market import Bar
from domain.position import Position
from domain.values import ExitReason

__all__ = ["MonitorConfig", "PositionMonitor"]


def _d(x: float) -> Decimal:
    return Decimal(repr(x))


@attrs.frozen(kw_only=True)
class MonitorConfig:
    """Time exit after ``max_hold`` (None: never)."""

    max_hold: timedelta | None = timedelta(days=14)


class PositionMonitor:
    """Marks positions and turns triggered exits into closing orders."""

    def __init__(self, executor: OrderExecutor, config: MonitorConfig | None = None) -> None:
        self.executor = executor
        self.config = config or MonitorConfig()
        #: the open positions as :meth:`on_bars` last saw them (marked, exits pending)
        self.last_open: list[Position] = []

    def on_bars(self, bars: Mapping[str, Bar], uow: UnitOfWork, now: datetime
                ) -> list[ExitTriggered]:
        """Check and mark every open position that has a bar in ``bars``."""
        fired: list[ExitTriggered] = []
        self.last_open = uow.positions.list_open()
        for pos in self.last_open:
            bar = bars.get(pos.ticker)
            if bar is None:
                continue
            stamp = bar.ts.isoformat()
            if pos.metadata.get("marked_bar") == stamp:
                continue  # this bar was handled by an interrupted run of this very step
            pos.metadata["marked_bar"] = stamp
            ev = pos.check_exit(bar.ts, _d(bar.open), _d(bar.high), _d(bar.low))
            pos.mark(_d(bar.close), bar.ts, _d(bar.high), _d(bar.low))
            max_hold = self.config.max_hold
            if ev is None and max_hold is not None and bar.ts - pos.opened_at >= max_hold:
                ev = pos.trigger_exit(ExitReason.TIME_EXIT, _d(bar.close), bar.ts)
            uow.positions.save(pos)
            if ev is None:
                continue
            uow.journal.add_exit_event(ev)
            fired.append(ev)
            self.executor.submit_exit(pos, ev, uow, now)
        return fired

    def flatten(self, uow: UnitOfWork, now: datetime, reason: ExitReason = ExitReason.MANUAL
                ) -> list[ExecutionResult]:
        """Send closing orders for every open position without a pending exit."""
        out: list[ExecutionResult] = []
        for pos in uow.positions.list_open():
            price = pos.last_price or pos.avg_entry_price
            ev = pos.trigger_exit(reason, price, now)
            if ev is None:
                continue
            uow.positions.save(pos)
            uow.journal.add_exit_event(ev)
            out.append(self.executor.submit_exit(pos, ev, uow, now))
        return out
