"""The repositories of :class:`~adapters.sqlalchemy.uow.SqlUnitOfWork` that are not about one
run's trading: every run's ``runs`` record, and the alert inbox shared by all runs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    RowMapping,
    and_,
    delete,
    func,
    select,
    update,
)

from adapters.sqlalchemy import mapping as m
from adapters.sqlalchemy import tables as t
from adapters.sqlalchemy.repos import Repo
from adapters.sqlalchemy.statements import PLACEHOLDER_STATUS
from application.ports import INBOX_FINAL, INBOX_STATUSES, InboxRecord
from domain.audit import RunRecord
from domain.errors import NotFound


class SqlRuns(Repo):
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


class SqlInbox(Repo):
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
