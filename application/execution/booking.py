"""Fill booking: broker events to order state, fills to positions.

Fills arrive as broker events (:meth:`FillBooking.apply_events`, called by the engine each
step): they move the order through its state machine, are stored once each, and are booked by
the domain's one booking rule (:func:`domain.portfolio.book_fill`, through
:func:`application.reconcile.apply_fill_to_positions`, shared with reconciliation). The
position an entry opens or grows is armed from its order's :class:`~domain.trade_plan.EntryPlan`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import structlog

from application.execution.submit import ExecutorCore
from application.ports import UnitOfWork
from application.reconcile import apply_fill_to_positions
from domain.audit import ExecutionRecord
from domain.errors import DuplicateFill, IllegalTransition, InvalidInput, OverFill
from domain.events import Fill, OrderEvent, OrderFilled
from domain.orders import Order
from domain.position import ClosedPosition, Position
from domain.trade_plan import EntryPlan

log = structlog.get_logger("application.executor")

__all__ = ["FillBooking"]


class FillBooking(ExecutorCore):
    """Broker events applied to orders; fills booked to positions and armed from plans."""

    def apply_events(self, events: Iterable[OrderEvent], uow: UnitOfWork, now: datetime
                     ) -> list[ClosedPosition]:
        """Apply broker events (status changes and fills); return positions they closed."""
        closed: list[ClosedPosition] = []
        for ev in events:
            order = uow.orders.get(ev.client_order_id)
            if order is None:
                log.info("executor.unknown_order_event", client_order_id=ev.client_order_id)
                continue
            if isinstance(ev, OrderFilled):
                if uow.fills.exists(ev.fill.fill_id):
                    continue
                try:
                    order.apply(ev)
                except (DuplicateFill, IllegalTransition, OverFill, InvalidInput) as exc:
                    log.warning("executor.fill_not_applied", error=str(exc))
                    continue
                uow.orders.record_event(ev)
                uow.orders.save(order)
                uow.fills.add(ev.fill)
                c = self._book(order, ev.fill, uow, now)
                if c is not None:
                    closed.append(c)
            else:
                self._move(order, ev, uow)
        self.closed_positions.extend(closed)
        return closed


    def _book(self, order: Order, fill: Fill, uow: UnitOfWork, now: datetime
              ) -> ClosedPosition | None:
        """Book a fill by the domain's booking rule (shared with reconciliation); arm the
        position it opens or grows with its order's plan; count a close for the breakers."""
        req = order.request
        uow.journal.add_execution(ExecutionRecord(
            ts=fill.ts_event, ticker=fill.ticker, action=fill.side.value, stage="fill",
            success=True, signal_id=req.signal_id, client_order_id=order.client_order_id,
            position_id=req.position_id, entry_price=fill.price, quantity=fill.quantity,
            metadata={"fill_id": fill.fill_id, "commission": str(fill.commission)},
        ))
        held = uow.positions.open_for(fill.ticker)
        if req.reduce_only and (held is None or held.side.exit_side is not fill.side
                                or fill.quantity > held.quantity):
            # an exit's fill that does not fit within the position it was sent to shrink: the
            # book follows the broker (a remainder opens a position on the other side), loudly
            log.warning("executor.reduce_only_overfill", client_order_id=order.client_order_id,
                        ticker=fill.ticker, fill_qty=str(fill.quantity),
                        held=str(held.signed_quantity) if held is not None else "0")
            uow.journal.add_execution(ExecutionRecord(
                ts=fill.ts_event, ticker=fill.ticker, action=fill.side.value, stage="fill",
                success=False, signal_id=req.signal_id, client_order_id=order.client_order_id,
                position_id=req.position_id, entry_price=fill.price, quantity=fill.quantity,
                error_message=f"reduce-only {fill.side.value} fill of {fill.quantity} does not "
                              "fit within the position held "
                              f"({held.signed_quantity if held is not None else 0}): booked "
                              "as the broker holds it (a remainder opens a position on the "
                              "other side)",
                metadata={"fill_id": fill.fill_id},
            ))
        stored = self._plan(uow, order.client_order_id)
        plan = stored if isinstance(stored, EntryPlan) else None

        def prepare(pos: Position, opened: bool) -> None:
            if opened:
                pos.strategy = req.strategy
                pos.signal_id = req.signal_id
                pos.signal_confidence = plan.confidence if plan is not None else None
                pos.catalyst_score = plan.catalyst_score if plan is not None else None
                pos.atr = float(plan.atr) if plan is not None and plan.atr is not None else None
                pos.metadata = {"alert_id": plan.alert_id if plan is not None else None}
            if plan is not None:
                self._set_exits(pos, plan)

        closed: ClosedPosition | None = None
        for outcome in apply_fill_to_positions(
            uow, fill, first_fill_of_order=len(order.fill_ids) == 1, exit_reason=None,
            prepare=prepare,
        ):
            if outcome.closed is not None:
                closed = outcome.closed
                if self.risk is not None:
                    self.risk.record_trade(closed, uow=uow)
        return closed

    def _set_exits(self, pos: Position, plan: EntryPlan) -> None:
        """Arm ``pos`` with the plan's stop and target re-anchored at its average entry, and
        the plan's trailing stop (the executor's own setting for a plan that has none)."""
        band = self.plan_config()
        stop, target = plan.exits_at(pos.side.entry_side, pos.avg_entry_price,
                                     min_stop_pct=band.min_stop_pct,
                                     max_stop_pct=band.max_stop_pct)
        trailing = plan.trailing if plan.trailing is not None else self.config.trailing
        pos.set_exits(stop, target, trailing)


    def after_reconcile(self, uow: UnitOfWork, now: datetime) -> int:
        """Give positions that reconciliation opened from an adopted fill their entry plan.

        A fill adopted by :class:`~application.reconcile.Reconciler` opens or grows a position
        without the executor's plan; an open position with no stop whose entry order has a
        stored entry plan gets that plan's stop, target and trailing stop (re-anchored at its
        average entry) and the signal's identity. Returns how many positions were armed.
        """
        armed = 0
        for pos in uow.positions.list_open():
            if pos.stop_loss is not None or not pos.entry_order_id:
                continue
            plan = self._plan(uow, pos.entry_order_id)
            if not isinstance(plan, EntryPlan):
                continue
            order = uow.orders.get(pos.entry_order_id)
            if order is not None:
                pos.signal_id = pos.signal_id or order.request.signal_id
                pos.strategy = pos.strategy or order.request.strategy
            if pos.signal_confidence is None:
                pos.signal_confidence = plan.confidence
            try:
                self._set_exits(pos, plan)
            except InvalidInput as exc:
                log.warning("executor.adopted_position_not_armed", position=pos.position_id,
                            error=str(exc))
                continue
            pos.metadata["adopted_by"] = "reconciliation"
            pos.metadata.setdefault("alert_id", plan.alert_id)
            uow.positions.save(pos)
            armed += 1
            log.info("executor.adopted_position_armed", position=pos.position_id,
                     stop=str(pos.stop_loss), target=str(pos.take_profit), ts=now.isoformat())
        return armed

