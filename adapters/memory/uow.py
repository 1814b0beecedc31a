"""An in-memory unit of work with the same semantics as the SQL one.

Reads return copies, so changing an entity without ``save`` changes nothing stored; a
transaction works on a copy of the committed state and ``commit`` swaps it in.
"""

from __future__ import annotations

import copy
import copyreg
import types
from datetime import datetime
from types import TracebackType
from typing import Any, Self

import attrs

from domain.audit import ExecutionRecord, PerformanceRecord, PortfolioSnapshot, RunRecord
from domain.errors import ConcurrencyConflict, DuplicateClientOrderId, DuplicateFill, NotFound
from domain.events import ExitTriggered, Fill, OrderEvent, RiskEvent
from domain.orders import Order
from domain.position import ClosedPosition, Position

# Records freeze their metadata in MappingProxyType, which copy.deepcopy cannot copy by itself.
copyreg.pickle(types.MappingProxyType, lambda m: (types.MappingProxyType, (dict(m),)))


@attrs.define
class _State:
    orders: dict[str, Order] = attrs.field(factory=dict)
    order_events: list[OrderEvent] = attrs.field(factory=list)
    fills: dict[str, Fill] = attrs.field(factory=dict)
    positions: dict[str, Position] = attrs.field(factory=dict)
    closed: dict[str, ClosedPosition] = attrs.field(factory=dict)
    executions: list[ExecutionRecord] = attrs.field(factory=list)
    risk_events: list[RiskEvent] = attrs.field(factory=list)
    exit_events: list[ExitTriggered] = attrs.field(factory=list)
    kv: dict[str, str] = attrs.field(factory=dict)
    snapshots: dict[tuple[str | None, datetime], PortfolioSnapshot] = attrs.field(factory=dict)
    metrics: dict[tuple[str | None, str, datetime], PerformanceRecord] = attrs.field(factory=dict)
    runs: dict[str, RunRecord] = attrs.field(factory=dict)


class _Base:
    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        self._uow = uow

    @property
    def _s(self) -> _State:
        return self._uow._working()


class _Orders(_Base):
    def add(self, order: Order) -> None:
        if order.client_order_id in self._s.orders:
            raise DuplicateClientOrderId(order.client_order_id)
        self._s.orders[order.client_order_id] = copy.deepcopy(order)

    def get(self, client_order_id: str) -> Order | None:
        o = self._s.orders.get(client_order_id)
        return copy.deepcopy(o) if o is not None else None

    def save(self, order: Order) -> None:
        if order.client_order_id not in self._s.orders:
            raise NotFound(f"order {order.client_order_id} was never added")
        self._s.orders[order.client_order_id] = copy.deepcopy(order)

    def list(self, *, open_only: bool = False, ticker: str | None = None) -> list[Order]:
        return [
            copy.deepcopy(o)
            for o in sorted(self._s.orders.values(), key=lambda o: o.created_at)
            if (not open_only or o.is_open) and (ticker is None or o.ticker == ticker)
        ]

    def record_event(self, event: OrderEvent) -> None:
        self._s.order_events.append(event)


class _Fills(_Base):
    def add(self, fill: Fill) -> None:
        if fill.fill_id in self._s.fills:
            raise DuplicateFill(fill.fill_id, "fills table")
        self._s.fills[fill.fill_id] = fill

    def exists(self, fill_id: str) -> bool:
        return fill_id in self._s.fills

    def for_order(self, client_order_id: str) -> list[Fill]:
        return sorted(
            (f for f in self._s.fills.values() if f.client_order_id == client_order_id),
            key=lambda f: f.ts_event,
        )


