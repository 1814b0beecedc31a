"""The trading repositories of :class:`~adapters.sqlalchemy.uow.SqlUnitOfWork`: orders and
their events, fills, positions (versioned), the journal, the key-value state and the report
rows. Each runs its statements through the unit of work (which holds some writes back; see
there) and reads and writes the unit of work's run only.

Why one module: the repositories are small and share the row mappings and the unit of work's
protocol for held writes and kept rows; splitting them by table is the seam to take when one
grows.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    Boolean,
    Executable,
    Float,
    Integer,
    RowMapping,
    Table,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import CursorResult, Dialect
from sqlalchemy.exc import IntegrityError

from adapters.sqlalchemy import mapping as m
from adapters.sqlalchemy import tables as t
from adapters.sqlalchemy.engine import json_dumps
from adapters.sqlalchemy.statements import TERMINAL, Statements, is_fk
from adapters.sqlalchemy.types import Money, UtcDateTime
from domain.audit import ExecutionRecord, PerformanceRecord, PortfolioSnapshot
from domain.errors import ConcurrencyConflict, DuplicateClientOrderId, DuplicateFill, NotFound
from domain.events import ExitTriggered, Fill, OrderEvent, RiskEvent
from domain.orders import Order
from domain.position import ClosedPosition, Position

if TYPE_CHECKING:
    from adapters.sqlalchemy.uow import SqlUnitOfWork

def _jsonb(value: Any) -> Any:
    # a JSON document as PostgreSQL's jsonb gives it back: object keys shorter first, then
    # in byte order
    if isinstance(value, dict):
        return {k: _jsonb(value[k]) for k in sorted(value, key=lambda k: (len(k.encode()),
                                                                       k.encode()))}
    if isinstance(value, list):
        return [_jsonb(v) for v in value]
    return value


def _converter(column: Any, dialect: Dialect) -> Callable[[Any], Any]:
    # what reading a value of this column back gives (the column type's round trip)
    typ = column.type
    if isinstance(typ, Money):
        return lambda v: Decimal(str(v))
    if isinstance(typ, UtcDateTime):
        return lambda v: v.astimezone(UTC)
    if isinstance(typ, JSON):
        if isinstance(typ.dialect_impl(dialect), JSONB):
            return lambda v: _jsonb(json.loads(json_dumps(v)))
        return lambda v: json.loads(json_dumps(v))
    if isinstance(typ, Float):
        return float
    if isinstance(typ, Boolean):
        return bool
    if isinstance(typ, Integer):
        return int
    return lambda v: v


Converters = list[tuple[str, Callable[[Any], Any]]]
_CONVERTERS: dict[str, tuple[Converters, Converters, Converters]] = {}


def _converters(dialect: Dialect) -> tuple[Converters, Converters, Converters]:
    """Return the converters of the positions', the orders' and the orders' state columns."""
    got = _CONVERTERS.get(dialect.name)
    if got is None:
        orders = [(c.name, _converter(c, dialect)) for c in t.orders.c if c.name != "run_id"]
        got = _CONVERTERS[dialect.name] = (
            [(c.name, _converter(c, dialect)) for c in t.positions.c if c.name != "run_id"],
            orders, [(n, conv) for n, conv in orders if n in m.ORDER_STATE_COLUMNS])
    return got


def stored_order_row(order: Order, dialect: Dialect) -> dict[str, Any]:
    """Return the ``orders`` row of ``order`` as reading it back gives it."""
    row = m.order_row(order)
    return {name: None if row[name] is None else conv(row[name])
            for name, conv in _converters(dialect)[1]}


def _order_key(row: Any) -> tuple[Any, str]:
    return row["created_at"], row["client_order_id"]


def _position_key(row: Any) -> tuple[Any, str]:
    return row["opened_at"], row["position_id"]


def stored_position_row(position: Position, dialect: Dialect) -> dict[str, Any]:
    """Return the ``positions`` row of ``position`` as reading it back gives it."""
    row = m.position_row(position)
    return {name: None if row[name] is None else conv(row[name])
            for name, conv in _converters(dialect)[0]}


