"""Persist-then-send and recovery: the core every executor job shares.

:class:`ExecutorCore` holds the executor's collaborators and state and the order lifecycle:
an order is written with its deterministic client order id and its typed plan and committed
*before* it is sent; after any failed or ambiguous submit the broker is asked for the order by
that id before anything is sent again, so a retry or a restart can never place a second order.
Broker answers and status events move the order through its state machine (:meth:`_move`); an
order that ends without filling re-arms the exit of the position it was closing.

Audit rows commit with what they record. The order's ``persist`` row is written in the
transaction that stores the order (committed before the send); the broker's answer (the
``submit`` or ``exit`` row the caller writes) is written in the same open transaction as the
order's status change that answer caused, so both commit together or neither does. When the
process dies between the two commits, the order is still ``initialized`` and has no answer
row: the restart's adoption or re-send writes that row together with the status change it
learns (:meth:`_audit_answer`), once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import attrs
import structlog

from application.ports import BrokerPort, PriceFeedPort, UnitOfWork
from application.risk import RiskService
from domain.audit import ExecutionRecord
from domain.commands import SubmitOrder
from domain.errors import (
    BrokerError,
    DomainError,
    DuplicateClientOrderId,
    IllegalTransition,
    OrderRejected,
)
from domain.events import OrderEvent, OrderStatus, OrderStatusChanged, OrderSubmitted
from domain.orders import Order, OrderReport
from domain.position import ClosedPosition, TrailingStopConfig
from domain.risk.plan import PlanConfig
from domain.risk.sizing import SizingConfig, SizingMethod
from domain.trade_plan import TradePlan, plan_from_dict, plan_to_dict
from domain.values import TimeInForce

log = structlog.get_logger("application.executor")

__all__ = ["ANSWER_STAGES", "PERSIST_STAGE", "PLAN_KEY", "ExecutorConfig", "ExecutorCore"]

#: key prefix of an order's plan in the unit of work's key/value state (+ client order id)
PLAN_KEY = "plan:"
#: the audit stage of an order stored before it is sent (committed with the order)
PERSIST_STAGE = "persist"
#: the audit stages that record the broker's answer to an order (entry, exit)
ANSWER_STAGES = ("submit", "exit")
S = OrderStatus


@attrs.frozen(kw_only=True)
class ExecutorConfig:
    """Executor settings (defaults: confidence-scaled size, ATR plan, trailing 5 % / 3 %)."""

    threshold: float = 0.70
    sizing_method: SizingMethod = SizingMethod.CONFIDENCE
    sizing: SizingConfig = attrs.field(factory=SizingConfig)
    plan: PlanConfig = attrs.field(factory=PlanConfig)
    trailing: TrailingStopConfig | None = attrs.field(factory=TrailingStopConfig)
    time_in_force: TimeInForce = TimeInForce.GTC
    fill_timeout: timedelta = timedelta(days=3)
    commit_before_send: bool = True
    allow_short: bool = True
    atr_lookback_days: int = 40




class ExecutorCore:
    """The executor's collaborators, its state and the order lifecycle shared by its jobs.

    Every method works inside the caller's open unit of work (the engine's step) and never
    opens its own transaction; it commits only to make an order durable before it is sent.
    """

    """Signals to orders, broker events to fills and positions.

    Every method works inside the caller's open unit of work (the engine's step) and never
    opens its own transaction; it commits only to make an order durable before it is sent.
    """

    def __init__(
        self,
        broker: BrokerPort,
        feed: PriceFeedPort,
        risk: RiskService | None = None,
        config: ExecutorConfig | None = None,
        *,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.broker = broker
        self.feed = feed
        self.risk = risk
        self.config = config or ExecutorConfig()
        self._timer = timer
        self.closed_positions: list[ClosedPosition] = []
        self._may_have_open: bool | None = None  # None: unknown (ask the store)
        self._deferred: list[tuple[datetime, str]] = []  # (created_at, client order id)


    def plan_config(self) -> PlanConfig:
        """Return the plan settings with the stop-distance band narrowed to the risk policy's
        (so a planned stop is never rejected for its distance after rounding to a tick)."""
        cfg = self.config.plan
        if self.risk is None:
            return cfg
        rc = self.risk.config
        lo, hi = max(cfg.min_stop_pct, rc.min_stop_pct), min(cfg.max_stop_pct, rc.max_stop_pct)
        if lo >= hi or (lo, hi) == (cfg.min_stop_pct, cfg.max_stop_pct):
            return cfg
        return attrs.evolve(cfg, min_stop_pct=lo, max_stop_pct=hi)


    # --- plans ----------------------------------------------------------------------------------
    def _plan(self, uow: UnitOfWork, coid: str) -> TradePlan | None:
        """Return the plan stored with the order ``coid`` (None: it has none)."""
        raw = uow.state.get(PLAN_KEY + coid)
        return plan_from_dict(json.loads(raw)) if raw else None

    # --- placing orders -------------------------------------------------------------------------
    def _place(self, request: SubmitOrder, plan: TradePlan, uow: UnitOfWork,
               now: datetime) -> tuple[bool, str]:
        order = Order.create(request, now)
        self._may_have_open = True
        uow.orders.add(order)
        uow.state.set(PLAN_KEY + request.client_order_id, json.dumps(plan_to_dict(plan),
                                                                sort_keys=True))
        uow.journal.add_execution(ExecutionRecord(
            ts=now, ticker=order.ticker, action=order.side.value, stage=PERSIST_STAGE,
            success=True, signal_id=request.signal_id, client_order_id=order.client_order_id,
            position_id=request.position_id, quantity=request.quantity,
            metadata={"purpose": "exit" if request.reduce_only else "entry",
                      "time_in_force": request.time_in_force.value}))
        if self.config.commit_before_send:
            uow.commit()
        return self._send(order, uow, now)

    def _send(self, order: Order, uow: UnitOfWork, now: datetime) -> tuple[bool, str]:
        coid = order.client_order_id
        report: OrderReport | None
        try:
            report = self.broker.submit_order(order.request)
        except DuplicateClientOrderId:
            report = self._lookup(coid)
            if report is None:
                return False, "broker says duplicate but cannot find it; left for reconciliation"
        except OrderRejected as exc:
            self._broker_call(True, now, uow)
            self._move(order, OrderStatusChanged(client_order_id=coid, ts_event=now,
                                                 status=S.REJECTED, reason=str(exc)), uow)
            return False, f"rejected by broker: {exc}"
        except BrokerError as exc:  # ambiguous: did it arrive? ask, never re-send blindly
            self._broker_call(False, now, uow)
            report = self._lookup(coid)
            if report is None:
                self._move(order, OrderSubmitted(client_order_id=coid, ts_event=now), uow)
                return False, f"submit failed ({exc}); broker has no such order: will retry"
        assert report is not None
        self._broker_call(True, now, uow)
        self._adopt(order, report, uow, now)
        return True, "submitted"

    def _lookup(self, coid: str) -> OrderReport | None:
        try:
            return self.broker.get_order_by_client_id(coid)
        except BrokerError as exc:
            log.warning("executor.lookup_failed", client_order_id=coid, error=str(exc))
            return None

    def _adopt(self, order: Order, report: OrderReport, uow: UnitOfWork, now: datetime) -> None:
        if order.status is S.INITIALIZED:
            self._move(order, OrderSubmitted(client_order_id=order.client_order_id, ts_event=now,
                                             broker_order_id=report.broker_order_id), uow)
        if report.status not in (S.FILLED, S.PARTIALLY_FILLED, order.status):
            self._move(order, OrderStatusChanged(
                client_order_id=order.client_order_id, ts_event=now,
                broker_order_id=report.broker_order_id, status=report.status,
                reason=report.reject_reason), uow)

    def _move(self, order: Order, event: OrderEvent, uow: UnitOfWork) -> None:
        try:
            changed = order.apply(event)
        except IllegalTransition as exc:
            log.warning("executor.illegal_transition", error=str(exc))
            return
        if changed:
            uow.orders.record_event(event)
            uow.orders.save(order)
            if isinstance(event, OrderStatusChanged) and not order.is_open:
                self._order_finished(order, uow, event.ts_event)

    def _resolve(self, order: Order, uow: UnitOfWork, now: datetime) -> None:
        """An order we hold whose broker state is unknown: look it up, re-send only if the
        broker never saw it."""
        if not order.is_open or order.broker_order_id is not None and order.status not in (
            S.INITIALIZED, S.SUBMITTED
        ):
            return
        before = order.status
        report = self._lookup(order.client_order_id)
        if report is not None:
            self._adopt(order, report, uow, now)
            self._audit_answer(order, uow, now, before, True, "adopted on retry")
            return
        ok, why = self._send(order, uow, now)
        self._audit_answer(order, uow, now, before, ok, f"sent on retry: {why}")

    def recover(self, uow: UnitOfWork, now: datetime) -> int:
        """After a restart: reconcile every open order with the broker by client order id.

        Orders the broker knows are adopted; orders it never saw (persisted, then the process
        died before or while sending, or an in-process broker was lost) are sent once, with the
        same id. Returns how many orders were re-sent.
        """
        resent = 0
        for order in uow.orders.list(open_only=True):
            if order.created_at > now:
                # written by a step that never committed its end (the process died after the
                # order's own commit): sent again when the engine re-runs that step, at the
                # same market time as the first time
                self._deferred.append((order.created_at, order.client_order_id))
                continue
            before = order.status
            report = self._lookup(order.client_order_id)
            if report is not None:
                self._adopt(order, report, uow, now)
                self._audit_answer(order, uow, now, before, True, "adopted after a restart")
                continue
            ok, why = self._send(order, uow, now)
            self._audit_answer(order, uow, now, before, ok, f"sent after a restart: {why}")
            resent += ok
        return resent

    def _audit_answer(self, order: Order, uow: UnitOfWork, now: datetime,
                      before: OrderStatus, ok: bool, note: str) -> None:
        """Write the answer row of an order looked up or sent again (a retry or a restart),
        in the same transaction as the status change it records.

        A row is written when the order's status changed (an order that ended unfilled has
        its row from :meth:`_order_finished` already), or when the order has no answer row at
        all (its own died with the process that stored the order); an unchanged order that
        already has one adds nothing, so a second restart writes nothing twice.
        """
        coid = order.client_order_id
        if order.status is not before and not order.is_open and order.status is not S.FILLED:
            return  # an order that ended unfilled: its row came with the end (_order_finished)
        if order.status is before and any(
                r.client_order_id == coid and r.stage in ANSWER_STAGES
                for r in uow.journal.executions(signal_id=order.request.signal_id)):
            return
        req = order.request
        uow.journal.add_execution(ExecutionRecord(
            ts=now, ticker=order.ticker, action=order.side.value,
            stage="exit" if req.reduce_only else "submit", success=ok,
            signal_id=req.signal_id, client_order_id=coid, position_id=req.position_id,
            error_message=None if ok else note, quantity=req.quantity,
            metadata={"recovered": True, "note": note, "status": order.status.value}))

    def resend_deferred(self, uow: UnitOfWork, now: datetime) -> None:
        """Re-send (or adopt) the orders of an interrupted step once the engine is back at
        their time (:meth:`recover` defers them)."""
        if not self._deferred:
            return
        due = [d for d in self._deferred if d[0] <= now]
        self._deferred = [d for d in self._deferred if d[0] > now]
        for _, coid in due:
            order = uow.orders.get(coid)
            if order is None or not order.is_open:
                continue
            before = order.status
            report = self._lookup(coid)
            if report is not None:
                self._adopt(order, report, uow, now)
                self._audit_answer(order, uow, now, before, True, "adopted after a restart")
            else:
                ok, why = self._send(order, uow, now)
                self._audit_answer(order, uow, now, before, ok, f"sent after a restart: {why}")

    def forget_open_orders(self) -> None:
        """Drop the cached "no open order" hint (someone else changed the orders table)."""
        self._may_have_open = None


    def _broker_call(self, ok: bool, now: datetime, uow: UnitOfWork) -> None:
        if self.risk is not None:
            try:
                self.risk.record_broker_call(ok, now, uow=uow)
            except DomainError as exc:  # pragma: no cover - defensive
                log.warning("executor.risk_record_failed", error=str(exc))


    def _order_finished(self, order: Order, uow: UnitOfWork, ts: datetime) -> None:
        """An order ended without (fully) filling: re-arm a position's exit."""
        if order.status is S.FILLED:
            return
        req = order.request
        if req.reduce_only and req.position_id:
            pos = uow.positions.get(req.position_id)
            flat = pos.metadata.get("flatten_order") if pos is not None else None
            # an older exit order ending after the kill switch's flatten order went out
            # must not re-arm the position (it would invite a second closing order)
            if pos is not None and pos.exit_pending is not None and flat in (
                    None, order.client_order_id):
                pos.cancel_exit()
                uow.positions.save(pos)
        uow.journal.add_execution(ExecutionRecord(
            ts=ts, ticker=order.ticker, action=order.side.value, stage="cancel"
            if order.status is not S.REJECTED else "submit", success=False,
            signal_id=req.signal_id, client_order_id=order.client_order_id,
            position_id=req.position_id, quantity=order.filled_qty,
            error_message=f"order {order.status.value}"
            + (f": {order.reject_reason}" if order.reject_reason else "")
            + (f" after partial fill {order.filled_qty}" if order.filled_qty else ""),
        ))

