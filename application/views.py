"""Read models: what the CLI's read commands and the dashboard show, as plain typed values.

Each function reads one run's books through a unit of work (opened for that run with
``uow.for_run(name)``) and returns frozen values; nothing here formats text or writes, except
:func:`performance`, which recomputes the run's period metrics and stores them as the tracker
does at the end of a run. Callers render the values as they like (tables, JSON, charts).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs

from application.ports import DEFAULT_RUN, ModelRegistry, UnitOfWork
from application.risk import RiskService
from application.tracker import PERIODS, PortfolioTracker
from domain.audit import PerformanceRecord
from domain.position import ClosedPosition
from domain.risk import BreakerState
from domain.rl.models import ModelVersion

__all__ = [
    "AccountView",
    "EquityPoint",
    "OrderView",
    "PositionView",
    "RunSummary",
    "UnknownRun",
    "account",
    "equity_curve",
    "latest_run",
    "models",
    "orders",
    "performance",
    "positions",
    "resolve_run",
    "risk_state",
    "runs",
    "trades",
]


class UnknownRun(LookupError):
    """A run name the store does not hold; ``known`` lists the names it does."""

    def __init__(self, name: str, known: Sequence[str]) -> None:
        super().__init__(f"no such run {name!r} (runs: {', '.join(known) or 'none'})")
        self.name = name
        self.known = tuple(known)


@attrs.frozen
class PositionView:
    """An open position with its stops and mark."""

    position_id: str
    ticker: str
    side: str
    quantity: Decimal
    avg_entry_price: Decimal
    last_price: Decimal | None
    unrealized_pnl: Decimal
    stop_loss: Decimal | None
    take_profit: Decimal | None
    trailing_stop: Decimal | None
    opened_at: datetime


@attrs.frozen
class OrderView:
    """An order as stored, with the signal and position it belongs to."""

    client_order_id: str
    ticker: str
    side: str
    quantity: Decimal
    status: str
    filled_qty: Decimal
    avg_fill_price: Decimal | None
    created_at: datetime
    signal_id: str | None
    position_id: str | None
    #: what produced the order: a strategy name, or ``agent:NAME@VERSION``
    source: str | None = None


@attrs.frozen
class AccountView:
    """The run's latest portfolio snapshot and the run's status."""

    run_id: str | None
    as_of: datetime
    cash: Decimal
    equity: Decimal
    long_market_value: Decimal
    short_market_value: Decimal
    open_positions: int
    daily_pnl: Decimal
    cumulative_pnl: Decimal
    run_status: str | None


@attrs.frozen
class EquityPoint:
    """One step of the equity curve, with the drawdown from the running peak (a fraction)."""

    ts: datetime
    equity: Decimal
    cash: Decimal
    drawdown: Decimal


@attrs.frozen
class RunSummary:
    """One run of a store: its record, the size of its books and its last equity."""

    run: str
    kind: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    orders: int
    open_positions: int
    trades: int
    equity: Decimal | None
    latest: bool
    params: Mapping[str, Any]


def latest_run(uow: UnitOfWork) -> str:
    """Return the run started or finished most recently (the default run when none)."""
    with uow as u:
        records = u.runs.list()
    return records[-1].run_id if records else DEFAULT_RUN


def resolve_run(uow: UnitOfWork, name: str | None) -> str:
    """Return ``name`` if the store holds that run, else raise :class:`UnknownRun`;
    ``None`` means the latest run."""
    if name is None:
        return latest_run(uow)
    with uow as u:
        known = [r.run_id for r in u.runs.list()]
    if name not in known:
        raise UnknownRun(name, known)
    return name


def positions(uow: UnitOfWork) -> list[PositionView]:
    """Return the run's open positions."""
    with uow as u:
        return [PositionView(
            position_id=p.position_id, ticker=p.ticker, side=p.side.value, quantity=p.quantity,
            avg_entry_price=p.avg_entry_price, last_price=p.last_price,
            unrealized_pnl=p.unrealized_pnl(), stop_loss=p.stop_loss,
            take_profit=p.take_profit, trailing_stop=p.trailing_stop, opened_at=p.opened_at,
        ) for p in u.positions.list_open()]