class Repo:
    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    def _x(self, stmt: Executable, params: Any = None) -> CursorResult[Any]:
        return self._uow._execute(stmt, params)

    @property
    def _q(self) -> Statements:
        return self._uow._stmts

    def _stamp(self, row: dict[str, Any]) -> dict[str, Any]:
        self._uow._ensure_run()
        row["run_id"] = self._uow.run_id
        return row

    def _p(self, **params: Any) -> dict[str, Any]:
        params["k_run"] = self._uow.run_id
        return params

    def _mine(self, table: Table) -> Any:
        return table.c.run_id == self._uow.run_id

    def _mine_between(self, table: Table, col: Any, since: datetime | None,
                      until: datetime | None) -> Any:
        """Select this run's rows of ``table`` whose ``col`` lies in ``[since, until]``
        (an open end where ``None``)."""
        q = select(table).where(self._mine(table))
        if since is not None:
            q = q.where(col >= since)
        if until is not None:
            q = q.where(col <= until)
        return q


class SqlOrders(Repo):
    """``OrderRepo`` over ``orders`` and ``order_events``.

    With grouped commits the orders' rows read or added are kept (see ``SqlUnitOfWork``):
    ``get``, ``list()`` and ``list(open_only=True)`` are answered from them once read, and an
    update of a kept order is held.
    """

    def add(self, order: Order) -> None:
        try:
            res = self._x(self._q.order_insert, self._stamp(m.order_row(order)))
        except IntegrityError as exc:
            raise self._uow._integrity(exc, f"order {order.client_order_id}") from exc
        if res.first() is None:
            raise DuplicateClientOrderId(order.client_order_id)
        uow = self._uow
        if uow._grouping():  # kept as a read would return it, in the queries' order
            oid = order.client_order_id
            rows = uow._order_rows
            rows[oid] = stored_order_row(order, uow.engine.dialect)
            uow._all_orders = uow._placed(uow._all_orders, rows, oid, _order_key)
            if rows[oid]["status"] not in TERMINAL:
                uow._open_orders = uow._placed(uow._open_orders, rows, oid, _order_key)

    def _load_all(self) -> None:
        # every order of the run, kept (with grouped commits)
        uow = self._uow
        rows = list(self._x(self._q.orders_all, self._p()).mappings())
        uow._order_rows = {r["client_order_id"]: r for r in rows}
        uow._all_orders = [r["client_order_id"] for r in rows]
        uow._orders_complete = True

    def get(self, client_order_id: str) -> Order | None:
        uow = self._uow
        row = uow._order_rows.get(client_order_id)
        if row is None and uow._grouping():
            if not uow._orders_complete:
                self._load_all()
            row = uow._order_rows.get(client_order_id)
        elif row is None:
            row = self._x(self._q.order_get, self._p(k_id=client_order_id)).mappings().first()
        return m.order_from(row) if row is not None else None

    def save(self, order: Order) -> None:
        uow = self._uow
        row = m.order_row(order)
        values = {k: row[k] for k in m.ORDER_STATE_COLUMNS}
        values["k_id"] = order.client_order_id
        values["k_run"] = uow.run_id
        oid = order.client_order_id
        old = uow._order_rows.get(oid)
        grouping = uow._grouping()
        if grouping and (old is not None or oid in uow._locked_orders):
            # known to be stored (read or written with grouped commits): held, the last sent
            # (with the next read of orders, or at the commit)
            uow.connection  # noqa: B018 - only inside 'with uow:'
            uow._deferred[(id(self._q.order_update), oid)] = (
                None, {}, self._q.order_update, values)
        elif grouping and uow._orders_complete:
            raise NotFound(f"order {order.client_order_id} was never added")
        else:
            res = self._x(self._q.order_update, values)
            if res.rowcount == 0:
                raise NotFound(f"order {order.client_order_id} was never added")
            if grouping:
                uow._locked_orders.add(oid)
        if old is None:
            return
        # the stored row now: the one read, with the updated columns as reading them gives
        new = {**old, **{k: None if row[k] is None else conv(row[k])
                         for k, conv in _converters(uow.engine.dialect)[2]}}
        uow._order_rows[oid] = new
        if uow._open_orders is not None and new["status"] in TERMINAL:
            uow._open_orders = [i for i in uow._open_orders if i != oid]

    def list(self, *, open_only: bool = False, ticker: str | None = None) -> list[Order]:
        uow = self._uow
        if ticker is None and open_only:  # the engine's every-step query, prebuilt
            ids = uow._open_orders
            if ids is None:
                rows = list(self._x(self._q.orders_open, self._p()).mappings())
                if not uow._grouping():
                    return [m.order_from(r) for r in rows]
                uow._order_rows.update((r["client_order_id"], r) for r in rows)
                ids = uow._open_orders = [r["client_order_id"] for r in rows]
            return [m.order_from(uow._order_rows[i]) for i in ids]
        if ticker is None:
            ids = uow._all_orders
            if ids is None:
                if not uow._grouping():
                    return [m.order_from(r)
                            for r in self._x(self._q.orders_all, self._p()).mappings()]
                self._load_all()
                ids = uow._all_orders or []
            return [m.order_from(uow._order_rows[i]) for i in ids]
        q = select(t.orders).where(self._mine(t.orders))
        if open_only:
            q = q.where(t.orders.c.status.not_in(TERMINAL))
        if ticker is not None:
            q = q.where(t.orders.c.ticker == ticker)
        q = q.order_by(t.orders.c.created_at, t.orders.c.client_order_id)
        return [m.order_from(r) for r in self._x(q).mappings()]

    def record_event(self, event: OrderEvent) -> None:
        self._uow._append(self._q.order_event_insert, self._stamp(m.order_event_row(event)))


