"""An in-memory unit of work with the same semantics as the SQL one.

Reads return copies, so changing an entity without ``save`` changes nothing stored; a
transaction works on a copy of the committed state and ``commit`` swaps it in. One store
holds several runs (:meth:`InMemoryUnitOfWork.for_run` opens another run on the same store);
a unit of work sees its own run's state, and ids stay unique across the runs of a store.

Why one module: the fake of one port. Its repositories work on one shared copy of the store
that ``commit`` swaps in, mirroring the SQL unit of work repository by repository.
"""

from __future__ import annotations

import copy
import copyreg
import types
from collections.abc import Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

import attrs

from application.ports import DEFAULT_RUN, INBOX_FINAL, INBOX_STATUSES, InboxRecord
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


PLACEHOLDER_KIND, PLACEHOLDER_STATUS = "adhoc", "created"


@attrs.define
class _Store:
    """What one store holds: each run's state and the run records."""

    states: dict[str, _State] = attrs.field(factory=dict)
    runs: dict[str, RunRecord] = attrs.field(factory=dict)
    inbox: dict[str, InboxRecord] = attrs.field(factory=dict)  # by alert id, in arrival order
    inbox_seq: int = 0


class _Base:
    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        self._uow = uow

    @property
    def _s(self) -> _State:
        return self._uow._working()

    def _all(self) -> list[_State]:
        return list(self._uow._tx_store().states.values())

    def _write(self) -> _State:
        self._uow._ensure_run()
        return self._s


class _Orders(_Base):
    def add(self, order: Order) -> None:
        if any(order.client_order_id in st.orders for st in self._all()):
            raise DuplicateClientOrderId(order.client_order_id)
        self._write().orders[order.client_order_id] = copy.deepcopy(order)

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
        self._write().order_events.append(event)


class _Fills(_Base):
    def add(self, fill: Fill) -> None:
        if any(fill.fill_id in st.fills for st in self._all()):
            raise DuplicateFill(fill.fill_id, "fills table")
        self._write().fills[fill.fill_id] = fill

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
        pid = position.position_id
        if any(pid in st.positions or pid in st.closed for st in self._all()):
            raise ConcurrencyConflict(f"position {pid} already exists")
        self._write().positions[pid] = copy.deepcopy(position)
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
        if any(closed.position_id in st.closed for st in self._all()):
            raise ConcurrencyConflict(f"position {closed.position_id} was closed before")
        del self._write().positions[position.position_id]
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
        self._write().executions.append(record)

    def add_risk_event(self, event: RiskEvent) -> None:
        self._write().risk_events.append(event)

    def add_exit_event(self, event: ExitTriggered) -> None:
        self._write().exit_events.append(event)

    def executions(self, signal_id: str | None = None) -> list[ExecutionRecord]:
        return [r for r in self._s.executions if signal_id is None or r.signal_id == signal_id]

    def risk_events(self) -> list[RiskEvent]:
        return list(self._s.risk_events)


class _KeyValue(_Base):
    def get(self, key: str) -> str | None:
        return self._s.kv.get(key)

    def set(self, key: str, value: str) -> None:
        self._write().kv[key] = value


class _Reports(_Base):
    def add_snapshot(self, snapshot: PortfolioSnapshot) -> None:
        run = self._uow.run
        self._write().snapshots[(run, snapshot.ts)] = attrs.evolve(snapshot, run_id=run)

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
        run = self._uow.run
        self._write().metrics[(run, record.period, record.period_start)] = attrs.evolve(
            record, run_id=run)

    def metrics(self, period: str | None = None) -> list[PerformanceRecord]:
        return sorted(
            (m for m in self._s.metrics.values() if period is None or m.period == period),
            key=lambda m: (m.period_start, m.period),
        )


class _Runs(_Base):
    @property
    def _runs(self) -> dict[str, RunRecord]:
        return self._uow._tx_store().runs

    def start(self, run: RunRecord) -> None:
        # a run moves to the end of the dict when started or finished: list() is by activity
        old = self._runs.pop(run.run_id, None)
        self._runs[run.run_id] = run if old is None or old.status == PLACEHOLDER_STATUS else old

    def finish(self, run_id: str, ts: datetime, status: str) -> None:
        run = self._runs.pop(run_id, None)
        if run is None:
            raise NotFound(f"run {run_id} was never started")
        self._runs[run_id] = attrs.evolve(run, finished_at=ts, status=status)

    def get(self, run_id: str) -> RunRecord | None:
        return self._runs.get(run_id)

    def latest(self, kind: str | None = None) -> RunRecord | None:
        runs = [r for r in self._runs.values() if kind is None or r.kind == kind]
        return max(runs, key=lambda r: (r.started_at, r.run_id)) if runs else None

    def list(self) -> list[RunRecord]:
        return list(self._runs.values())

    def delete(self, run_id: str) -> None:
        store = self._uow._tx_store()
        store.runs.pop(run_id, None)
        store.states.pop(run_id, None)


