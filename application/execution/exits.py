"""Exits: the market order that closes a position, sent once per exit trigger.

The risk policy sees the exit like any order (a halted book still may reduce); a refused or
failed exit re-arms the position's exit so the next bar can fire it again.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import structlog

from application.execution.results import ExecutionResult, ExecutionStatus
from application.execution.submit import ExecutorCore
from application.ports import UnitOfWork
from application.risk import market_view
from domain.audit import ExecutionRecord
from domain.commands import SubmitOrder
from domain.errors import BrokerError
from domain.events import ExitTriggered
from domain.ids import client_order_id as make_coid
from domain.position import Position
from domain.risk.inputs import OrderIntent, Purpose
from domain.trade_plan import ExitPlan
from domain.values import ExitReason, OrderType, TimeInForce

log = structlog.get_logger("application.executor")

__all__ = ["ExitOrders"]


class ExitOrders(ExecutorCore):
    """Closing orders for positions whose exit fired, and the kill switch's flatten."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.risk is not None:  # the kill switch flattens through stored orders
            self.risk.attach_flattener(self.flatten_positions)

    def flatten_positions(self, uow: UnitOfWork, now: datetime) -> tuple[list[str], int]:
        """Send a closing market order for every open position that has none working.

        Each order is stored (and committed) before it is sent, like every order, and is
        good till canceled: when the market is closed it trades at the next session's open.
        A position whose own exit order is still working at the broker keeps it. Returns the
        client order ids sent now and the number of positions still open.
        """
        sent: list[str] = []
        still_open = uow.positions.list_open()
        for pos in still_open:
            if pos.exit_pending is not None:
                working = [o for o in uow.orders.list(open_only=True, ticker=pos.ticker)
                           if o.request.position_id == pos.position_id and o.request.reduce_only]
                if any((r := self._lookup(o.client_order_id)) is None or r.status.is_open
                       for o in working):
                    continue
                pos.cancel_exit()
            bar = self.feed.latest_bar(pos.ticker)
            price = (Decimal(repr(bar.close)) if bar is not None and bar.close > 0
                     else pos.last_price or pos.avg_entry_price)
            trigger = pos.trigger_exit(ExitReason.KILL_SWITCH, price, now)
            if trigger is None:
                continue
            res = self.submit_exit(pos, trigger, uow, now, purpose=Purpose.PROTECTIVE,
                                   time_in_force=TimeInForce.GTC, flatten=True)
            if res.status is ExecutionStatus.EXIT and res.client_order_id:
                sent.append(res.client_order_id)
        return sent, len(still_open)

    def submit_exit(
        self, pos: Position, trigger: ExitTriggered, uow: UnitOfWork, now: datetime, *,
        purpose: Purpose = Purpose.PROTECTIVE, signal_id: str | None = None,
        time_in_force: TimeInForce | None = None, flatten: bool = False,
    ) -> ExecutionResult:
        """Send the market order that closes ``pos`` for ``trigger`` (exactly once per trigger).

        ``flatten``: the kill switch's closing order, remembered on the position so that the
        end of an older exit order does not re-arm the position's exits.
        """
        t0 = self._timer()
        attempt = int(pos.metadata.get("exit_attempts", 0)) + 1
        coid = make_coid(f"{pos.position_id}:{attempt}", "exit", pos.strategy or "")
        pos.metadata["exit_attempts"] = attempt
        if flatten:
            pos.metadata["flatten_order"] = coid
        uow.positions.save(pos)
        request = SubmitOrder(
            client_order_id=coid, ticker=pos.ticker, side=pos.side.exit_side,
            quantity=pos.quantity, order_type=OrderType.MARKET,
            time_in_force=time_in_force or self.config.time_in_force,
            signal_id=signal_id or pos.signal_id,
            strategy=pos.strategy, position_id=pos.position_id, reduce_only=True,
        )
        if self.risk is not None:
            price = trigger.trigger_price
            intent = OrderIntent.from_order(request, price, purpose)
            try:
                account = self.broker.get_account()
                mv = market_view(self.feed, [pos.ticker], now, lookback=2)
                decision = self.risk.check_order(intent, account, uow.positions.list_open(), mv,
                                                 uow=uow)
            except BrokerError as exc:
                decision = None
                log.warning("executor.exit_risk_unavailable", error=str(exc))
            if decision is not None and not decision.approved:
                pos.cancel_exit()
                uow.positions.save(pos)
                uow.journal.add_execution(ExecutionRecord(
                    ts=now, ticker=pos.ticker, action=request.side.value, stage="exit",
                    success=False, signal_id=pos.signal_id, client_order_id=coid,
                    position_id=pos.position_id, error_message=decision.message,
                    elapsed_seconds=self._timer() - t0, quantity=pos.quantity))
                return ExecutionResult(pos.signal_id or "", ExecutionStatus.REJECTED,
                                       decision.rule, coid)
        plan = ExitPlan(position_id=pos.position_id, reason=trigger.reason,
                        trigger_price=trigger.trigger_price, level=trigger.level)
        ok, reason = self._place(request, plan, uow, now)
        uow.journal.add_execution(ExecutionRecord(
            ts=now, ticker=pos.ticker, action=request.side.value, stage="exit", success=ok,
            signal_id=pos.signal_id, client_order_id=coid, position_id=pos.position_id,
            error_message=None if ok else reason, elapsed_seconds=self._timer() - t0,
            entry_price=pos.avg_entry_price, quantity=pos.quantity,
            metadata={"reason": trigger.reason.value, "trigger_price": str(trigger.trigger_price)},
        ))
        if not ok:
            order = uow.orders.get(coid)
            if order is not None and not order.is_open:
                fresh = uow.positions.get(pos.position_id)
                if fresh is not None:
                    fresh.cancel_exit()
                    uow.positions.save(fresh)
        return ExecutionResult(pos.signal_id or "", ExecutionStatus.EXIT if ok else ExecutionStatus.FAILED,
                               reason, coid)

