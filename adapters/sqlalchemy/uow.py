"""The SQL unit of work: the repositories of ``application.ports`` over SQLAlchemy Core.

Semantics match :class:`adapters.memory.uow.InMemoryUnitOfWork` (the contract suite in
``tests/contract/test_uow_contract.py`` runs both): a unit of work is opened for one run
(``run_id``, default ``"default"``): every statement reads and writes that run's rows only
(``WHERE run_id = …`` and the stamp on every insert). ``with uow:`` opens a transaction lazily
(on the first statement), ``commit`` makes everything since the last commit durable,
leaving the block rolls back whatever was not committed. Reads return fresh domain objects.

Writes are single Core statements (no ORM session, no identity map). Duplicate inserts use
``INSERT … ON CONFLICT DO NOTHING`` and look at the row count, so a duplicate client order id
or fill id raises the domain error while the transaction stays usable (PostgreSQL would
otherwise abort it). Positions carry a ``version``: ``save`` and ``close`` update ``WHERE
version = <the version this unit of work read>`` and raise :class:`ConcurrencyConflict` when
no row matched, so two processes can never both close the same position.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

from sqlalchemy import (
    Engine,
    Executable,
    RowMapping,
    Table,
    and_,
    bindparam,
    delete,
    exists,
    func,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Connection, CursorResult, NestedTransaction
from sqlalchemy.exc import DBAPIError, IntegrityError

from adapters.sqlalchemy import mapping as m
from adapters.sqlalchemy import tables as t
from adapters.sqlalchemy.engine import make_engine, translate
from adapters.sqlalchemy.types import UtcDateTime
from application.ports import DEFAULT_RUN, INBOX_FINAL, INBOX_STATUSES, InboxRecord
from domain.audit import ExecutionRecord, PerformanceRecord, PortfolioSnapshot, RunRecord
from domain.errors import ConcurrencyConflict, DuplicateClientOrderId, DuplicateFill, NotFound
from domain.events import TERMINAL_STATUSES, ExitTriggered, Fill, OrderEvent, RiskEvent
from domain.orders import Order
from domain.position import ClosedPosition, Position

_TERMINAL = sorted(s.value for s in TERMINAL_STATUSES)
#: the ``runs`` record of a run that wrote before it was started
PLACEHOLDER_KIND, PLACEHOLDER_STATUS = "adhoc", "created"
RUN_NAME_MAX = 64
_FK_HINTS = ("foreign key", "foreignkey", "violates foreign key")


def _is_fk(exc: IntegrityError) -> bool:
    low = str(exc.orig).lower()
    return any(h in low for h in _FK_HINTS)


class _Statements:
    """Statements built once per dialect: executing a prebuilt statement skips building and
    cache-keying a new one, which is most of SQLAlchemy's per-call cost on the hot paths."""

    def __init__(self, dialect: str) -> None:
        ins: Callable[[Table], Any] = postgresql.insert if dialect == "postgresql" else sqlite.insert
        o, f, p, c = t.orders.c, t.fills.c, t.positions.c, t.closed_positions.c
        run: Any = bindparam("k_run")
        self.order_insert = ins(t.orders).on_conflict_do_nothing().returning(o.client_order_id)
        self.order_get = select(t.orders).where(
            and_(o.run_id == run, o.client_order_id == bindparam("k_id")))
        self.order_update = update(t.orders).where(
            and_(o.run_id == run, o.client_order_id == bindparam("k_id")))
        self.order_event_insert = t.order_events.insert()
        self.fill_insert = ins(t.fills).on_conflict_do_nothing().returning(f.fill_id)
        self.fill_exists = select(exists().where(
            and_(f.run_id == run, f.fill_id == bindparam("k_id"))))
        self.fills_of_order = (
            select(t.fills).where(and_(f.run_id == run, f.client_order_id == bindparam("k_id")))
            .order_by(f.ts_event, f.fill_id)
        )
        self.position_insert = ins(t.positions).on_conflict_do_nothing().returning(p.position_id)
        self.position_get = select(t.positions).where(
            and_(p.run_id == run, p.position_id == bindparam("k_id")))
        self.position_of_ticker = (
            select(t.positions).where(and_(p.run_id == run, p.ticker == bindparam("k_ticker")))
            .order_by(p.opened_at, p.position_id).limit(1)
        )
        self.positions_open = select(t.positions).where(p.run_id == run).order_by(
            p.opened_at, p.position_id)
        self.orders_all = select(t.orders).where(o.run_id == run).order_by(
            o.created_at, o.client_order_id)
        self.orders_open = select(t.orders).where(
            and_(o.run_id == run, o.status.not_in(_TERMINAL))).order_by(
            o.created_at, o.client_order_id)
        self.position_version = select(p.version).where(
            and_(p.run_id == run, p.position_id == bindparam("k_id")))
        self.position_update = update(t.positions).where(
            and_(p.run_id == run, p.position_id == bindparam("k_id"),
                 p.version == bindparam("k_version"))
        )
        self.position_delete = delete(t.positions).where(
            and_(p.run_id == run, p.position_id == bindparam("k_id"),
                 p.version == bindparam("k_version"))
        )
        self.closed_exists = select(exists().where(c.position_id == bindparam("k_id")))
        self.closed_insert = (
            ins(t.closed_positions).on_conflict_do_nothing().returning(c.position_id)
        )
        self.execution_insert = t.execution_log.insert()
        self.risk_insert = t.risk_events.insert()
        self.exit_insert = t.stop_loss_events.insert()
        kc = t.kv_state.c
        self.kv_get = select(kc.value).where(and_(kc.run_id == run, kc.key == bindparam("k_id")))
        kv = ins(t.kv_state)
        self.kv_set = kv.on_conflict_do_update(
            index_elements=[kc.run_id, kc.key],
            set_={"value": kv.excluded.value, "updated_at": kv.excluded.updated_at},
        )
        self.inbox_insert = ins(t.alerts).on_conflict_do_nothing(
            index_elements=[t.alerts.c.alert_id]).returning(t.alerts.c.seq)
        sn = t.portfolio_snapshots.c
        self.snapshot_delete = delete(t.portfolio_snapshots).where(
            and_(func.coalesce(sn.run_id, "") == run, sn.ts == bindparam("k_ts"))
        )
        self.snapshot_insert = t.portfolio_snapshots.insert()
        pm = t.performance_metrics.c
        self.metrics_delete = delete(t.performance_metrics).where(
            and_(
                func.coalesce(pm.run_id, "") == run,
                pm.period == bindparam("k_period"),
                pm.period_start == bindparam("k_start", type_=UtcDateTime),
            )
        )
        self.metrics_insert = t.performance_metrics.insert()
        self.run_insert = ins(t.runs).on_conflict_do_nothing()
        #: statements that neither read nor write the tables whose writes are held
        #: (kv_state, portfolio_snapshots, performance_metrics): they run without sending them
        self.independent = frozenset(id(x) for x in (
            self.order_insert, self.order_get, self.order_update, self.order_event_insert,
            self.fill_insert, self.fill_exists, self.fills_of_order, self.position_insert,
            self.position_get, self.position_of_ticker, self.positions_open, self.orders_all,
            self.orders_open, self.position_version, self.position_update,
            self.position_delete, self.closed_exists, self.closed_insert,
            self.execution_insert, self.risk_insert, self.exit_insert, self.inbox_insert))
        # a placeholder row of a run that writes before it was started (see RunRepo)
        self.run_ensure = ins(t.runs).on_conflict_do_nothing()


