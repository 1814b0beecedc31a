"""Explicit conversion between domain objects and table rows (no ORM mapping of the domain).

Each ``*_row`` returns the dict a Core ``insert``/``update`` takes; each ``*_from`` builds
the domain object back from a row mapping. Enumerations travel as their values, sets of ids
as sorted JSON lists, exact numbers as Decimal.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy import RowMapping

from domain.audit import ExecutionRecord, PerformanceRecord, PortfolioSnapshot, RunRecord
from domain.commands import SubmitOrder
from domain.events import (
    ExitTriggered,
    Fill,
    OrderEvent,
    OrderFilled,
    OrderStatus,
    OrderStatusChanged,
    RiskEvent,
    RiskState,
)
from domain.orders import Order
from domain.position import ClosedPosition, Position, TrailingStopConfig
from domain.values import ExitReason, OrderClass, OrderType, PositionSide, Side, TimeInForce

Row = RowMapping


def _dict(value: Mapping[str, Any] | None) -> dict[str, Any]:
    return dict(value or {})


def _dec(value: Any) -> Decimal | None:
    return None if value is None else Decimal(value)


# --- orders ---------------------------------------------------------------------------
def order_row(order: Order) -> dict[str, Any]:
    """Return the ``orders`` row of ``order``."""
    r = order.request
    return {
        "client_order_id": r.client_order_id,
        "broker_order_id": order.broker_order_id,
        "ticker": r.ticker,
        "side": r.side.value,
        "order_type": r.order_type.value,
        "order_class": r.order_class.value,
        "time_in_force": r.time_in_force.value,
        "quantity": r.quantity,
        "limit_price": r.limit_price,
        "stop_price": r.stop_price,
        "trail_price": r.trail_price,
        "trail_percent": r.trail_percent,
        "take_profit_price": r.take_profit_price,
        "stop_loss_price": r.stop_loss_price,
        "stop_loss_limit_price": r.stop_loss_limit_price,
        "extended_hours": r.extended_hours,
        "reduce_only": r.reduce_only,
        "signal_id": r.signal_id,
        "strategy": r.strategy,
        "position_id": r.position_id,
        "parent_id": order.parent_id,
        "status": order.status.value,
        "filled_qty": order.filled_qty,
        "avg_fill_price": order.avg_fill_price,
        "filled_notional": order.filled_notional,
        "commission": order.commission,
        "fill_ids": sorted(order.fill_ids),
        "reject_reason": order.reject_reason,
        "created_at": order.created_at,
        "submitted_at": order.submitted_at,
        "updated_at": order.updated_at,
        "filled_at": order.filled_at,
        "closed_at": order.closed_at,
        "version": order.version,
    }


#: columns ``OrderRepo.save`` may change (the request is immutable once stored).
ORDER_STATE_COLUMNS = (
    "broker_order_id", "parent_id", "status", "filled_qty", "avg_fill_price", "filled_notional", "commission",
    "fill_ids", "reject_reason", "submitted_at", "updated_at", "filled_at", "closed_at", "version",
)


def order_from(row: Row) -> Order:
    """Return the order stored in ``row``."""
    request = SubmitOrder(
        client_order_id=row["client_order_id"],
        ticker=row["ticker"],
        side=Side(row["side"]),
        quantity=row["quantity"],
        order_type=OrderType(row["order_type"]),
        time_in_force=TimeInForce(row["time_in_force"]),
        limit_price=row["limit_price"],
        stop_price=row["stop_price"],
        trail_price=row["trail_price"],
        trail_percent=row["trail_percent"],
        order_class=OrderClass(row["order_class"]),
        take_profit_price=row["take_profit_price"],
        stop_loss_price=row["stop_loss_price"],
        stop_loss_limit_price=row["stop_loss_limit_price"],
        extended_hours=bool(row["extended_hours"]),
        signal_id=row["signal_id"],
        strategy=row["strategy"],
        position_id=row["position_id"],
        reduce_only=bool(row["reduce_only"]),
    )
    return Order(
        request=request,
        created_at=row["created_at"],
        status=OrderStatus(row["status"]),
        broker_order_id=row["broker_order_id"],
        filled_qty=row["filled_qty"],
        avg_fill_price=None if row["filled_notional"] is not None else row["avg_fill_price"],
        filled_notional=row["filled_notional"],
        commission=row["commission"],
        fill_ids=set(row["fill_ids"] or ()),
        reject_reason=row["reject_reason"],
        submitted_at=row["submitted_at"],
        updated_at=row["updated_at"],
        filled_at=row["filled_at"],
        closed_at=row["closed_at"],
        parent_id=row["parent_id"],
        version=row["version"],
    )


def order_event_row(event: OrderEvent) -> dict[str, Any]:
    """Return the ``order_events`` row of ``event`` (the audit trail; never read back)."""
    data: dict[str, Any] = {}
    fill_id = None
    reason = None
    if isinstance(event, OrderFilled):
        f = event.fill
        fill_id = f.fill_id
        data = {
            "ticker": f.ticker, "side": f.side.value, "quantity": str(f.quantity),
            "price": str(f.price), "commission": str(f.commission),
        }
    elif isinstance(event, OrderStatusChanged):
        reason = event.reason
    return {
        "event_id": event.event_id,
        "kind": type(event).__name__,
        "client_order_id": event.client_order_id,
        "status": event.target.value if event.target is not None else None,
        "reason": reason,
        "fill_id": fill_id,
        "broker_order_id": event.broker_order_id,
        "ts_event": event.ts_event,
        "ts_init": event.ts_init,
        "data": data,
    }


# --- fills ----------------------------------------------------------------------------
def fill_row(fill: Fill) -> dict[str, Any]:
    """Return the ``fills`` row of ``fill``."""
    return {
        "fill_id": fill.fill_id,
        "client_order_id": fill.client_order_id,
        "ticker": fill.ticker,
        "side": fill.side.value,
        "quantity": fill.quantity,
        "price": fill.price,
        "commission": fill.commission,
        "ts_event": fill.ts_event,
        "ts_init": fill.ts_init,
        "broker_order_id": fill.broker_order_id,
    }


def fill_from(row: Row) -> Fill:
    """Return the fill stored in ``row``."""
    return Fill(
        fill_id=row["fill_id"],
        client_order_id=row["client_order_id"],
        ticker=row["ticker"],
        side=Side(row["side"]),
        quantity=row["quantity"],
        price=row["price"],
        ts_event=row["ts_event"],
        commission=row["commission"],
        ts_init=row["ts_init"],
        broker_order_id=row["broker_order_id"],
    )


# --- positions ------------------------------------------------------------------------
def position_row(p: Position) -> dict[str, Any]:
    """Return the ``positions`` row of ``p``."""
    return {
        "position_id": p.position_id,
        "ticker": p.ticker,
        "side": p.side.value,
        "opened_at": p.opened_at,
        "updated_at": p.updated_at,
        "quantity": p.quantity,
        "avg_entry_price": p.avg_entry_price,
        "last_price": p.last_price,
        "realized_gross": p.realized_gross,
        "commission": p.commission,
        "max_quantity": p.max_quantity,
        "exit_qty": p.exit_qty,
        "exit_notional": p.exit_notional,
        "max_unrealized_pnl": p.max_unrealized_pnl,
        "max_unrealized_pnl_pct": p.max_unrealized_pnl_pct,
        "min_unrealized_pnl": p.min_unrealized_pnl,
        "min_unrealized_pnl_pct": p.min_unrealized_pnl_pct,
        "max_drawdown_pct": p.max_drawdown_pct,
        "stop_loss": p.stop_loss,
        "take_profit": p.take_profit,
        "trailing_activation_pct": p.trailing.activation_pct if p.trailing else None,
        "trailing_trail_pct": p.trailing.trail_pct if p.trailing else None,
        "trailing_active": p.trailing_active,
        "trailing_stop": p.trailing_stop,
        "extreme_price": p.extreme_price,
        "exit_pending": p.exit_pending.value if p.exit_pending is not None else None,
        "fill_ids": sorted(p.fill_ids),
        "strategy": p.strategy,
        "signal_id": p.signal_id,
        "signal_confidence": p.signal_confidence,
        "catalyst_score": p.catalyst_score,
        "rvol": p.rvol,
        "atr": p.atr,
        "entry_order_id": p.entry_order_id,
        "exit_order_id": p.exit_order_id,
        "metadata": _dict(p.metadata),
        "version": p.version,
    }


def position_from(row: Row) -> Position:
    """Return the open position stored in ``row``."""
    trailing = None
    if row["trailing_activation_pct"] is not None:
        trailing = TrailingStopConfig(
            activation_pct=row["trailing_activation_pct"], trail_pct=row["trailing_trail_pct"]
        )
    return Position(
        position_id=row["position_id"],
        ticker=row["ticker"],
        side=PositionSide(row["side"]),
        opened_at=row["opened_at"],
        quantity=row["quantity"],
        avg_entry_price=row["avg_entry_price"],
        last_price=row["last_price"],
        updated_at=row["updated_at"],
        realized_gross=row["realized_gross"],
        commission=row["commission"],
        max_quantity=row["max_quantity"],
        exit_qty=row["exit_qty"],
        exit_notional=row["exit_notional"],
        stop_loss=row["stop_loss"],
        take_profit=row["take_profit"],
        trailing=trailing,
        trailing_active=bool(row["trailing_active"]),
        trailing_stop=row["trailing_stop"],
        extreme_price=row["extreme_price"],
        max_unrealized_pnl=row["max_unrealized_pnl"],
        max_unrealized_pnl_pct=row["max_unrealized_pnl_pct"],
        min_unrealized_pnl=row["min_unrealized_pnl"],
        min_unrealized_pnl_pct=row["min_unrealized_pnl_pct"],
        max_drawdown_pct=row["max_drawdown_pct"],
        exit_pending=ExitReason(row["exit_pending"]) if row["exit_pending"] else None,
        fill_ids=set(row["fill_ids"] or ()),
        strategy=row["strategy"],
        signal_id=row["signal_id"],
        signal_confidence=row["signal_confidence"],
        catalyst_score=row["catalyst_score"],
        rvol=row["rvol"],
        atr=row["atr"],
        entry_order_id=row["entry_order_id"],
        exit_order_id=row["exit_order_id"],
        metadata=_dict(row["metadata"]),
        version=row["version"],
    )


def closed_row(c: ClosedPosition) -> dict[str, Any]:
    """Return the ``closed_positions`` row of ``c``."""
    return {
        "position_id": c.position_id,
        "ticker": c.ticker,
        "side": c.side.value,
        "quantity": c.quantity,
        "entry_price": c.entry_price,
        "exit_price": c.exit_price,
        "realized_pnl": c.realized_pnl,
        "gross_pnl": c.gross_pnl,
        "commission": c.commission,
        "realized_pnl_pct": c.realized_pnl_pct,
        "opened_at": c.opened_at,
        "closed_at": c.closed_at,
        "hold_duration_seconds": c.hold_duration_seconds,
        "exit_reason": c.exit_reason.value,
        "max_unrealized_pnl": c.max_unrealized_pnl,
        "max_unrealized_pnl_pct": c.max_unrealized_pnl_pct,
        "min_unrealized_pnl": c.min_unrealized_pnl,
        "min_unrealized_pnl_pct": c.min_unrealized_pnl_pct,
        "max_drawdown_pct": c.max_drawdown_pct,
        "stop_loss": c.stop_loss,
        "take_profit": c.take_profit,
        "strategy": c.strategy,
        "signal_id": c.signal_id,
        "signal_confidence": c.signal_confidence,
        "catalyst_score": c.catalyst_score,
        "rvol": c.rvol,
        "atr": c.atr,
        "entry_order_id": c.entry_order_id,
        "exit_order_id": c.exit_order_id,
        "metadata": _dict(c.metadata),
    }


def closed_from(row: Row) -> ClosedPosition:
    """Return the closed position stored in ``row``."""
    return ClosedPosition(
        position_id=row["position_id"],
        ticker=row["ticker"],
        side=PositionSide(row["side"]),
        quantity=row["quantity"],
        entry_price=row["entry_price"],
        exit_price=row["exit_price"],
        realized_pnl=row["realized_pnl"],
        gross_pnl=row["gross_pnl"],
        commission=row["commission"],
        realized_pnl_pct=row["realized_pnl_pct"],
        opened_at=row["opened_at"],
        closed_at=row["closed_at"],
        exit_reason=ExitReason(row["exit_reason"]),
        max_unrealized_pnl=row["max_unrealized_pnl"],
        max_unrealized_pnl_pct=row["max_unrealized_pnl_pct"],
        min_unrealized_pnl=row["min_unrealized_pnl"],
        min_unrealized_pnl_pct=row["min_unrealized_pnl_pct"],
        max_drawdown_pct=row["max_drawdown_pct"],
        stop_loss=row["stop_loss"],
        take_profit=row["take_profit"],
        strategy=row["strategy"],
        signal_id=row["signal_id"],
        signal_confidence=row["signal_confidence"],
        catalyst_score=row["catalyst_score"],
        rvol=row["rvol"],
        atr=row["atr"],
        entry_order_id=row["entry_order_id"],
        exit_order_id=row["exit_order_id"],
        metadata=_dict(row["metadata"]),
    )


# --- journal --------------------------------------------------------------------------
def execution_row(r: ExecutionRecord) -> dict[str, Any]:
    """Return the ``execution_log`` row of ``r``."""
    return {
        "ts": r.ts, "ticker": r.ticker, "action": r.action, "stage": r.stage,
        "success": r.success, "signal_id": r.signal_id,
        "signal_confidence": r.signal_confidence, "catalyst_score": r.catalyst_score,
        "client_order_id": r.client_order_id, "position_id": r.position_id,
        "error_message": r.error_message, "elapsed_seconds": r.elapsed_seconds,
        "entry_price": r.entry_price, "stop_loss": r.stop_loss, "take_profit": r.take_profit,
        "quantity": r.quantity, "metadata": _dict(r.metadata),
    }


def execution_from(row: Row) -> ExecutionRecord:
    """Return the execution record stored in ``row``."""
    return ExecutionRecord(
        ts=row["ts"], ticker=row["ticker"], action=row["action"], stage=row["stage"],
        success=bool(row["success"]), signal_id=row["signal_id"],
        signal_confidence=row["signal_confidence"], catalyst_score=row["catalyst_score"],
        client_order_id=row["client_order_id"], position_id=row["position_id"],
        error_message=row["error_message"], elapsed_seconds=row["elapsed_seconds"],
        entry_price=row["entry_price"], stop_loss=row["stop_loss"],
        take_profit=row["take_profit"], quantity=row["quantity"],
        metadata=_dict(row["metadata"]),
    )


def risk_event_row(e: RiskEvent) -> dict[str, Any]:
    """Return the ``risk_events`` row of ``e``."""
    return {
        "event_id": e.event_id, "kind": e.kind, "rule": e.rule, "message": e.message,
        "ts_event": e.ts_event, "value": e.value, "limit_value": e.limit,
        "state": e.state.value if e.state is not None else None, "actor": e.actor,
        "data": _dict(e.data),
    }


def risk_event_from(row: Row) -> RiskEvent:
    """Return the risk event stored in ``row``."""
    return RiskEvent(
        kind=row["kind"], rule=row["rule"], message=row["message"], ts_event=row["ts_event"],
        value=row["value"], limit=row["limit_value"],
        state=RiskState(row["state"]) if row["state"] else None, actor=row["actor"],
        data=_dict(row["data"]), event_id=row["event_id"],
    )


def exit_event_row(e: ExitTriggered) -> dict[str, Any]:
    """Return the ``stop_loss_events`` row of ``e``."""
    return {
        "event_id": e.event_id, "position_id": e.position_id, "ticker": e.ticker,
        "reason": e.reason.value, "trigger_price": e.trigger_price, "level": e.level,
        "ts_event": e.ts_event, "was_trailing": e.was_trailing,
    }


def exit_event_from(row: Row) -> ExitTriggered:
    """Return the exit event stored in ``row``."""
    return ExitTriggered(
        position_id=row["position_id"], ticker=row["ticker"], reason=ExitReason(row["reason"]),
        trigger_price=row["trigger_price"], level=row["level"], ts_event=row["ts_event"],
        was_trailing=bool(row["was_trailing"]), event_id=row["event_id"],
    )


# --- reports and runs -----------------------------------------------------------------
def snapshot_row(s: PortfolioSnapshot) -> dict[str, Any]:
    """Return the ``portfolio_snapshots`` row of ``s``."""
    return {
        "run_id": s.run_id, "ts": s.ts, "cash": s.cash, "equity": s.equity,
        "long_market_value": s.long_market_value, "short_market_value": s.short_market_value,
        "open_positions": s.open_positions, "daily_pnl": s.daily_pnl,
        "cumulative_pnl": s.cumulative_pnl,
    }


def snapshot_from(row: Row) -> PortfolioSnapshot:
    """Return the snapshot stored in ``row``."""
    return PortfolioSnapshot(
        ts=row["ts"], cash=row["cash"], equity=row["equity"],
        long_market_value=row["long_market_value"], short_market_value=row["short_market_value"],
        open_positions=row["open_positions"], daily_pnl=row["daily_pnl"],
        cumulative_pnl=row["cumulative_pnl"], run_id=row["run_id"],
    )


def metrics_row(m: PerformanceRecord) -> dict[str, Any]:
    """Return the ``performance_metrics`` row of ``m``."""
    return {
        "run_id": m.run_id, "period": m.period, "period_start": m.period_start,
        "period_end": m.period_end, "metrics": _dict(m.metrics),
    }


def metrics_from(row: Row) -> PerformanceRecord:
    """Return the metrics record stored in ``row``."""
    return PerformanceRecord(
        period=row["period"], period_start=row["period_start"], period_end=row["period_end"],
        metrics=_dict(row["metrics"]), run_id=row["run_id"],
    )


def run_row(r: RunRecord) -> dict[str, Any]:
    """Return the ``runs`` row of ``r``."""
    return {
        "run_id": r.run_id, "kind": r.kind, "status": r.status, "started_at": r.started_at,
        "finished_at": r.finished_at, "params": _dict(r.params),
    }


def run_from(row: Row) -> RunRecord:
    """Return the run stored in ``row``."""
    return RunRecord(
        run_id=row["run_id"], kind=row["kind"], started_at=row["started_at"],
        params=_dict(row["params"]), finished_at=row["finished_at"], status=row["status"],
    )