class SqlFills(Repo):
    """``FillRepo`` over ``fills`` (primary key ``fill_id``, foreign key to ``orders``)."""

    def add(self, fill: Fill) -> None:
        try:
            res = self._x(self._q.fill_insert, self._stamp(m.fill_row(fill)))
        except IntegrityError as exc:
            if is_fk(exc):
                raise NotFound(
                    f"fill {fill.fill_id}: order {fill.client_order_id} is not stored; "
                    "add the order before its fills"
                ) from exc
            raise
        if res.first() is None:
            raise DuplicateFill(fill.fill_id, "fills table")
        if self._uow._fill_ids is not None:
            self._uow._fill_ids.add(fill.fill_id)

    def exists(self, fill_id: str) -> bool:
        uow = self._uow
        if uow._grouping():  # the run's fill ids, read once and kept
            if uow._fill_ids is None:
                uow._fill_ids = set(self._x(self._q.fill_ids, self._p()).scalars())
            return fill_id in uow._fill_ids
        return bool(self._x(self._q.fill_exists, self._p(k_id=fill_id)).scalar())

    def for_order(self, client_order_id: str) -> list[Fill]:
        rows = self._x(self._q.fills_of_order, self._p(k_id=client_order_id)).mappings()
        return [m.fill_from(r) for r in rows]