_STATEMENTS: dict[str, _Statements] = {}
#: held row replacements: (statement, key) -> (delete, its parameters, insert, the new row)
_Replacements = dict[tuple[int, Any], tuple[Executable, dict[str, Any], Executable,
                                            dict[str, Any]]]


def _statements(dialect: str) -> _Statements:
    st = _STATEMENTS.get(dialect)
    if st is None:
        st = _STATEMENTS[dialect] = _Statements(dialect)
    return st


class _Repo:
    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    def _x(self, stmt: Executable, params: Any = None) -> CursorResult[Any]:
        return self._uow._execute(stmt, params)

    @property
    def _q(self) -> _Statements:
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


class SqlOrders(_Repo):
    """``OrderRepo`` over ``orders`` and ``order_events``."""

    def add(self, order: Order) -> None:
        try:
            res = self._x(self._q.order_insert, self._stamp(m.order_row(order)))
        except IntegrityError as exc:
            raise self._uow._integrity(exc, f"order {order.client_order_id}") from exc
        if res.first() is None:
            raise DuplicateClientOrderId(order.client_order_id)

    def get(self, client_order_id: str) -> Order | None:
        row = self._x(self._q.order_get, self._p(k_id=client_order_id)).mappings().first()
        return m.order_from(row) if row is not None else None

    def save(self, order: Order) -> None:
        row = m.order_row(order)
        values = {k: row[k] for k in m.ORDER_STATE_COLUMNS}
        values["k_id"] = order.client_order_id
        values["k_run"] = self._uow.run_id
        res = self._x(self._q.order_update, values)
        if res.rowcount == 0:
            raise NotFound(f"order {order.client_order_id} was never added")

    def list(self, *, open_only: bool = False, ticker: str | None = None) -> list[Order]:
        if ticker is None:  # the engine's every-step queries, prebuilt
            stmt = self._q.orders_open if open_only else self._q.orders_all
            return [m.order_from(r) for r in self._x(stmt, self._p()).mappings()]
        q = select(t.orders).where(self._mine(t.orders))
        if open_only:
            q = q.where(t.orders.c.status.not_in(_TERMINAL))
        if ticker is not None:
            q = q.where(t.orders.c.ticker == ticker)
        q = q.order_by(t.orders.c.created_at, t.orders.c.client_order_id)
        return [m.order_from(r) for r in self._x(q).mappings()]

    def record_event(self, event: OrderEvent) -> None:
        self._x(self._q.order_event_insert, self._stamp(m.order_event_row(event)))