class _Inbox(_Base):
    """The alert inbox of the store (shared by its runs), with the SQL one's semantics."""

    def _box(self) -> dict[str, InboxRecord]:
        return self._uow._tx_store().inbox

    def _put(self, record: InboxRecord) -> None:
        self._box()[record.alert_id] = record
        self._uow._inbox_dirty.add(record.alert_id)

    def add(self, record: InboxRecord) -> InboxRecord | None:
        if record.status not in INBOX_STATUSES:
            raise ValueError(f"inbox status {record.status!r}: expected one of "
                             f"{', '.join(INBOX_STATUSES)}")
        first = self._box().get(record.alert_id)
        if first is not None:
            return first
        store = self._uow._tx_store()
        store.inbox_seq += 1
        self._uow._inbox_added.add(record.alert_id)
        self._put(attrs.evolve(record, seq=store.inbox_seq,
                               updated_at=record.updated_at or record.received_at))
        return None

    def get(self, alert_id: str) -> InboxRecord | None:
        return self._box().get(alert_id)

    def release(self, now: datetime) -> int:
        due = [r for r in self._box().values() if r.status == "received" and r.known_at <= now]
        for r in due:
            self._put(attrs.evolve(r, status="released", updated_at=now))
        return len(due)

    def released(self, limit: int = 1000) -> list[InboxRecord]:
        out = sorted((r for r in self._box().values() if r.status == "released"),
                     key=lambda r: (r.known_at, r.seq))
        return out[:limit]

    def mark(self, alert_id: str, status: str, reason: str, ts: datetime,
             run: str | None = None) -> None:
        if status not in INBOX_FINAL:
            raise ValueError(f"inbox status {status!r}: expected one of {', '.join(INBOX_FINAL)}")
        cur = self._box().get(alert_id)
        if cur is None or cur.status != "released":
            raise ValueError(f"alert {alert_id!r}: cannot mark {status}, it is "
                             f"{'not in the inbox' if cur is None else cur.status}")
        self._put(attrs.evolve(cur, status=status, reason=reason, run=run, updated_at=ts))

    def list(self, status: str | None = None, limit: int | None = None) -> list[InboxRecord]:
        out = sorted((r for r in self._box().values() if status is None or r.status == status),
                     key=lambda r: r.seq)
        return out if limit is None else out[:limit]

    def counts(self) -> dict[str, int]:
        c: dict[str, int] = {}
        for r in self._box().values():
            c[r.status] = c.get(r.status, 0) + 1
        return c


class _Shared:
    """The committed store, shared by the units of work of every run on it."""

    def __init__(self) -> None:
        self.committed = _Store()