def orders(uow: UnitOfWork, *, open_only: bool = False) -> list[OrderView]:
    """Return the run's orders (only those still working with ``open_only``), oldest first."""
    with uow as u:
        return [OrderView(
            client_order_id=o.client_order_id, ticker=o.ticker, side=o.side.value,
            quantity=o.quantity, status=o.status.value, filled_qty=o.filled_qty,
            avg_fill_price=o.avg_fill_price, created_at=o.created_at,
            signal_id=o.request.signal_id, position_id=o.request.position_id,
            source=o.request.strategy,
        ) for o in u.orders.list(open_only=open_only)]


def trades(uow: UnitOfWork) -> list[ClosedPosition]:
    """Return the run's closed positions (the trade log), oldest first."""
    with uow as u:
        return list(u.positions.list_closed())


def account(uow: UnitOfWork, run: str) -> AccountView | None:
    """Return the latest snapshot of run ``run`` (None before its first step)."""
    with uow as u:
        snaps = u.reports.snapshots()
        record = u.runs.get(run)
    if not snaps:
        return None
    s = snaps[-1]
    return AccountView(
        run_id=s.run_id, as_of=s.ts, cash=s.cash, equity=s.equity,
        long_market_value=s.long_market_value, short_market_value=s.short_market_value,
        open_positions=s.open_positions, daily_pnl=s.daily_pnl, cumulative_pnl=s.cumulative_pnl,
        run_status=record.status if record else None)


def equity_curve(uow: UnitOfWork) -> list[EquityPoint]:
    """Return the run's equity per step with its drawdown from the running peak."""
    with uow as u:
        snaps = u.reports.snapshots()
    out: list[EquityPoint] = []
    peak: Decimal | None = None
    for s in snaps:
        peak = s.equity if peak is None or s.equity > peak else peak
        dd = (s.equity / peak - 1) if peak > 0 else Decimal(0)
        out.append(EquityPoint(ts=s.ts, equity=s.equity, cash=s.cash, drawdown=dd))
    return out


def performance(uow: UnitOfWork, run: str, period: str) -> list[PerformanceRecord]:
    """Return the run's metrics per ``period`` (daily, weekly, monthly or all), recomputed
    from its snapshots and trades and stored; ``ValueError`` for another period, and
    :class:`UnknownRun` when the run has never started."""
    if period not in PERIODS:
        raise ValueError(f"period {period!r}: expected one of {', '.join(PERIODS)}")
    with uow as u:
        record = u.runs.get(run)
        if record is None:
            raise UnknownRun(run, [r.run_id for r in u.runs.list()])
        recs = PortfolioTracker(record.run_id).compute(u, (period,))[period]
        u.commit()
    return list(recs)


def runs(uow: UnitOfWork) -> list[RunSummary]:
    """Return every run of the store, oldest first, with its size and last equity."""
    with uow as u:
        records = u.runs.list()
    out: list[RunSummary] = []
    for r in records:
        with uow.for_run(r.run_id) as u:
            snaps = u.reports.snapshots()
            out.append(RunSummary(
                run=r.run_id, kind=r.kind, status=r.status, started_at=r.started_at,
                finished_at=r.finished_at, orders=len(u.orders.list()),
                open_positions=len(u.positions.list_open()),
                trades=len(u.positions.list_closed()),
                equity=snaps[-1].equity if snaps else None, latest=r is records[-1],
                params=dict(r.params)))
    return out


def risk_state(uow: UnitOfWork) -> BreakerState:
    """Return the run's persisted breaker state (ACTIVE when none is stored)."""
    with uow as u:
        return RiskService.load(u)


def models(registry: ModelRegistry, name: str | None = None) -> list[ModelVersion]:
    """Return every registered model version (of one model), by name then version."""
    return list(registry.list(name))
