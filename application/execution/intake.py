"""Signal intake: signal -> validate -> size -> plan -> risk -> persist -> submit.

Every attempt leaves an execution-log row (success or not, with its timing). A signal on the
other side of an open position closes it instead (through :class:`ExitOrders`); an entry is
sized by the configured method (pending entries count against the caps), planned by the
domain's rules (ATR stop and target, or the signal's own levels, on valid ticks, the stop
inside the risk policy's band), checked by the risk policy, and placed with its
:class:`~domain.trade_plan.EntryPlan`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal

import attrs

from application.execution.exits import ExitOrders
from application.execution.results import ExecutionResult
from application.execution.results import ExecutionStatus as X
from application.ports import DEFAULT_RUN, UnitOfWork
from application.risk import market_view
from domain.audit import ExecutionRecord
from domain.commands import SubmitOrder
from domain.errors import BrokerError
from domain.ids import client_order_id as make_coid
from domain.risk.inputs import OrderIntent, Purpose, pending_entries
from domain.risk.plan import latest_atr, latest_atr_of, levels, plan_trade, size_entry
from domain.risk.sizing import SizeResult, SizingMethod, TradeStats
from domain.signal import Signal
from domain.trade_plan import EntryPlan
from domain.values import ExitReason, OrderType, Side

__all__ = ["SignalIntake"]


class SignalIntake(ExitOrders):
    """Signals to entry orders (or to the exit of the position a signal reverses)."""

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

        def done(status: X, reason: str = "", cid: str | None = None
                 ) -> ExecutionResult:
            return ExecutionResult(signal.signal_id, status, reason, cid, self._timer() - t0)

        # validate
        if not signal.is_actionable:
            return done(X.SKIPPED, "hold")
        if signal.confidence < cfg.threshold:
            row("validate", False, f"confidence {signal.confidence:.3f} below threshold "
                                   f"{cfg.threshold:.2f}")
            return done(X.SKIPPED, "below_threshold")
        existing = uow.orders.get(coid)
        if existing is not None:  # replayed signal (restart): never a second order
            self._resolve(existing, uow, now)
            return done(X.EXISTS, "order already placed for this signal", coid)
        price = self.feed.latest_price(signal.ticker)
        if price is None or price <= 0:
            row("validate", False, f"unknown ticker {signal.ticker}: no price")
            return done(X.FAILED, "unknown_ticker")
        held = uow.positions.open_for(signal.ticker)
        if held is not None:
            if held.side.entry_side is side:
                row("validate", False, f"already {held.side.value} {held.quantity} "
                                       f"{signal.ticker}", position_id=held.position_id)
                return done(X.SKIPPED, "already_in_position")
            ev = held.trigger_exit(ExitReason.SIGNAL, price, now)
            if ev is None:
                return done(X.SKIPPED, "exit_pending")
            uow.positions.save(held)
            uow.journal.add_exit_event(ev)
            res = self.submit_exit(held, ev, uow, now, purpose=Purpose.EXIT,
                                   signal_id=signal.signal_id)
            return done(X.EXIT, res.reason, res.client_order_id)
        if side is Side.SELL and not cfg.allow_short:
            row("validate", False, "short selling disabled")
            return done(X.SKIPPED, "short_disabled")

        # size
        try:
            account = self.broker.get_account()
        except BrokerError as exc:
            self._broker_call(False, now, uow)
            row("size", False, f"account unavailable: {exc}")
            return done(X.FAILED, "broker_error")
        since = now - timedelta(days=cfg.atr_lookback_days)
        # a feed that gives the highs, lows and closes without building its bars (the
        # simulated exchange) is asked for those: the same ATR, cheaper per signal
        hlc: Callable[[str, datetime, datetime], tuple[list[float], list[float], list[float]]] \
            | None = getattr(self.feed, "daily_hlc", None)
        if hlc is not None:
            highs, lows, closes = hlc(signal.ticker, since, now)
            atr = latest_atr_of(highs, lows, closes, cfg.plan.atr_period)
        else:
            atr = latest_atr(self.feed.get_bars(signal.ticker, since, now), cfg.plan.atr_period)
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
            return done(X.SKIPPED, "zero_size")

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
                return done(X.REJECTED, decision.rule or "risk", coid)

        # persist, then submit
        request = SubmitOrder(
            client_order_id=coid, ticker=signal.ticker, side=side, quantity=size.quantity,
            order_type=OrderType.MARKET, time_in_force=cfg.time_in_force,
            signal_id=signal.signal_id, strategy=signal.strategy,
        )
        alert_id = signal.metadata.get("alert_id")
        plan_record = EntryPlan(
            signal_id=signal.signal_id, strategy=signal.strategy, confidence=signal.confidence,
            catalyst_score=signal.catalyst_score,
            alert_id=None if alert_id is None else str(alert_id), entry=price,
            quantity=size.quantity, stop_pct=plan.stop_pct, target_pct=plan.target_pct,
            stop_loss=plan.stop_loss, take_profit=plan.take_profit, atr=atr, basis=plan.basis,
            sizing_method=size.used, sizing=size.reason, trailing=cfg.trailing,
        )
        ok, reason = self._place(request, plan_record, uow, now)
        row("submit", ok, None if ok else reason, coid=coid, quantity=size.quantity,
            entry_price=price, stop_loss=plan.stop_loss, take_profit=plan.take_profit,
            metadata={"sizing": size.reason, "basis": plan.basis,
                      # the alert's headline, so that the trade log can show it later
                      **({"headline": str(signal.metadata["headline"])}
                         if signal.metadata.get("headline") else {})})
        return done(X.SUBMITTED if ok else X.FAILED, reason, coid)

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