class InMemoryUnitOfWork:
    """A unit of work over dictionaries. Reusable: ``with uow:`` opens a transaction.

    ``run`` names the run it reads and writes (default :data:`~application.ports.DEFAULT_RUN`).
    """

    def __init__(self, run: str = DEFAULT_RUN, *, _shared: _Shared | None = None) -> None:
        if not run or len(run) > 64:
            raise ValueError(f"run name {run!r}: expected 1 to 64 characters")
        self.run = run
        self._shared = _shared or _Shared()
        self._tx: _Store | None = None
        self._base_runs: dict[str, RunRecord] = {}
        self.orders = _Orders(self)
        self.fills = _Fills(self)
        self.positions = _Positions(self)
        self.journal = _Journal(self)
        self.state = _KeyValue(self)
        self.reports = _Reports(self)
        self.runs = _Runs(self)
        self.inbox = _Inbox(self)
        self._inbox_dirty: set[str] = set()
        self._inbox_added: set[str] = set()
        self.commits = 0

    def for_run(self, run: str) -> InMemoryUnitOfWork:
        """Return a unit of work on the same store for another run."""
        return InMemoryUnitOfWork(run, _shared=self._shared)

    def _tx_store(self) -> _Store:
        if self._tx is None:
            raise RuntimeError("use the unit of work inside 'with uow:'")
        return self._tx

    def _working(self) -> _State:
        store = self._tx_store()
        st = store.states.get(self.run)
        if st is None:
            st = store.states[self.run] = _State()
        return st

    def _ensure_run(self) -> None:
        runs = self._tx_store().runs
        if self.run not in runs:
            runs[self.run] = RunRecord(run_id=self.run, kind=PLACEHOLDER_KIND,
                                       started_at=datetime.now(UTC), status=PLACEHOLDER_STATUS)

    def __enter__(self) -> Self:
        self._begin()
        return self

    def _begin(self) -> None:
        self._tx = copy.deepcopy(self._shared.committed)
        self._inbox_dirty, self._inbox_added = set(), set()
        self._base_runs = dict(self._tx.runs)

    @property
    def _committed(self) -> _State:
        return self._shared.committed.states.get(self.run) or _State()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._tx = None

    def commit(self) -> None:
        # this run's state and the run records this transaction changed (so two units of
        # work of different runs on one store do not undo each other's commits)
        tx = self._tx_store()
        committed = self._shared.committed
        for name in set(self._base_runs) - set(tx.runs):
            committed.states.pop(name, None)
        # this transaction's run records in its order (the order is activity), except that
        # a record it did not touch keeps what others committed meanwhile
        merged = {name: rec if rec is not self._base_runs.get(name)
                  else committed.runs.get(name, rec) for name, rec in tx.runs.items()}
        merged.update((n, r) for n, r in committed.runs.items()
                      if n not in self._base_runs and n not in merged)
        committed.runs = merged
        if self.run in tx.states:
            committed.states[self.run] = copy.deepcopy(tx.states[self.run])
        self._base_runs = dict(tx.runs)
        # the inbox records this transaction wrote; an id another unit of work committed
        # first keeps its first record (ids are unique, as the SQL unique key makes them)
        for alert_id in sorted(self._inbox_dirty, key=lambda k: tx.inbox[k].seq):
            rec = tx.inbox[alert_id]
            first = committed.inbox.get(alert_id)
            if alert_id in self._inbox_added:
                if first is not None:
                    continue
                committed.inbox_seq += 1
                rec = attrs.evolve(rec, seq=committed.inbox_seq)
            committed.inbox[alert_id] = rec
        self._inbox_dirty, self._inbox_added = set(), set()
        self.commits += 1

    def rollback(self) -> None:
        self._begin()

    def snapshot(self) -> dict[str, Any]:
        """Return counts of what this run has committed (for tests and diagnostics)."""
        c = self._committed
        return {
            "orders": len(c.orders), "fills": len(c.fills), "positions": len(c.positions),
            "closed": len(c.closed), "executions": len(c.executions),
        }


class InMemoryWalkForwardRepo:
    """The :class:`application.ports.WalkForwardRepo` in a dictionary (tests, no database)."""

    def __init__(self) -> None:
        self._runs: dict[str, dict[str, Any]] = {}
        self._order: list[str] = []

    def save(
        self, run_key: str, kind: str, settings: Mapping[str, Any], report: Mapping[str, Any]
    ) -> None:
        """Replace the run ``run_key``."""
        self._runs[run_key] = {
            "run_key": run_key, "kind": kind, "settings": dict(settings),
            "aggregate": dict(report["aggregate"]),
            "deflated_sharpe": dict(report["deflated_sharpe"]),
            "pbo": None if report.get("pbo") is None else dict(report["pbo"]),
            "n_trials": int(report.get("n_trials", 0)),
            "windows": [
                {
                    "run_key": run_key, "window_index": int(w["index"]),
                    **{k: w[k] for k in ("train_start", "train_end", "test_start", "test_end")},
                    "metrics": dict(w["metrics"]), "baselines": dict(w.get("baselines", {})),
                    "chosen": dict(w.get("chosen", {})),
                }
                for w in report["windows"]
            ],
        }
        if run_key in self._order:
            self._order.remove(run_key)
        self._order.append(run_key)

    def get(self, run_key: str) -> dict[str, Any] | None:
        """Return the run with its windows, or None."""
        r = self._runs.get(run_key)
        return None if r is None else {**r, "windows": [dict(w) for w in r["windows"]]}

    def list(self) -> list[dict[str, Any]]:
        """Return every run (no windows), newest first."""
        return [
            {k: v for k, v in self._runs[key].items() if k != "windows"}
            for key in reversed(self._order)
        ]