class SqlPositions(Repo):
    """``PositionRepo`` over ``positions`` (versioned) and ``closed_positions``.

    With grouped commits the open positions' rows are read once and kept (see
    ``SqlUnitOfWork``), following this unit of work's own adds, updates and closes, so the
    every-step reads (``list_open``, ``open_for``, ``get``) are answered from them; updates
    and the deletes of closed positions are held.
    """

    def _cached(self) -> list[Any] | None:
        uow = self._uow
        if uow._open_rows is None and uow._grouping():
            self._read_open()
        return uow._open_rows

    def _read_open(self) -> list[Any]:
        uow = self._uow
        rows = list(self._x(self._q.positions_open, self._p()).mappings())
        if uow._grouping():  # kept (see the class)
            uow._open_rows = rows
        return rows

    def _out(self, row: RowMapping) -> Position:
        p = m.position_from(row)
        self._uow._loaded[p.position_id] = p.version
        return p

    def add(self, position: Position) -> None:
        pid = position.position_id
        uow = self._uow
        # inserted unless the id is taken by an open or a closed position
        res = self._x(self._q.position_insert, self._stamp(m.position_row(position)))
        if res.first() is None:
            if self._x(self._q.closed_exists, {"k_id": pid}).scalar():
                raise ConcurrencyConflict(f"position {pid} already exists (closed)")
            raise ConcurrencyConflict(f"position {pid} already exists")
        uow._loaded[pid] = position.version
        rows = uow._open_rows
        if rows is not None and uow._grouping():  # kept, in the query's order
            new = stored_position_row(position, uow.engine.dialect)
            by_id = {r["position_id"]: r for r in rows}
            by_id[pid] = new
            ids = uow._placed([r["position_id"] for r in rows], by_id, pid, _position_key)
            uow._open_rows = None if ids is None else [by_id[i] for i in ids]

    def get(self, position_id: str) -> Position | None:
        rows = self._cached()
        if rows is not None:
            return next((self._out(r) for r in rows if r["position_id"] == position_id), None)
        row = self._x(self._q.position_get, self._p(k_id=position_id)).mappings().first()
        return self._out(row) if row is not None else None

    def open_for(self, ticker: str) -> Position | None:
        rows = self._cached()
        if rows is not None:  # in the query's order: the first of the ticker
            return next((self._out(r) for r in rows if r["ticker"] == ticker), None)
        row = self._x(self._q.position_of_ticker, self._p(k_ticker=ticker)).mappings().first()
        return self._out(row) if row is not None else None

    def list_open(self) -> list[Position]:
        rows = self._uow._open_rows
        if rows is None:
            rows = self._read_open()
        return [self._out(r) for r in rows]

    def _expected(self, position: Position) -> int:
        expected = self._uow._loaded.get(position.position_id)
        if expected is None:
            raise ConcurrencyConflict(
                f"position {position.position_id} was not read in this unit of work"
            )
        return expected

    def _conflict(self, position: Position, expected: int) -> ConcurrencyConflict:
        stored = self._x(self._q.position_version, self._p(k_id=position.position_id)).scalar()
        if stored is None:
            return ConcurrencyConflict(f"position {position.position_id} is not open any more")
        return ConcurrencyConflict(
            f"position {position.position_id} changed since it was read "
            f"(stored version {stored}, read {expected})"
        )

    def save(self, position: Position) -> None:
        expected = self._expected(position)
        row = m.position_row(position)
        del row["position_id"]
        row["k_id"] = position.position_id
        row["k_version"] = expected
        row["k_run"] = self._uow.run_id
        uow = self._uow
        pid = position.position_id
        if uow._grouping():
            # held, the last one sent (with the next read of positions, or at the commit)
            uow.connection  # noqa: B018 - only inside 'with uow:'
            key = (id(self._q.position_update), pid)
            earlier = uow._deferred.get(key)
            if earlier is not None:  # replaced unsent: at the version that one expected
                row["k_version"] = earlier[3]["k_version"]
            uow._deferred[key] = (None, {}, self._q.position_update, row)
        else:
            res = self._x(self._q.position_update, row)
            if res.rowcount != 1:
                raise self._conflict(position, expected)
        uow._loaded[pid] = position.version
        rows = uow._open_rows
        if rows is not None:  # keep them, this row as now stored (same place: same order)
            new = stored_position_row(position, uow.engine.dialect)
            at = next((i for i, r in enumerate(rows) if r["position_id"] == pid), None)
            if at is not None and rows[at]["opened_at"] == new["opened_at"]:
                uow._open_rows = [*rows[:at], new, *rows[at + 1:]]
            else:
                uow._open_rows = None

    def close(self, position: Position, closed: ClosedPosition) -> None:
        expected = self._expected(position)
        uow = self._uow
        pid = position.position_id
        if uow._grouping():
            # held like an update; an unsent update of this block is moot (deleted at the
            # version that one expected)
            uow.connection  # noqa: B018 - only inside 'with uow:'
            earlier = uow._deferred.pop((id(self._q.position_update), pid), None)
            version = expected if earlier is None else earlier[3]["k_version"]
            uow._deferred[(id(self._q.position_delete), pid)] = (
                None, {}, self._q.position_delete, self._p(k_id=pid, k_version=version))
        else:
            res = self._x(self._q.position_delete, self._p(k_id=pid, k_version=expected))
            if res.rowcount != 1:
                raise self._conflict(position, expected)
        res = self._x(self._q.closed_insert, self._stamp(m.closed_row(closed)))
        if res.first() is None:
            raise ConcurrencyConflict(f"position {closed.position_id} was closed before")
        uow._loaded.pop(pid, None)
        if uow._open_rows is not None:  # kept without the closed one
            uow._open_rows = [r for r in uow._open_rows if r["position_id"] != pid]

    def list_closed(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> list[ClosedPosition]:
        c = t.closed_positions.c
        q = self._mine_between(t.closed_positions, c.closed_at, since, until).order_by(
            c.closed_at, c.position_id)
        return [m.closed_from(r) for r in self._x(q).mappings()]


class SqlJournal(Repo):
    """``JournalRepo`` over ``execution_log``, ``risk_events`` and ``stop_loss_events``."""

    def add_execution(self, record: ExecutionRecord) -> None:
        self._uow._append(self._q.execution_insert, self._stamp(m.execution_row(record)))

    def add_risk_event(self, event: RiskEvent) -> None:
        self._uow._append(self._q.risk_insert, self._stamp(m.risk_event_row(event)))

    def add_exit_event(self, event: ExitTriggered) -> None:
        self._uow._append(self._q.exit_insert, self._stamp(m.exit_event_row(event)))

    def executions(self, signal_id: str | None = None) -> list[ExecutionRecord]:
        q = select(t.execution_log).where(self._mine(t.execution_log))
        if signal_id is not None:
            q = q.where(t.execution_log.c.signal_id == signal_id)
        q = q.order_by(t.execution_log.c.id)
        return [m.execution_from(r) for r in self._x(q).mappings()]

    def risk_events(self) -> list[RiskEvent]:
        q = select(t.risk_events).where(self._mine(t.risk_events)).order_by(t.risk_events.c.id)
        return [m.risk_event_from(r) for r in self._x(q).mappings()]

    def exit_events(self) -> list[ExitTriggered]:
        """Return exit events, oldest first (not in the port; for reports and tests)."""
        q = select(t.stop_loss_events).where(self._mine(t.stop_loss_events)).order_by(
            t.stop_loss_events.c.id)
        return [m.exit_event_from(r) for r in self._x(q).mappings()]


class SqlState(Repo):
    """``StateRepo`` over ``kv_state`` (one value per run and key)."""

    def get(self, key: str) -> str | None:
        uow = self._uow
        pending = uow._kv_pending.get(key) or uow._pt_kv.get(key)
        if pending is not None:  # set earlier in this unit of work, not yet sent
            return str(pending["value"])
        cache = uow._kv_read
        if uow._grouping():
            uow._kv_used.add(key)
        if key in cache:  # read earlier in this transaction
            return cache[key]
        keys = sorted((uow._kv_watch - cache.keys()) | {key}) if uow._grouping() else [key]
        if len(keys) > 1:
            # with grouped commits, the keys read in the last transaction (read again in each:
            # other processes write some) are read at the first of them, in one statement
            res = uow._execute(self._q.kv_get_many, self._p(k_keys=keys), flush=False)
            pairs: list[Any] = list(res)
            got: dict[str, str] = {str(r[0]): r[1] for r in pairs}
            for k in keys:
                cache[k] = got.get(k)
            uow._kv_watch = set()
            return cache[key]
        value: str | None = uow._execute(self._q.kv_get, self._p(k_id=key), flush=False).scalar()
        cache[key] = value
        return value

    def set(self, key: str, value: str) -> None:
        now = datetime.now(UTC)
        # written at commit, one upsert per key (the last value), all keys in one batch
        self._uow._kv_pending[key] = self._stamp({"key": key, "value": value,
                                                  "updated_at": now})
        self._uow._kv_read.pop(key, None)



class SqlReports(Repo):
    """``ReportRepo`` over ``portfolio_snapshots`` and ``performance_metrics``."""

    def add_snapshot(self, snapshot: PortfolioSnapshot) -> None:
        self._uow._replace(self._q.snapshot_delete, self._p(k_ts=snapshot.ts),
                           self._q.snapshot_insert, self._stamp(m.snapshot_row(snapshot)),
                           snapshot.ts)

    def snapshots(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> list[PortfolioSnapshot]:
        c = t.portfolio_snapshots.c
        q = self._mine_between(t.portfolio_snapshots, c.ts, since, until).order_by(c.ts, c.id)
        return [m.snapshot_from(r) for r in self._x(q).mappings()]

    def save_metrics(self, record: PerformanceRecord) -> None:
        self._uow._replace(
            self._q.metrics_delete,
            self._p(k_period=record.period, k_start=record.period_start),
            self._q.metrics_insert, self._stamp(m.metrics_row(record)),
            (record.period, record.period_start),
        )

    def metrics(self, period: str | None = None) -> list[PerformanceRecord]:
        c = t.performance_metrics.c
        q = select(t.performance_metrics).where(self._mine(t.performance_metrics))
        if period is not None:
            q = q.where(c.period == period)
        q = q.order_by(c.period_start, c.period, c.id)
        return [m.metrics_from(r) for r in self._x(q).mappings()]