class _Positions(_Base):
    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        super().__init__(uow)
        self._loaded: dict[str, int] = {}

    def _out(self, p: Position) -> Position:
        self._loaded[p.position_id] = p.version
        return copy.deepcopy(p)

    def add(self, position: Position) -> None:
        if position.position_id in self._s.positions or position.position_id in self._s.closed:
            raise ConcurrencyConflict(f"position {position.position_id} already exists")
        self._s.positions[position.position_id] = copy.deepcopy(position)
        self._loaded[position.position_id] = position.version

    def get(self, position_id: str) -> Position | None:
        p = self._s.positions.get(position_id)
        return self._out(p) if p is not None else None

    def open_for(self, ticker: str) -> Position | None:
        for p in self._s.positions.values():
            if p.ticker == ticker:
                return self._out(p)
        return None

    def list_open(self) -> list[Position]:
        return [self._out(p) for p in sorted(self._s.positions.values(), key=lambda p: p.opened_at)]

    def _check(self, position: Position) -> None:
        stored = self._s.positions.get(position.position_id)
        if stored is None:
            raise ConcurrencyConflict(f"position {position.position_id} is not open any more")
        expected = self._loaded.get(position.position_id)
        if expected is None or stored.version != expected:
            raise ConcurrencyConflict(
                f"position {position.position_id} changed since it was read "
                f"(stored version {stored.version}, read {expected})"
            )

    def save(self, position: Position) -> None:
        self._check(position)
        self._s.positions[position.position_id] = copy.deepcopy(position)
        self._loaded[position.position_id] = position.version

    def close(self, position: Position, closed: ClosedPosition) -> None:
        self._check(position)
        del self._s.positions[position.position_id]
        self._s.closed[closed.position_id] = closed
        self._loaded.pop(position.position_id, None)

    def list_closed(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> list[ClosedPosition]:
        return sorted(
            (
                c for c in self._s.closed.values()
                if (since is None or c.closed_at >= since) and (until is None or c.closed_at <= until)
            ),
            key=lambda c: (c.closed_at, c.position_id),
        )


class _Journal(_Base):
    def add_execution(self, record: ExecutionRecord) -> None:
        self._s.executions.append(record)

    def add_risk_event(self, event: RiskEvent) -> None:
        self._s.risk_events.append(event)

    def add_exit_event(self, event: ExitTriggered) -> None:
        self._s.exit_events.append(event)

    def executions(self, signal_id: str | None = None) -> list[ExecutionRecord]:
        return [r for r in self._s.executions if signal_id is None or r.signal_id == signal_id]

    def risk_events(self) -> list[RiskEvent]:
        return list(self._s.risk_events)


class _KeyValue(_Base):
    def get(self, key: str) -> str | None:
        return self._s.kv.get(key)

    def set(self, key: str, value: str) -> None:
        self._s.kv[key] = value


class _Reports(_Base):
    def add_snapshot(self, snapshot: PortfolioSnapshot) -> None:
        self._s.snapshots[(snapshot.run_id, snapshot.ts)] = snapshot

    def snapshots(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> list[PortfolioSnapshot]:
        return sorted(
            (
                s for s in self._s.snapshots.values()
                if (since is None or s.ts >= since) and (until is None or s.ts <= until)
            ),
            key=lambda s: s.ts,
        )

    def save_metrics(self, record: PerformanceRecord) -> None:
        self._s.metrics[(record.run_id, record.period, record.period_start)] = record

    def metrics(self, period: str | None = None) -> list[PerformanceRecord]:
        return sorted(
            (m for m in self._s.metrics.values() if period is None or m.period == period),
            key=lambda m: (m.period_start, m.period),
        )


class _Runs(_Base):
    def start(self, run: RunRecord) -> None:
        self._s.runs.setdefault(run.run_id, run)

    def finish(self, run_id: str, ts: datetime, status: str) -> None:
        run = self._s.runs.get(run_id)
        if run is None:
            raise NotFound(f"run {run_id} was never started")
        self._s.runs[run_id] = attrs.evolve(run, finished_at=ts, status=status)

    def get(self, run_id: str) -> RunRecord | None:
        return self._s.runs.get(run_id)

    def latest(self, kind: str | None = None) -> RunRecord | None:
        runs = [r for r in self._s.runs.values() if kind is None or r.kind == kind]
        return max(runs, key=lambda r: r.started_at) if runs else None


class InMemoryUnitOfWork:
    """A unit of work over dictionaries. Reusable: ``with uow:`` opens a transaction."""

    def __init__(self) -> None:
        self._committed = _State()
        self._tx: _State | None = None
        self.orders = _Orders(self)
        self.fills = _Fills(self)
        self.positions = _Positions(self)
        self.journal = _Journal(self)
        self.state = _KeyValue(self)
        self.reports = _Reports(self)
        self.runs = _Runs(self)
        self.commits = 0

    def _working(self) -> _State:
        if self._tx is None:
            raise RuntimeError("use the unit of work inside 'with uow:'")
        return self._tx

    def __enter__(self) -> Self:
        self._tx = copy.deepcopy(self._committed)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._tx = None

    def commit(self) -> None:
        tx = self._working()
        self._committed = copy.deepcopy(tx)
        self.commits += 1

    def rollback(self) -> None:
        self._tx = copy.deepcopy(self._committed)

    def snapshot(self) -> dict[str, Any]:
        """Return counts of what is committed (for tests and diagnostics)."""
        c = self._committed
        return {
            "orders": len(c.orders), "fills": len(c.fills), "positions": len(c.positions),
            "closed": len(c.closed), "executions": len(c.executions),
        }