class SqlFills(_Repo):
    """``FillRepo`` over ``fills`` (primary key ``fill_id``, foreign key to ``orders``)."""

    def add(self, fill: Fill) -> None:
        try:
            res = self._x(self._q.fill_insert, self._stamp(m.fill_row(fill)))
        except IntegrityError as exc:
            if _is_fk(exc):
                raise NotFound(
                    f"fill {fill.fill_id}: order {fill.client_order_id} is not stored; "
                    "add the order before its fills"
                ) from exc
            raise
        if res.first() is None:
            raise DuplicateFill(fill.fill_id, "fills table")

    def exists(self, fill_id: str) -> bool:
        return bool(self._x(self._q.fill_exists, self._p(k_id=fill_id)).scalar())

    def for_order(self, client_order_id: str) -> list[Fill]:
        rows = self._x(self._q.fills_of_order, self._p(k_id=client_order_id)).mappings()
        return [m.fill_from(r) for r in rows]


class SqlPositions(_Repo):
    """``PositionRepo`` over ``positions`` (versioned) and ``closed_positions``."""

    def _out(self, row: RowMapping) -> Position:
        p = m.position_from(row)
        self._uow._loaded[p.position_id] = p.version
        return p

    def add(self, position: Position) -> None:
        pid = position.position_id
        closed = self._x(self._q.closed_exists, {"k_id": pid}).scalar()
        if closed:
            raise ConcurrencyConflict(f"position {pid} already exists (closed)")
        res = self._x(self._q.position_insert, self._stamp(m.position_row(position)))
        if res.first() is None:
            raise ConcurrencyConflict(f"position {pid} already exists")
        self._uow._loaded[pid] = position.version

    def get(self, position_id: str) -> Position | None:
        row = self._x(self._q.position_get, self._p(k_id=position_id)).mappings().first()
        return self._out(row) if row is not None else None

    def open_for(self, ticker: str) -> Position | None:
        row = self._x(self._q.position_of_ticker, self._p(k_ticker=ticker)).mappings().first()
        return self._out(row) if row is not None else None

    def list_open(self) -> list[Position]:
        uow = self._uow
        rows = uow._open_rows
        if rows is None:
            rows = list(self._x(self._q.positions_open, self._p()).mappings())
            if uow._grouping():  # read again after the next durable commit or write
                uow._open_rows = rows
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
        res = self._x(self._q.position_update, row)
        if res.rowcount != 1:
            raise self._conflict(position, expected)
        self._uow._loaded[position.position_id] = position.version

    def close(self, position: Position, closed: ClosedPosition) -> None:
        expected = self._expected(position)
        res = self._x(
            self._q.position_delete,
            self._p(k_id=position.position_id, k_version=expected),
        )
        if res.rowcount != 1:
            raise self._conflict(position, expected)
        res = self._x(self._q.closed_insert, self._stamp(m.closed_row(closed)))
        if res.first() is None:
            raise ConcurrencyConflict(f"position {closed.position_id} was closed before")
        self._uow._loaded.pop(position.position_id, None)

    def list_closed(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> list[ClosedPosition]:
        c = t.closed_positions.c
        q = select(t.closed_positions).where(self._mine(t.closed_positions))
        if since is not None:
            q = q.where(c.closed_at >= since)
        if until is not None:
            q = q.where(c.closed_at <= until)
        q = q.order_by(c.closed_at, c.position_id)
        return [m.closed_from(r) for r in self._x(q).mappings()]


class SqlJournal(_Repo):
    """``JournalRepo`` over ``execution_log``, ``risk_events`` and ``stop_loss_events``."""

    def add_execution(self, record: ExecutionRecord) -> None:
        self._x(self._q.execution_insert, self._stamp(m.execution_row(record)))

    def add_risk_event(self, event: RiskEvent) -> None:
        self._x(self._q.risk_insert, self._stamp(m.risk_event_row(event)))

    def add_exit_event(self, event: ExitTriggered) -> None:
        self._x(self._q.exit_insert, self._stamp(m.exit_event_row(event)))

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


class SqlState(_Repo):
    """``StateRepo`` over ``kv_state`` (one value per run and key)."""

    def get(self, key: str) -> str | None:
        uow = self._uow
        pending = uow._kv_pending.get(key) or uow._pt_kv.get(key)
        if pending is not None:  # set earlier in this unit of work, not yet sent
            return str(pending["value"])
        cache = uow._kv_read
        if key in cache:  # read earlier in this transaction
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



class SqlReports(_Repo):
    """``ReportRepo`` over ``portfolio_snapshots`` and ``performance_metrics``."""

    def add_snapshot(self, snapshot: PortfolioSnapshot) -> None:
        self._uow._replace(self._q.snapshot_delete, self._p(k_ts=snapshot.ts),
                           self._q.snapshot_insert, self._stamp(m.snapshot_row(snapshot)),
                           snapshot.ts)

    def snapshots(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> list[PortfolioSnapshot]:
        c = t.portfolio_snapshots.c
        q = select(t.portfolio_snapshots).where(self._mine(t.portfolio_snapshots))
        if since is not None:
            q = q.where(c.ts >= since)
        if until is not None:
            q = q.where(c.ts <= until)
        q = q.order_by(c.ts, c.id)
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


class SqlRuns(_Repo):
    """``RunRepo`` over ``runs`` (every run of the database)."""

    def start(self, run: RunRecord) -> None:
        now = datetime.now(UTC)
        self._x(self._q.run_insert, {**m.run_row(run), "updated_at": now})
        # a placeholder (a run that wrote before it was started) takes the real record
        row = m.run_row(run)
        del row["run_id"]
        self._x(update(t.runs).where(
            and_(t.runs.c.run_id == run.run_id, t.runs.c.status == PLACEHOLDER_STATUS)), row)
        self._x(update(t.runs).where(t.runs.c.run_id == run.run_id), {"updated_at": now})
        if run.run_id == self._uow.run_id:
            self._uow._run_written()

    def finish(self, run_id: str, ts: datetime, status: str) -> None:
        res = self._x(
            update(t.runs).where(t.runs.c.run_id == run_id),
            {"finished_at": ts, "status": status, "updated_at": datetime.now(UTC)},
        )
        if res.rowcount == 0:
            raise NotFound(f"run {run_id} was never started")

    def get(self, run_id: str) -> RunRecord | None:
        row = self._x(select(t.runs).where(t.runs.c.run_id == run_id)).mappings().first()
        return m.run_from(row) if row is not None else None

    def latest(self, kind: str | None = None) -> RunRecord | None:
        q = select(t.runs)
        if kind is not None:
            q = q.where(t.runs.c.kind == kind)
        q = q.order_by(t.runs.c.started_at.desc(), t.runs.c.run_id.desc()).limit(1)
        row = self._x(q).mappings().first()
        return m.run_from(row) if row is not None else None

    def list(self) -> list[RunRecord]:
        r = t.runs.c
        q = select(t.runs).order_by(func.coalesce(r.updated_at, r.started_at), r.run_id)
        return [m.run_from(r) for r in self._x(q).mappings()]

    def delete(self, run_id: str) -> None:
        # children before parents: fills reference orders
        for table in (t.fills, t.order_events, t.orders, t.positions, t.closed_positions,
                      t.portfolio_snapshots, t.performance_metrics, t.execution_log,
                      t.stop_loss_events, t.risk_events, t.kv_state):
            self._x(delete(table).where(table.c.run_id == run_id))
        if run_id == self._uow.run_id:
            self._uow._forget_reads()
        self._x(delete(t.runs).where(t.runs.c.run_id == run_id))
        if run_id == self._uow.run_id:
            self._uow._run_known = self._uow._run_pending = False


class SqlInbox(_Repo):
    """``AlertInbox`` over the ``alerts`` table (shared by every run: no ``run_id`` filter).

    A duplicate alert id is an ``INSERT ... ON CONFLICT DO NOTHING`` that returns nothing, so
    the transaction stays usable and the first record is read back instead.
    """

    _COLS = ("alert_id", "received_at", "known_at", "source", "body_hash", "payload", "status",
             "reason", "run_id", "updated_at")

    def _out(self, r: RowMapping) -> InboxRecord:
        return InboxRecord(alert_id=r["alert_id"], received_at=r["received_at"],
                           known_at=r["known_at"], source=r["source"], body_hash=r["body_hash"],
                           payload=r["payload"], status=r["status"], reason=r["reason"],
                           run=r["run_id"], updated_at=r["updated_at"], seq=int(r["seq"]))

    def add(self, record: InboxRecord) -> InboxRecord | None:
        row = {"alert_id": record.alert_id, "received_at": record.received_at,
               "known_at": record.known_at, "source": record.source,
               "body_hash": record.body_hash, "payload": record.payload,
               "status": record.status, "reason": record.reason, "run_id": record.run,
               "updated_at": record.updated_at or record.received_at}
        if record.status not in INBOX_STATUSES:
            raise ValueError(f"inbox status {record.status!r}: expected one of "
                             f"{', '.join(INBOX_STATUSES)}")
        if self._x(self._q.inbox_insert, row).first() is not None:
            return None
        first = self.get(record.alert_id)
        if first is None:  # pragma: no cover - the conflicting row cannot vanish in a transaction
            raise RuntimeError(f"alert {record.alert_id!r} conflicted but is not stored")
        return first

    def get(self, alert_id: str) -> InboxRecord | None:
        row = self._x(select(t.alerts).where(t.alerts.c.alert_id == alert_id)).mappings().first()
        return None if row is None else self._out(row)

    def release(self, now: datetime) -> int:
        a = t.alerts.c
        res = self._x(update(t.alerts).where(and_(a.status == "received", a.known_at <= now))
                      .values(status="released", updated_at=now))
        return int(res.rowcount or 0)

    def released(self, limit: int = 1000) -> list[InboxRecord]:
        a = t.alerts.c
        q = (select(t.alerts).where(a.status == "released").order_by(a.known_at, a.seq)
             .limit(limit))
        return [self._out(r) for r in self._x(q).mappings()]

    def mark(self, alert_id: str, status: str, reason: str, ts: datetime,
             run: str | None = None) -> None:
        if status not in INBOX_FINAL:
            raise ValueError(f"inbox status {status!r}: expected one of {', '.join(INBOX_FINAL)}")
        a = t.alerts.c
        res = self._x(update(t.alerts).where(and_(a.alert_id == alert_id, a.status == "released"))
                      .values(status=status, reason=reason, run_id=run, updated_at=ts))
        if not res.rowcount:
            cur = self.get(alert_id)
            raise ValueError(f"alert {alert_id!r}: cannot mark {status}, it is "
                             f"{'not in the inbox' if cur is None else cur.status}")

    def list(self, status: str | None = None, limit: int | None = None) -> list[InboxRecord]:
        a = t.alerts.c
        q = select(t.alerts).order_by(a.seq)
        if status is not None:
            q = q.where(a.status == status)
        if limit is not None:
            q = q.limit(limit)
        return [self._out(r) for r in self._x(q).mappings()]

    def counts(self) -> dict[str, int]:
        a = t.alerts.c
        q = select(a.status, func.count()).group_by(a.status)
        rows: list[Any] = list(self._x(q).all())
        return {str(row[0]): int(row[1]) for row in rows}


class SqlUnitOfWork:
    """A unit of work over one SQLAlchemy engine. Reusable: each ``with uow:`` is a session.

    ``run_id`` names the run whose rows this unit of work reads and writes (default
    :data:`~application.ports.DEFAULT_RUN`). A run that writes before ``runs.start`` gets a
    placeholder ``runs`` row (the rows reference their run).
    """

    def __init__(self, engine: Engine, *, run_id: str = DEFAULT_RUN) -> None:
        if not run_id or len(run_id) > RUN_NAME_MAX:
            raise ValueError(f"run name {run_id!r}: expected 1 to {RUN_NAME_MAX} characters")
        self.engine = engine
        self.run_id = run_id
        self._run_known = False  # the run's row is committed
        self._run_pending = False  # ... or written in the open transaction
        self._conn: Connection | None = None
        # write-only rows held until the next statement or the commit, then sent in batches
        # (one round trip per run of the same statement): kv_state upserts by key, and the
        # snapshot / metrics replacements in order
        self._kv_pending: dict[str, dict[str, Any]] = {}
        # kv_state values read in the open transaction (a key is read several times a step),
        # forgotten at a durable commit and at a rollback: each transaction reads a stored
        # value once (with grouped commits, once per durable commit)
        self._kv_read: dict[str, str | None] = {}
        # the open positions' rows as last read, kept like the values above and forgotten at
        # any write to ``positions``
        self._open_rows: list[RowMapping] | None = None
        # row replacements (delete the row of a key, insert its new row), the last per key
        self._deferred: _Replacements = {}
        # with grouped commits, the held writes of the commit points, sent with the next
        # statement that reads their tables or at the durable commit (and, when sent under a
        # block's savepoint, what to hold again if that block rolls back)
        self._pt_deferred: _Replacements = {}
        self._pt_kv: dict[str, dict[str, Any]] = {}
        self._sp_pt: tuple[_Replacements, dict[str, dict[str, Any]]] | None = None
        self._sending_points = False
        self._loaded: dict[str, int] = {}
        # grouped commits (see group_commits): commit points made durable every ``_group``
        # commits; between them the transaction stays open on ``_held``
        self._group = 1
        self._group_thread = 0  # the thread that groups (others commit each time)
        self._points = 0  # commit points not yet durable
        self._held: Connection | None = None
        self._sp: NestedTransaction | None = None  # this block's savepoint, over the points
        self._wrote = False  # this block wrote since its last commit
        self._committing = False
        self._stmts = _statements(engine.dialect.name)
        self.orders = SqlOrders(self)
        self.fills = SqlFills(self)
        self.positions = SqlPositions(self)
        self.journal = SqlJournal(self)
        self.state = SqlState(self)
        self.reports = SqlReports(self)
        self.runs = SqlRuns(self)
        self.inbox = SqlInbox(self)
        self.commits = 0

    @property
    def run(self) -> str:
        """Return the name of the run this unit of work reads and writes."""
        return self.run_id

    def for_run(self, run_id: str) -> SqlUnitOfWork:
        """Return a unit of work on the same database for another run."""
        return SqlUnitOfWork(self.engine, run_id=run_id)

    # --- plumbing used by the repositories ------------------------------------------------
    def _ensure_run(self) -> None:
        if self._run_known or self._run_pending:
            return
        self._execute(self._stmts.run_ensure, {
            "run_id": self.run_id, "kind": PLACEHOLDER_KIND, "status": PLACEHOLDER_STATUS,
            "started_at": datetime.now(UTC), "finished_at": None, "params": {},
            "updated_at": datetime.now(UTC)})
        self._run_pending = True

    def _run_written(self) -> None:
        if not self._run_known:
            self._run_pending = True

    @property
    def connection(self) -> Connection:
        """Return the open connection (inside ``with uow:`` only)."""
        if self._conn is None:
            raise RuntimeError("use the unit of work inside 'with uow:'")
        return self._conn

    def _replace(self, delete_stmt: Executable, delete_params: dict[str, Any],
                 insert_stmt: Executable, row: dict[str, Any], key: Any) -> None:
        self.connection  # noqa: B018 - only inside 'with uow:'
        self._deferred[(id(delete_stmt), key)] = (delete_stmt, delete_params, insert_stmt, row)

    def _flush(self) -> None:
        """Send the held writes: the commit points' first, then this block's."""
        if self._pt_deferred or self._pt_kv:
            held, kv = self._pt_deferred, self._pt_kv
            self._pt_deferred, self._pt_kv = {}, {}
            if self._sp is not None:  # undone with this block: hold them again then
                self._sp_pt = (held, kv)
            self._sending_points = True
            try:
                self._send(held, kv)
            finally:
                self._sending_points = False
        if self._deferred or self._kv_pending:
            held, kv = self._deferred, self._kv_pending
            self._deferred, self._kv_pending = {}, {}
            self._send(held, kv)

    def _send(self, held: _Replacements, kv: dict[str, dict[str, Any]]) -> None:
        """Send held writes, each statement's rows as one executemany: per table the deletes
        of the replaced keys, then their new rows (the keys are distinct, so this is the same
        as replacing one key after the other); then the kv_state upserts."""
        tables: dict[int, tuple[Executable, list[dict[str, Any]], Executable,
                                list[dict[str, Any]]]] = {}
        for (sid, _), (dstmt, dparams, istmt, row) in held.items():
            got = tables.get(sid)
            if got is None:
                got = tables[sid] = (dstmt, [], istmt, [])
            got[1].append(dparams)
            got[3].append(row)
        for dstmt, dels, istmt, rows in tables.values():
            self._execute(dstmt, dels if len(dels) > 1 else dels[0], flush=False)
            self._execute(istmt, rows if len(rows) > 1 else rows[0], flush=False)
        if kv:
            rows = list(kv.values())
            self._kv_read.update((r["key"], r["value"]) for r in rows)  # stored as of now
            self._execute(self._stmts.kv_set, rows if len(rows) > 1 else rows[0], flush=False)

    def _forget_reads(self) -> None:
        self._kv_read = {}
        self._open_rows = None

    def _held_writes(self) -> bool:
        return bool(self._deferred or self._kv_pending or self._pt_deferred or self._pt_kv)

    def _execute(self, stmt: Executable, params: Any = None, *,
                 flush: bool = True) -> CursorResult[Any]:
        if flush and self._held_writes() and id(stmt) not in self._stmts.independent:
            self._flush()  # every statement that reads their tables sees the held writes
        if getattr(stmt, "table", None) is t.positions:  # a write to positions
            self._open_rows = None
        if not self._sending_points and getattr(stmt, "is_dml", False):
            if self._points and self._sp is None and not self._committing and self._grouping():
                # the first write of a block over pending commit points: leaving the block
                # without committing must undo this block only
                self._sp = self.connection.begin_nested()
            self._wrote = True
        try:
            if params is None:
                return self.connection.execute(stmt)
            return self.connection.execute(stmt, params)
        except IntegrityError:
            raise
        except DBAPIError as exc:
            typed = translate(exc, self.engine.url)
            if typed is not None:
                raise typed from exc
            raise

    def _integrity(self, exc: IntegrityError, what: str) -> Exception:
        return ValueError(f"{what} violates a database constraint: {str(exc.orig).splitlines()[0]}")

    # --- UnitOfWork ------------------------------------------------------------------
    def __enter__(self) -> Self:
        if self._conn is not None:
            raise RuntimeError("this unit of work is already open")
        self._sp, self._wrote = None, False
        held = self._held
        if held is not None and self._grouping():
            self._held, self._conn = None, held  # go on in the transaction of the points
            return self
        try:  # (another thread gets a connection of its own: it sees the last real commit)
            self._conn = self.engine.connect()
        except DBAPIError as exc:
            typed = translate(exc, self.engine.url)
            if typed is not None:
                raise typed from exc
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        conn, self._conn = self._conn, None
        self._run_pending = False
        self._deferred, self._kv_pending = {}, {}
        if conn is None:
            self._forget_reads()
            return
        keep = False
        try:
            self._undo(conn)
            keep = self._points > 0 and self._grouping()
        finally:
            self._sp, self._wrote = None, False
            if keep:  # the points stay pending on this connection until the next real commit
                self._held = conn
            else:
                self._forget_reads()
                conn.close()

    def _grouping(self) -> bool:
        return self._group > 1 and threading.get_ident() == self._group_thread

    def _undo(self, conn: Connection) -> None:
        # roll back what this block wrote since its last commit, keeping the commit points
        sp, self._sp = self._sp, None
        self._sp_pt, sp_pt = None, self._sp_pt
        if not self._points or not self._grouping():
            self._forget_reads()
            if conn.in_transaction():
                conn.rollback()
        elif sp is not None:
            self._forget_reads()  # it may hold values this block wrote
            sp.rollback()
            if sp_pt is not None:  # the points' writes sent in this block: held again
                self._pt_deferred, self._pt_kv = sp_pt
        elif self._wrote:  # a write no savepoint covers (not expected): undo everything
            self._lose_points(conn)

    def _lose_points(self, conn: Connection) -> None:
        # the transaction of the points is rolled back: the store is as of the last durable
        # commit, as after a crash
        self._pt_deferred, self._pt_kv = {}, {}
        self._forget_reads()
        self._points = 0
        self._run_known = False
        with contextlib.suppress(DBAPIError):
            conn.rollback()

    def commit(self) -> None:
        conn = self.connection
        try:
            if self._grouping():
                if self._sp is not None:
                    self._sp.commit()
                    self._sp, self._sp_pt = None, None
                # this block's held writes join the points' (sent with them, later)
                self._pt_deferred.update(self._deferred)
                self._pt_kv.update(self._kv_pending)
                self._deferred, self._kv_pending = {}, {}
                self._points += 1
                if self._points >= self._group:
                    self._durable(conn)
            else:
                if self._held_writes():
                    self._committing = True  # the commit follows at once: no savepoint
                    try:
                        self._flush()
                    finally:
                        self._committing = False
                self._forget_reads()
                if conn.in_transaction():
                    conn.commit()
        except DBAPIError as exc:
            typed = translate(exc, self.engine.url)
            if typed is not None:
                raise typed from exc
            raise
        self._wrote = False
        self.commits += 1
        if self._run_pending:
            self._run_known, self._run_pending = True, False

    def _durable(self, conn: Connection) -> None:
        # send the points' held writes and commit the transaction
        self._committing = True
        try:
            self._flush()
            if conn.in_transaction():
                conn.commit()
        except BaseException:
            self._lose_points(conn)
            raise
        finally:
            self._committing = False
        self._points = 0
        self._forget_reads()

    def rollback(self) -> None:
        conn = self.connection
        self._run_pending = False
        self._deferred, self._kv_pending = {}, {}
        self._forget_reads()
        self._undo(conn)
        self._wrote = False

    # --- grouped commits ----------------------------------------------------------------
    def group_commits(self, every: int) -> None:
        """Make every ``every``-th :meth:`commit` durable (1: each one, the default).

        For a replay, where a commit per step costs more than the step: each ``commit`` is
        then a commit point and the transaction stays open on this unit of work's connection
        until the ``every``-th. Later blocks of this unit of work in the same thread go on in
        that transaction and see everything; a block that leaves without committing rolls
        back to the last point only (a savepoint taken before its first write). Other
        connections see the points at the next real commit (on SQLite a writer waits for it);
        a crash loses the points since the last real commit, exactly as if it had happened
        there. ``group_commits(1)`` makes the pending points durable at once.
        """
        if every < 1:
            raise ValueError(f"group_commits {every}: expected a count >= 1")
        if every == 1:
            self.sync()
        self._group, self._group_thread = every, threading.get_ident()

    def sync(self) -> None:
        """Make the pending commit points durable now (outside ``with uow:``)."""
        conn = self._held
        if conn is None:
            return
        if self._group_thread != threading.get_ident():
            raise RuntimeError("the pending commit points belong to another thread")
        self._held, self._conn = None, conn
        try:
            if self._points:
                self._durable(conn)
        except DBAPIError as exc:
            typed = translate(exc, self.engine.url)
            if typed is not None:
                raise typed from exc
            raise
        finally:
            self._conn = None
            self._points = 0
            self._pt_deferred, self._pt_kv = {}, {}
            self._forget_reads()
            conn.close()

    def counts(self) -> dict[str, int]:
        """Return committed row counts per table (diagnostics; opens its own connection)."""
        with self.engine.connect() as conn:
            return {
                name: int(conn.execute(select(func.count()).select_from(table)).scalar() or 0)
                for name, table in t.metadata.tables.items()
            }


def sql_uow_factory(
    url_or_engine: str | URL | Engine, *, run_id: str = DEFAULT_RUN
) -> Callable[[], SqlUnitOfWork]:
    """Return a factory of units of work on one engine (opened, and migrated, once)."""
    engine = url_or_engine if isinstance(url_or_engine, Engine) else make_engine(url_or_engine)

    def factory() -> SqlUnitOfWork:
        return SqlUnitOfWork(engine, run_id=run_id)

    factory.engine = engine  # type: ignore[attr-defined]
    return factory


__all__: Sequence[str] = ["SqlUnitOfWork", "sql_uow_factory"]
