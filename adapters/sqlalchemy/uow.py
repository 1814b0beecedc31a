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

Some writes are held back and sent in batches: the ``kv_state`` upserts (the last value per
key), the snapshot and metric row replacements and the journal and order-event appends go out
as one ``executemany`` per statement with the next statement that reads their tables, or at
the commit. With grouped commits (:meth:`SqlUnitOfWork.group_commits`, for replays by the
run's only writer) only every n-th commit is durable; the rows of the run's orders, positions
and fills read or written are kept across durable commits (until a rollback) and follow this
unit of work's own writes, and updates of known positions and orders and position deletes are
held too, the last per row, until the next query that reads their table or the durable
commit, where their row counts are checked. ``kv_state``, which other processes write (a kill),
is read again after each durable commit.

The repositories are in ``repos.py`` (trading rows) and ``run_repos.py`` (runs, the inbox), the
prebuilt statements in ``statements.py``; this module is the transaction handling, which is one
piece (held writes, grouped commits and savepoints depend on each other).
"""

from __future__ import annotations

import bisect
import contextlib
import itertools
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

from sqlalchemy import (
    Engine,
    Executable,
    func,
    select,
)
from sqlalchemy.engine import URL, Connection, CursorResult
from sqlalchemy.exc import DBAPIError, IntegrityError

from adapters.sqlalchemy import tables as t
from adapters.sqlalchemy.engine import make_engine, translate
from adapters.sqlalchemy.repos import (
    SqlFills,
    SqlJournal,
    SqlOrders,
    SqlPositions,
    SqlReports,
    SqlState,
)
from adapters.sqlalchemy.run_repos import SqlInbox, SqlRuns
from adapters.sqlalchemy.statements import (
    PLACEHOLDER_KIND,
    PLACEHOLDER_STATUS,
    RUN_NAME_MAX,
    Replacements,
    statements_for,
)
from application.ports import DEFAULT_RUN
from domain.errors import ConcurrencyConflict

#: the name of the savepoint a block takes before its first write while commit points are
#: pending. Savepoints are never released: a commit point leaves its block's savepoint in
#: place (the durable commit ends them all), each block takes a new one under the same name
#: and ``ROLLBACK TO SAVEPOINT`` goes back to the newest of that name (PostgreSQL and SQLite
#: alike), which is the failing block's; that one stays and serves the next block. So a
#: transaction holds at most one a commit point.
_SAVEPOINT = "catalyst_block"
#: held replacements delete the rows of at most this many keys a statement
_KEYS_A_DELETE = 500


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
        # value once (with grouped commits, once per durable commit), since other processes
        # write some keys (a kill)
        self._kv_read: dict[str, str | None] = {}
        # with grouped commits, the keys read in this transaction and the last one: the first
        # read of a transaction reads them all in one statement
        self._kv_used: set[str] = set()
        self._kv_watch: set[str] = set()
        # with grouped commits (which a run's only writer uses: see group_commits) the rows
        # of this run's orders, positions and fills read or written are kept until a rollback
        # and follow this unit of work's own writes (the values as a read would return them):
        # the open positions' rows in the query's order (None: not read), the orders' rows
        # by id, the ids of the open orders and of all orders in the query's order (None: not
        # known), whether every order of the run is in ``_order_rows``, and the run's fill ids
        self._open_rows: list[Any] | None = None
        self._order_rows: dict[str, Any] = {}
        self._open_orders: list[str] | None = None
        self._all_orders: list[str] | None = None
        self._orders_complete = False
        self._fill_ids: set[str] | None = None
        # positions and orders this unit of work wrote or read with grouped commits: their
        # updates are held (the last per row, a position's at the version it had before) and
        # sent in one batch with the next statement that reads their table or at the durable
        # commit, where a row count that differs raises ConcurrencyConflict
        self._locked: set[str] = set()
        self._locked_orders: set[str] = set()
        # whether strings sort by code point in this database (SQLite; PostgreSQL with the C
        # collation), so that a kept row is placed in the query's order (None: not asked)
        self._bytewise: bool | None = None
        # row replacements (delete the row of a key, insert its new row), the last per key
        self._deferred: Replacements = {}
        self._appends = itertools.count()  # the keys of held appends (never replaced)
        # with grouped commits, the held writes of the commit points, sent with the next
        # statement that reads their tables or at the durable commit (and, when sent under a
        # block's savepoint, what to hold again if that block rolls back)
        self._pt_deferred: Replacements = {}
        self._pt_kv: dict[str, dict[str, Any]] = {}
        self._sp_pt: tuple[Replacements, dict[str, dict[str, Any]]] | None = None
        self._sending_points = False
        self._loaded: dict[str, int] = {}
        # grouped commits (see group_commits): commit points made durable every ``_group``
        # commits; between them the transaction stays open on ``_held``, and between durable
        # commits the connection stays checked out there (no pool round trip, no pre-ping)
        self._group = 1
        self._group_thread = 0  # the thread that groups (others commit each time)
        self._points = 0  # commit points not yet durable
        self._held: Connection | None = None
        # this block's savepoint is taken (over the points): see _SAVEPOINT
        self._sp = False
        self._sp_at_point = False  # a savepoint (rolled back to) sits at the last point
        self._wrote = False  # this block wrote since its last commit
        self._committing = False
        self._stmts = statements_for(engine.dialect.name)
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

    def _append(self, insert_stmt: Executable, row: dict[str, Any]) -> None:
        # an insert into an append-only table that no statement of the trading loop reads
        # (the journal, the order events): held like the replacements, sent in order
        self.connection  # noqa: B018 - only inside 'with uow:'
        self._deferred[(id(insert_stmt), next(self._appends))] = (None, {}, insert_stmt, row)

    def _flush(self) -> None:
        """Send the held writes: the commit points' first, then this block's."""
        if self._pt_deferred or self._pt_kv:
            held, kv = self._pt_deferred, self._pt_kv
            self._pt_deferred, self._pt_kv = {}, {}
            self._send_points(held, kv)
        if self._deferred or self._kv_pending:
            held, kv = self._deferred, self._kv_pending
            self._deferred, self._kv_pending = {}, {}
            self._send(held, kv)

    def _send_points(self, held: Replacements, kv: dict[str, dict[str, Any]]) -> None:
        if self._sp:  # undone with this block: hold them again then
            before = self._sp_pt or ({}, {})
            self._sp_pt = ({**before[0], **held}, {**before[1], **kv})
        else:  # they join the points: a savepoint kept from a rollback is before them
            self._sp_at_point = False
        self._sending_points = True
        try:
            self._send(held, kv)
        finally:
            self._sending_points = False

    def _flush_held(self, *writes: Executable) -> None:
        """Send the held writes of one table only (before a statement that reads it)."""
        sids = {id(w) for w in writes}
        points = {k: v for k, v in self._pt_deferred.items() if k[0] in sids}
        mine = {k: v for k, v in self._deferred.items() if k[0] in sids}
        for k in points:
            del self._pt_deferred[k]
        for k in mine:
            del self._deferred[k]
        if points:
            self._send_points(points, {})
        if mine:
            self._send(mine, {})

    def _send(self, held: Replacements, kv: dict[str, dict[str, Any]]) -> None:
        """Send held writes, each statement's rows as one executemany: per table the deletes
        of the replaced keys, then their new rows (the keys are distinct, so this is the same
        as replacing one key after the other); then the kv_state upserts."""
        tables: dict[int, tuple[Executable | None, list[dict[str, Any]], Executable,
                                list[dict[str, Any]]]] = {}
        for (sid, _), (dstmt, dparams, istmt, row) in held.items():
            got = tables.get(sid)
            if got is None:
                got = tables[sid] = (dstmt, [], istmt, [])
            got[1].append(dparams)
            got[3].append(row)
        for dstmt, dels, istmt, rows in tables.values():
            many = None if dstmt is None else self._stmts.deletes_of_many.get(id(dstmt))
            if many is not None and len(dels) > 1:  # one statement for all the keys
                stmt, name, key = many
                for at in range(0, len(dels), _KEYS_A_DELETE):
                    keys = [key(p) for p in dels[at:at + _KEYS_A_DELETE]]
                    self._execute(stmt, {"k_run": dels[0]["k_run"], name: keys}, flush=False)
            elif dstmt is not None:  # (None: appends and position updates)
                self._execute(dstmt, dels if len(dels) > 1 else dels[0], flush=False)
            res = self._execute(istmt, rows if len(rows) > 1 else rows[0], flush=False)
            # held updates and deletes: one row each (no other writer: a miss is not expected)
            if id(istmt) in self._stmts.held_checked and res.rowcount != len(rows):
                raise ConcurrencyConflict(
                    f"held writes of {sorted(r['k_id'] for r in rows)} found "
                    f"{res.rowcount} of their {len(rows)} rows as read")
        if kv:
            rows = list(kv.values())
            self._kv_read.update((r["key"], r["value"]) for r in rows)  # stored as of now
            self._execute(self._stmts.kv_set, rows if len(rows) > 1 else rows[0], flush=False)

    def _merge_points(self, held: Replacements) -> None:
        # a block's held writes join the points': the last per key, but a held position
        # update that replaces the points' unsent one expects the version that one expected,
        # and so does a held delete that makes the points' unsent update moot
        upd, dele = id(self._stmts.position_update), id(self._stmts.position_delete)
        for key, value in held.items():
            if key[0] == upd:
                earlier = self._pt_deferred.get(key)
            elif key[0] == dele:
                earlier = self._pt_deferred.pop((upd, key[1]), None)
            else:
                earlier = None
            if earlier is not None:
                value = (None, {}, value[2], {**value[3], "k_version": earlier[3]["k_version"]})
            self._pt_deferred[key] = value


    def _forget_reads(self) -> None:
        self._kv_read = {}
        self._kv_used, self._kv_watch = set(), set()
        self._open_rows = None
        self._forget_orders()
        self._fill_ids = None
        self._locked = set()

    def _forget_orders(self) -> None:
        self._order_rows = {}
        self._open_orders = self._all_orders = None
        self._orders_complete = False
        self._locked_orders = set()

    def _end_transaction(self) -> None:
        # a durable commit with grouped commits: what other processes may write is read
        # again (kv_state); the rows of this run's orders, positions and fills are kept
        self._kv_read = {}
        self._kv_watch, self._kv_used = self._kv_used, set()

    def sorts_bytewise(self) -> bool:
        """Return True when this database orders strings by code point (so kept rows can be
        placed in a query's order): SQLite, or PostgreSQL whose database collation is C."""
        if self._bytewise is None:
            self._bytewise = self.engine.dialect.name == "sqlite"
            if self.engine.dialect.name == "postgresql":
                version = self.engine.dialect.server_version_info or (0,)
                provider = "datlocprovider" if version >= (15,) else "'c'"
                row = self.connection.exec_driver_sql(
                    f"SELECT {provider}, datcollate FROM pg_database "
                    "WHERE datname = current_database()").first()
                self._bytewise = row is not None and str(row[0]) == "c" \
                    and str(row[1]) in ("C", "POSIX")
        return self._bytewise

    def _placed(self, ids: list[str] | None, rows: dict[str, Any], new: str,
                key: Callable[[Any], tuple[Any, str]]) -> list[str] | None:
        """Return ``ids`` (in the order of ``key`` of their rows) with ``new`` put in its
        place, or None when its place is not known (a tie on time with strings that do not
        sort by code point here)."""
        if ids is None:
            return None
        k = key(rows[new])
        if not ids:
            return [new]
        last = key(rows[ids[-1]])[0]
        if k[0] is None or last is None:  # (not null in the schema)
            return None
        if k[0] > last:  # later than every row: last (the ids need not be compared)
            return [*ids, new]
        if not self.sorts_bytewise():
            return None
        at = bisect.bisect_right(ids, k, key=lambda i: key(rows[i]))
        return [*ids[:at], new, *ids[at:]]

    def _held_writes(self) -> bool:
        return bool(self._deferred or self._kv_pending or self._pt_deferred or self._pt_kv)

    def _execute(self, stmt: Executable, params: Any = None, *,
                 flush: bool = True) -> CursorResult[Any]:
        if flush and self._held_writes():
            if id(stmt) not in self._stmts.independent:
                self._flush()  # every statement that reads their tables sees the held writes
            elif id(stmt) in self._stmts.on_positions:
                self._flush_held(self._stmts.position_update)
            elif id(stmt) in self._stmts.on_orders:
                self._flush_held(self._stmts.order_update)
        table = getattr(stmt, "table", None)
        if table is not None and id(stmt) not in self._stmts.followed:
            if table is t.positions:  # a write the repository does not follow
                self._open_rows = None
                self._locked = set()
            elif table is t.orders:
                self._forget_orders()
            elif table is t.fills:
                self._fill_ids = None
        if not self._sending_points and getattr(stmt, "is_dml", False):
            if self._points and not self._sp and not self._committing and self._grouping():
                # the first write of a block over pending commit points: leaving the block
                # without committing must undo this block only
                if not self._sp_at_point:
                    self.connection.exec_driver_sql(f"SAVEPOINT {_SAVEPOINT}")
                self._sp, self._sp_at_point = True, False
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
        self._sp, self._wrote = False, False
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
        dirty = bool(self._deferred or self._kv_pending)
        self._deferred, self._kv_pending = {}, {}
        if conn is None:
            self._forget_reads()
            return
        keep = False
        try:
            self._undo(conn, dirty)
            keep = self._grouping()
        finally:
            self._sp, self._wrote = False, False
            if keep:  # pending points, or only the connection, stay until the next block
                self._held = conn
            else:
                self._forget_reads()
                conn.close()

    def _grouping(self) -> bool:
        return self._group > 1 and threading.get_ident() == self._group_thread

    def _undo(self, conn: Connection, dirty: bool) -> None:
        # roll back what this block wrote since its last commit, keeping the commit points;
        # ``dirty``: the block held writes (dropped now), so the kept rows may show them
        sp, self._sp = self._sp, False
        self._sp_pt, sp_pt = None, self._sp_pt
        grouping = self._grouping()
        if not self._points or not grouping:
            if not grouping or dirty or self._wrote:
                self._forget_reads()
            elif conn.in_transaction():  # it only read: the rows kept are as stored, but
                self._end_transaction()  # its transaction ends
            self._sp_at_point = False
            if conn.in_transaction():
                conn.rollback()
        elif sp:
            self._forget_reads()  # it may hold values this block wrote
            conn.exec_driver_sql(f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}")
            self._sp_at_point = True  # it stays: the next block starts from it
            if sp_pt is not None:  # the points' writes sent in this block: held again
                self._pt_deferred = {**sp_pt[0], **self._pt_deferred}
                self._pt_kv = {**sp_pt[1], **self._pt_kv}
        elif self._wrote:  # a write no savepoint covers (not expected): undo everything
            self._lose_points(conn)
        elif dirty:
            self._forget_reads()

    def _lose_points(self, conn: Connection) -> None:
        # the transaction of the points is rolled back: the store is as of the last durable
        # commit, as after a crash
        self._pt_deferred, self._pt_kv = {}, {}
        self._forget_reads()
        self._points = 0
        self._sp_at_point = False
        self._run_known = False
        with contextlib.suppress(DBAPIError):
            conn.rollback()

    def commit(self) -> None:
        conn = self.connection
        try:
            if self._grouping():
                # the block's savepoint is not released (one round trip less per block):
                # the durable commit ends it with the transaction, and the next block takes
                # its own (same name, so ROLLBACK TO finds the newest)
                self._sp, self._sp_pt, self._sp_at_point = False, None, False
                # this block's held writes join the points' (sent with them, later)
                self._merge_points(self._deferred)
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
        self._sp_at_point = False
        if self._grouping():
            self._end_transaction()
        else:
            self._forget_reads()

    def rollback(self) -> None:
        conn = self.connection
        self._run_pending = False
        dirty = bool(self._deferred or self._kv_pending)
        self._deferred, self._kv_pending = {}, {}
        self._undo(conn, dirty)
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

        Only for the run's only writer (a run holding its lease, with nothing else writing
        the database meanwhile): the run's orders, positions and fills read or written are
        kept across durable commits, so another process's change to them would be missed
        (a held update that finds its row changed raises ConcurrencyConflict when sent);
        ``kv_state`` is read again after each durable commit.
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
