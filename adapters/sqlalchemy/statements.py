"""The SQL statements of the unit of work, built once per dialect, and the constants they
share (terminal order statuses, the placeholder run record, the run name length).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import (
    Executable,
    Table,
    and_,
    bindparam,
    delete,
    exists,
    func,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from adapters.sqlalchemy import tables as t
from adapters.sqlalchemy.types import UtcDateTime
from domain.events import TERMINAL_STATUSES

TERMINAL = sorted(s.value for s in TERMINAL_STATUSES)
#: the ``runs`` record of a run that wrote before it was started
PLACEHOLDER_KIND, PLACEHOLDER_STATUS = "adhoc", "created"
RUN_NAME_MAX = 64
_FK_HINTS = ("foreign key", "foreignkey", "violates foreign key")


def is_fk(exc: IntegrityError) -> bool:
    low = str(exc.orig).lower()
    return any(h in low for h in _FK_HINTS)


class Statements:
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
        self.fill_ids = select(f.fill_id).where(f.run_id == run)
        self.fills_of_order = (
            select(t.fills).where(and_(f.run_id == run, f.client_order_id == bindparam("k_id")))
            .order_by(f.ts_event, f.fill_id)
        )
        # the insert of a new position, unless a closed position has its id (one statement for
        # both checks: when it inserts nothing, the caller looks which of the two it was)
        self.position_insert = ins(t.positions).from_select(
            [col.name for col in t.positions.c],
            select(*[bindparam(col.name, type_=col.type) for col in t.positions.c]).where(
                ~exists().where(c.position_id == bindparam("position_id"))),
        ).on_conflict_do_nothing().returning(p.position_id)
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
            and_(o.run_id == run, o.status.not_in(TERMINAL))).order_by(
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
        self.kv_get_many = select(kc.key, kc.value).where(
            and_(kc.run_id == run, kc.key.in_(bindparam("k_keys", expanding=True))))
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
        # the deletes above for many keys in one statement (held replacements are sent so):
        # the delete, the name of its list of keys, and the key of one delete's parameters
        self.deletes_of_many: dict[int, tuple[Executable, str, Callable[[dict[str, Any]], Any]]] \
            = {
                id(self.snapshot_delete): (delete(t.portfolio_snapshots).where(and_(
                    func.coalesce(sn.run_id, "") == run,
                    sn.ts.in_(bindparam("k_keys", expanding=True)))), "k_keys",
                    lambda p: p["k_ts"]),
                id(self.metrics_delete): (delete(t.performance_metrics).where(and_(
                    func.coalesce(pm.run_id, "") == run,
                    tuple_(pm.period, pm.period_start).in_(
                        bindparam("k_keys", expanding=True)))), "k_keys",
                    lambda p: (p["k_period"], p["k_start"])),
            }
        self.run_insert = ins(t.runs).on_conflict_do_nothing()
        #: statements that neither read nor write the tables whose writes are held
        #: (kv_state, portfolio_snapshots, performance_metrics and the append-only journal
        #: and order events): they run without sending them
        self.independent = frozenset(id(x) for x in (
            self.order_insert, self.order_get, self.order_update, self.order_event_insert,
            self.fill_insert, self.fill_exists, self.fill_ids, self.fills_of_order,
            self.position_insert,
            self.position_get, self.position_of_ticker, self.positions_open, self.orders_all,
            self.orders_open, self.position_version, self.position_update,
            self.position_delete, self.closed_exists, self.closed_insert,
            self.execution_insert, self.risk_insert, self.exit_insert, self.inbox_insert))
        #: statements that read ``positions``: they send the held position updates and deletes
        #: first (a write needs not: a held write is of a row that no other write touches)
        self.on_positions = frozenset(id(x) for x in (
            self.position_get, self.position_of_ticker, self.positions_open,
            self.position_version))
        #: statements that read ``orders``: they send the held order updates first
        self.on_orders = frozenset(id(x) for x in (
            self.order_get, self.orders_all, self.orders_open))
        #: the writes that can be held with grouped commits whose row count is checked when
        #: they are sent (one row each)
        self.held_checked = frozenset(id(x) for x in (
            self.order_update, self.position_update, self.position_delete))
        #: the writes of ``orders``, ``positions`` and ``fills`` after which the repositories
        #: keep their kept rows up to date themselves (any other write there forgets them)
        self.followed = frozenset(id(x) for x in (
            self.order_insert, self.order_update, self.position_insert, self.position_update,
            self.position_delete, self.fill_insert))
        # a placeholder row of a run that writes before it was started (see RunRepo)
        self.run_ensure = ins(t.runs).on_conflict_do_nothing()


_STATEMENTS: dict[str, Statements] = {}
#: held row replacements: (statement, key) -> (delete, its parameters, insert, the new row)
#: (no delete: an append to an append-only table)
Replacements = dict[tuple[int, Any], tuple[Executable | None, dict[str, Any], Executable,
                                            dict[str, Any]]]


def statements_for(dialect: str) -> Statements:
    st = _STATEMENTS.get(dialect)
    if st is None:
        st = _STATEMENTS[dialect] = Statements(dialect)
    return st
