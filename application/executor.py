"""The order executor: signal -> validate -> size -> plan -> risk -> persist -> submit -> fills.

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

import json
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal

import attrs
import structlog

from application.ports import DEFAULT_RUN, BrokerPort, PriceFeedPort, UnitOfWork
from application.reconcile import apply_fill_to_positions
from application.risk import RiskService, market_view
from application.sizing_plan import (
    PlanConfig,
    latest_atr,
    levels,
    plan_trade,
    position_side,
    size_entry,
)
from domain.audit import ExecutionRecord
from domain.commands import SubmitOrder
from domain.errors import (
    BrokerError,
    DomainError,
    DuplicateClientOrderId,
    DuplicateFill,
    IllegalTransition,
    InvalidInput,
    OrderNotFound,
    OrderRejected,
    OverFill,
)
from domain.events import (
    ExitTriggered,
    Fill,
    OrderEvent,
    OrderFilled,
    OrderStatus,
    OrderStatusChanged,
    OrderSubmitted,
)
from domain.ids import client_order_id as make_coid
from domain.orders import Order, OrderReport
from domain.portfolio import position_id_for
from domain.position import ClosedPosition, Position, TrailingStopConfig
from domain.risk.inputs import OrderIntent, Purpose, pending_entries
from domain.risk.sizing import SizeResult, SizingConfig, SizingMethod, TradeStats
from domain.signal import Signal
from domain.values import ExitReason, OrderType, Side, TimeInForce

log = structlog.get_logger(__name__)

__all__ = ["ExecutionResult", "ExecutorConfig", "OrderExecutor", "position_id_for"]

PLAN_KEY = "plan:"
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


@attrs.frozen
class ExecutionResult:
    """What :meth:`OrderExecutor.execute` did with one signal."""

    signal_id: str
    status: str  # submitted | skipped | rejected | failed | exists | exit
    reason: str = ""
    client_order_id: str | None = None
    elapsed_s: float = 0.0


class OrderExecutor:
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

    # --- signals --------------------------------------------------------------------------------
    def execute(self, signal: Signal, uow: UnitOfWork, now: datetime) -> ExecutionResult:
        """Take one signal through the pipeline; return what happened (never raises for the
        signal's own faults: they become execution-log rows)."""
        t0 = self._timer()
        cfg = self.config
        side = Side.BUY if signal.action.value == "buy" else Side.SELL
        coid = make_coid(signal.signal_id, "entry", signal.strategy,
                         "" if uow.run == DEFAULT_RUN else uow.run)

        def row(stage: str, ok: bool, error: str | None = None, *, coid: str | None = None,
                position_id: str | None = None, quantity: Decimal | None = None,
                entry_price: Decimal | None = None, stop_loss: Decimal | None = None,
                take_profit: Decimal | None = None, metadata: dict[str, object] | None = None,
                ) -> None:
            uow.journal.add_execution(ExecutionRecord(
                ts=now, ticker=signal.ticker, action=signal.action.value, stage=stage,
                success=ok, signal_id=signal.signal_id, signal_confidence=signal.confidence,
                catalyst_score=signal.catalyst_score, client_order_id=coid,
                position_id=position_id, error_message=error,
                elapsed_seconds=self._timer() - t0, entry_price=entry_price,
                stop_loss=stop_loss, take_profit=take_profit, quantity=quantity,
                metadata=metadata or {},
            ))

        def done(status: str, reason: str = "", cid: str | None = None) -> ExecutionResult:
            return ExecutionResult(signal.signal_id, status, reason, cid, self._timer() - t0)

        # validate
        if not signal.is_actionable:
            return done("skipped", "hold")
        if signal.confidence < cfg.threshold:
            row("validate", False, f"confidence {signal.confidence:.3f} below threshold "
                                   f"{cfg.threshold:.2f}")
            return done("skipped", "below_threshold")
        existing = uow.orders.get(coid)
        if existing is not None:  # replayed signal (restart): never a second order
            self._resolve(existing, uow, now)
            return done("exists", "order already placed for this signal", coid)
        price = self.feed.latest_price(signal.ticker)
        if price is None or price <= 0:
            row("validate", False, f"unknown ticker {signal.ticker}: no price")
            return done("failed", "unknown_ticker")
        held = uow.positions.open_for(signal.ticker)
        if held is not None:
            if held.side.entry_side is side:
                row("validate", False, f"already {held.side.value} {held.quantity} "
                                       f"{signal.ticker}", position_id=held.position_id)
                return done("skipped", "already_in_position")
            ev = held.trigger_exit(ExitReason.SIGNAL, price, now)
            if ev is None:
                return done("skipped", "exit_pending")
            uow.positions.save(held)
            uow.journal.add_exit_event(ev)
            res = self.submit_exit(held, ev, uow, now, purpose=Purpose.EXIT,
                                   signal_id=signal.signal_id)
            return done("exit", res.reason, res.client_order_id)
        if side is Side.SELL and not cfg.allow_short:
            row("validate", False, "short selling disabled")
            return done("skipped", "short_disabled")

        # size
        try:
            account = self.broker.get_account()
        except BrokerError as exc:
            self._broker_call(False, now, uow)
            row("size", False, f"account unavailable: {exc}")
            return done("failed", "broker_error")
        bars = self.feed.get_bars(signal.ticker, now - timedelta(days=cfg.atr_lookback_days), now)
        atr = latest_atr(bars, cfg.plan.atr_period)
        stats = self._stats(uow, signal.strategy) if cfg.sizing_method is SizingMethod.KELLY \
            else None
        # entries accepted but not yet filled reserve their share of every cap
        working = uow.orders.list(open_only=True) if self._may_have_open is not False else []
        pending = pending_entries(working)
        committed = sum((p.quantity for p in pending
                         if p.ticker == signal.ticker and p.side is side), Decimal(0)) * price
        size = self._size(account.equity, price, signal, atr, stats, committed)
        if size.quantity <= 0:
            row("size", False, f"size is zero: {size.reason}", entry_price=price)
            return done("skipped", "zero_size")

        # plan (levels on valid ticks, the stop inside the risk policy's distance band)
        pcfg = self.plan_config()
        plan = plan_trade(side, price, atr, pcfg)
        if signal.stop_loss is not None and signal.take_profit is not None:
            stop_pct = abs(price - signal.stop_loss) / price
            target_pct = abs(signal.take_profit - price) / price
            stop, target = levels(side, price, stop_pct, target_pct,
                                  min_stop_pct=pcfg.min_stop_pct, max_stop_pct=pcfg.max_stop_pct)
            plan = attrs.evolve(plan, stop_loss=stop, take_profit=target, stop_pct=stop_pct,
                                target_pct=target_pct, basis="signal")

        # risk
        intent = OrderIntent(ticker=signal.ticker, side=side, quantity=size.quantity, price=price,
                             stop_loss=plan.stop_loss, take_profit=plan.take_profit,
                             purpose=Purpose.ENTRY, strategy=signal.strategy,
                             client_order_id=coid, signal_id=signal.signal_id)
        if self.risk is not None:
            positions = uow.positions.list_open()
            mv = market_view(self.feed, [signal.ticker, *(p.ticker for p in positions),
                                         *(p.ticker for p in pending)], now,
                             lookback=self.risk.config.correlation_lookback)
            decision = self.risk.check_order(intent, account, positions, mv, uow=uow,
                                             pending=pending_entries(working, mv))
            if not decision.approved:
                row("risk", False, decision.message, coid=coid, quantity=size.quantity,
                    entry_price=price, stop_loss=plan.stop_loss, take_profit=plan.take_profit,
                    metadata={"rule": decision.rule})
                return done("rejected", decision.rule or "risk", coid)

        # persist, then submit
        request = SubmitOrder(
            client_order_id=coid, ticker=signal.ticker, side=side, quantity=size.quantity,
            order_type=OrderType.MARKET, time_in_force=cfg.time_in_force,
            signal_id=signal.signal_id, strategy=signal.strategy,
        )
        plan_record = {
            "kind": "entry", "signal_id": signal.signal_id, "strategy": signal.strategy,
            "confidence": signal.confidence, "catalyst_score": signal.catalyst_score,
            "stop_pct": str(plan.stop_pct), "target_pct": str(plan.target_pct),
            "stop_loss": str(plan.stop_loss), "take_profit": str(plan.take_profit),
            "atr": str(atr) if atr is not None else None, "basis": plan.basis,
            "sizing": size.reason, "sizing_method": size.used.value,
            "alert_id": signal.metadata.get("alert_id"),
        }
        ok, reason = self._place(request, plan_record, uow, now)
        row("submit", ok, None if ok else reason, coid=coid, quantity=size.quantity,
            entry_price=price, stop_loss=plan.stop_loss, take_profit=plan.take_profit,
            metadata={"sizing": size.reason, "basis": plan.basis})
        return done("submitted" if ok else "failed", reason, coid)

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

    def _size(self, equity: Decimal, price: Decimal, signal: Signal, atr: Decimal | None,
              stats: TradeStats | None, committed: Decimal = Decimal(0)) -> SizeResult:
        res = size_entry(self.config.sizing_method, equity, price, confidence=signal.confidence,
                         atr=atr, stats=stats, config=self.config.sizing, committed=committed)
        if signal.size_hint is not None:
            cap = Decimal(repr(signal.size_hint)) * equity / price
            if cap < res.quantity:
                res = attrs.evolve(res, quantity=cap.to_integral_value(rounding=ROUND_DOWN),
                                   reason=res.reason + f"; size hint {signal.size_hint}")
        return res

    def _stats(self, uow: UnitOfWork, strategy: str) -> TradeStats:
        return TradeStats.from_closed(c for c in uow.positions.list_closed()
                                      if (c.strategy or "default") == strategy)

    # --- placing orders -------------------------------------------------------------------------
    def _place(self, request: SubmitOrder, plan: dict[str, object], uow: UnitOfWork,
               now: datetime) -> tuple[bool, str]:
        order = Order.create(request, now)
        self._may_have_open = True
        uow.orders.add(order)
        uow.state.set(PLAN_KEY + request.client_order_id, json.dumps(plan, sort_keys=True))
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
        report = self._lookup(order.client_order_id)
        if report is not None:
            self._adopt(order, report, uow, now)
            return
        self._send(order, uow, now)

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
            report = self._lookup(order.client_order_id)
            if report is not None:
                self._adopt(order, report, uow, now)
                continue
            ok, _ = self._send(order, uow, now)
            resent += ok
        return resent

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
            report = self._lookup(coid)
            if report is not None:
                self._adopt(order, report, uow, now)
            else:
                self._send(order, uow, now)

    def forget_open_orders(self) -> None:
        """Drop the cached "no open order" hint (someone else changed the orders table)."""
        self._may_have_open = None

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
            if plan.get("kind") != "entry":
                continue
            order = uow.orders.get(pos.entry_order_id)
            if order is not None:
                pos.signal_id = pos.signal_id or order.request.signal_id
                pos.strategy = pos.strategy or order.request.strategy
            if pos.signal_confidence is None:
                pos.signal_confidence = _float(plan.get("confidence"))
            try:
                self._set_exits(pos, plan)
            except InvalidInput as exc:
                log.warning("executor.adopted_position_not_armed", position=pos.position_id,
                            error=str(exc))
                continue
            pos.metadata["adopted_by"] = "reconciliation"
            pos.metadata.setdefault("alert_id", plan.get("alert_id"))
            uow.positions.save(pos)
            armed += 1
            log.info("executor.adopted_position_armed", position=pos.position_id,
                     stop=str(pos.stop_loss), target=str(pos.take_profit), ts=now.isoformat())
        return armed

    def _broker_call(self, ok: bool, now: datetime, uow: UnitOfWork) -> None:
        if self.risk is not None:
            try:
                self.risk.record_broker_call(ok, now, uow=uow)
            except DomainError as exc:  # pragma: no cover - defensive
                log.warning("executor.risk_record_failed", error=str(exc))

    # --- exits ----------------------------------------------------------------------------------
    def submit_exit(
        self, pos: Position, trigger: ExitTriggered, uow: UnitOfWork, now: datetime, *,
        purpose: Purpose = Purpose.PROTECTIVE, signal_id: str | None = None,
    ) -> ExecutionResult:
        """Send the market order that closes ``pos`` for ``trigger`` (exactly once per trigger)."""
        t0 = self._timer()
        attempt = int(pos.metadata.get("exit_attempts", 0)) + 1
        coid = make_coid(f"{pos.position_id}:{attempt}", "exit", pos.strategy or "")
        pos.metadata["exit_attempts"] = attempt
        uow.positions.save(pos)
        request = SubmitOrder(
            client_order_id=coid, ticker=pos.ticker, side=pos.side.exit_side,
            quantity=pos.quantity, order_type=OrderType.MARKET,
            time_in_force=self.config.time_in_force, signal_id=signal_id or pos.signal_id,
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
                return ExecutionResult(pos.signal_id or "", "rejected", decision.rule, coid)
        plan: dict[str, object] = {
                "kind": "exit", "reason": trigger.reason.value, "position_id": pos.position_id,
                "trigger_price": str(trigger.trigger_price),
                "level": str(trigger.level) if trigger.level is not None else None}
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
        return ExecutionResult(pos.signal_id or "", "exit" if ok else "failed", reason, coid)

    # --- broker events --------------------------------------------------------------------------
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

    def _plan(self, uow: UnitOfWork, coid: str) -> dict[str, object]:
        raw = uow.state.get(PLAN_KEY + coid)
        return dict(json.loads(raw)) if raw else {}

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
        plan = self._plan(uow, order.client_order_id)

        def prepare(pos: Position, opened: bool) -> None:
            if opened:
                pos.strategy = req.strategy
                pos.signal_id = req.signal_id
                pos.signal_confidence = _float(plan.get("confidence"))
                pos.catalyst_score = _float(plan.get("catalyst_score"))
                pos.atr = _float(plan.get("atr"))
                pos.metadata = {"alert_id": plan.get("alert_id")}
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

    def _set_exits(self, pos: Position, plan: dict[str, object]) -> None:
        sp, tp = plan.get("stop_pct"), plan.get("target_pct")
        if sp is None or tp is None:
            return
        side = position_side(pos.side.entry_side).entry_side
        band = self.plan_config()
        stop, target = levels(side, pos.avg_entry_price, Decimal(str(sp)), Decimal(str(tp)),
                              min_stop_pct=band.min_stop_pct, max_stop_pct=band.max_stop_pct)
        pos.set_exits(stop, target, self.config.trailing)

    def _order_finished(self, order: Order, uow: UnitOfWork, ts: datetime) -> None:
        """An order ended without (fully) filling: re-arm a position's exit."""
        if order.status is S.FILLED:
            return
        req = order.request
        if req.reduce_only and req.position_id:
            pos = uow.positions.get(req.position_id)
            if pos is not None and pos.exit_pending is not None:
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

    def housekeeping(self, uow: UnitOfWork, now: datetime) -> list[str]:
        """Cancel orders past their fill timeout and retry orders the broker never saw."""
        if self._may_have_open is False:
            return []
        open_orders = uow.orders.list(open_only=True)
        self._may_have_open = bool(open_orders)
        if not open_orders:
            return []
        closed = self.poll_open(uow, now, open_orders)
        still = [o for o in open_orders if o.client_order_id not in closed]
        out = self.cancel_stale(uow, now, still)
        self.retry_unsent(uow, now, still)
        return out

    def poll_open(self, uow: UnitOfWork, now: datetime, open_orders: Sequence[Order]
                  ) -> set[str]:
        """Polling fallback for missed events: adopt a terminal status the broker reports for
        an order we still think is working (fills only ever come from fill events, which carry
        their ids; an order whose broker fill count is ahead of ours is left to them).
        Returns the client order ids it closed."""
        closed: set[str] = set()
        for order in open_orders:
            if order.broker_order_id is None:
                continue
            report = self._lookup(order.client_order_id)
            if report is None or report.status not in (S.CANCELED, S.EXPIRED, S.REJECTED):
                continue
            if report.filled_qty != order.filled_qty:
                continue
            fresh = uow.orders.get(order.client_order_id)
            if fresh is not None and fresh.is_open:
                self._move(fresh, OrderStatusChanged(
                    client_order_id=order.client_order_id, ts_event=now,
                    broker_order_id=report.broker_order_id, status=report.status,
                    reason=report.reject_reason or "reported by broker (polled)"), uow)
                closed.add(order.client_order_id)
        return closed

    def cancel_stale(self, uow: UnitOfWork, now: datetime,
                     open_orders: Sequence[Order] | None = None) -> list[str]:
        """Cancel orders working longer than ``fill_timeout``; partial fills are kept."""
        out: list[str] = []
        orders = uow.orders.list(open_only=True) if open_orders is None else open_orders
        for order in orders:
            if now - order.created_at < self.config.fill_timeout:
                continue
            try:
                self.broker.cancel_order(order.client_order_id)
                out.append(order.client_order_id)
            except OrderNotFound:
                self._move(order, OrderStatusChanged(client_order_id=order.client_order_id,
                                                     ts_event=now, status=S.CANCELED,
                                                     reason="unknown to broker at timeout"), uow)
            except BrokerError as exc:
                log.warning("executor.cancel_failed", client_order_id=order.client_order_id,
                            error=str(exc))
        return out

    def retry_unsent(self, uow: UnitOfWork, now: datetime,
                     open_orders: Sequence[Order] | None = None) -> None:
        """Orders left SUBMITTED without a broker answer: look them up, send if never seen."""
        orders = uow.orders.list(open_only=True) if open_orders is None else open_orders
        for order in orders:
            if order.status in (S.INITIALIZED, S.SUBMITTED) and order.broker_order_id is None:
                self._resolve(order, uow, now)


def _float(v: object) -> float | None:
    try:
        return float(str(v)) if v is not None else None
    except ValueError:
        return None


def summarize(results: Sequence[ExecutionResult]) -> dict[str, int]:
    """Return counts of execution results by status."""
    out: dict[str, int] = {}
    for r in results:
        out[r.status] = out.get(r.status, 0) + 1
    return out
