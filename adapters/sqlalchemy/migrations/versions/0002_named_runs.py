"""named runs: per-run state, every row in a run

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 14:40:00

Several named runs share one database. ``kv_state`` gets a ``run_id`` column and the key
``(run_id, key)``; ``runs`` gets ``updated_at`` (wall clock of the last start or finish).
Rows written before runs had names (``run_id`` NULL) and the state they share go to one
run, ``default``: the most recently started run is renamed ``default`` (so
``catalyst run`` resumes it), or a run ``default`` is created when the database holds rows
but no run. Older runs keep their names, their engine cursors and their snapshots.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

import adapters.sqlalchemy.types

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFAULT_RUN = "default"
#: tables whose rows belong to a run (the ``run_id`` column of 0001)
RUN_TABLES = (
    "orders", "fills", "order_events", "positions", "closed_positions", "portfolio_snapshots",
    "execution_log", "performance_metrics", "stop_loss_events", "risk_events",
)
#: state keys that name their run: ``engine:<run>:...`` and ``tracker:start_equity:<run>``
_ENGINE, _START = "engine:", "tracker:start_equity:"


_RUN_COLUMNS = ("run_id", "kind", "status", "started_at", "finished_at", "params")
_COLUMNS = {"portfolio_snapshots": ("run_id", "ts"),
            "performance_metrics": ("run_id", "period", "period_start")}


def _kv() -> sa.TableClause:
    return sa.table("kv_state", sa.column("run_id"), sa.column("key"))


def _key_run(key: str) -> str | None:
    if key.startswith(_ENGINE):
        return key[len(_ENGINE):].split(":", 1)[0]
    if key.startswith(_START):
        return key[len(_START):]
    return None


def _renamed_key(key: str, old: str, new: str) -> str:
    if key.startswith(f"{_ENGINE}{old}:"):
        return f"{_ENGINE}{new}:" + key[len(f"{_ENGINE}{old}:"):]
    if key == f"{_START}{old}":
        return f"{_START}{new}"
    return key


def _kv_with_run(conn: Any) -> None:
    if conn.dialect.name == "sqlite":
        op.create_table(
            "kv_state_0002",
            sa.Column("run_id", sa.String(length=64), nullable=False),
            sa.Column("key", sa.String(length=200), nullable=False),
            sa.Column("value", sa.Text(), nullable=False),
            sa.Column("updated_at", adapters.sqlalchemy.types.UtcDateTime(timezone=True),
                      nullable=True),
            sa.PrimaryKeyConstraint("run_id", "key", name="pk_kv_state"),
        )
        op.execute("INSERT INTO kv_state_0002 (run_id, key, value, updated_at) "
                   "SELECT '', key, value, updated_at FROM kv_state")
        op.drop_table("kv_state")
        op.rename_table("kv_state_0002", "kv_state")
        return
    op.add_column("kv_state", sa.Column("run_id", sa.String(length=64), nullable=False,
                                        server_default=""))
    op.alter_column("kv_state", "run_id", server_default=None)
    op.drop_constraint("pk_kv_state", "kv_state", type_="primary")
    op.create_primary_key("pk_kv_state", "kv_state", ["run_id", "key"])


def upgrade() -> None:
    conn = op.get_bind()
    op.add_column("runs", sa.Column(
        "updated_at", adapters.sqlalchemy.types.UtcDateTime(timezone=True), nullable=True))
    _kv_with_run(conn)
    runs = sa.table("runs", *(sa.column(c) for c in _RUN_COLUMNS))
    kv = _kv()
    tables = {name: sa.table(name, *(sa.column(c) for c in _COLUMNS.get(name, ("run_id",))))
              for name in RUN_TABLES}

    known = [r[0] for r in conn.execute(
        sa.select(runs.c.run_id).order_by(runs.c.started_at.desc(), runs.c.run_id.desc()))]
    unnamed = any(
        conn.execute(sa.select(sa.exists().where(tbl.c.run_id.is_(None)))).scalar()
        for tbl in tables.values()
    ) or bool(conn.execute(sa.select(sa.exists().where(kv.c.run_id == ""))).scalar())
    if not known and not unnamed:
        return  # a new database: nothing to assign
    legacy = DEFAULT_RUN
    if not known:
        conn.execute(sa.text(
            "INSERT INTO runs (run_id, kind, status, started_at, params) "
            "VALUES (:r, 'run', 'finished', :t, :p)"
        ).bindparams(sa.bindparam("t", type_=adapters.sqlalchemy.types.UtcDateTime()),
                     sa.bindparam("p", type_=adapters.sqlalchemy.types.JsonDoc)),
            {"r": DEFAULT_RUN, "t": datetime.now(UTC), "p": {}})
    elif DEFAULT_RUN not in known:
        # the latest run becomes the default run (it holds the rows nobody stamped)
        latest = known[0]
        cols = [c for c in runs.c if c.name != "run_id"]
        conn.execute(runs.insert().from_select(
            ["run_id", *(c.name for c in cols)],
            sa.select(sa.literal(DEFAULT_RUN), *cols).where(runs.c.run_id == latest)))
        for tbl in tables.values():
            conn.execute(tbl.update().where(tbl.c.run_id == latest).values(run_id=DEFAULT_RUN))
        for key, in conn.execute(sa.select(kv.c.key)).all():
            new = _renamed_key(key, latest, DEFAULT_RUN)
            if new != key:
                conn.execute(kv.update().where(kv.c.key == key).values(key=new))
        conn.execute(runs.delete().where(runs.c.run_id == latest))
        known = [DEFAULT_RUN if r == latest else r for r in known]
    # unstamped rows: into the default run (snapshots and metrics the run already has win)
    snaps, perf = tables["portfolio_snapshots"], tables["performance_metrics"]
    conn.execute(snaps.delete().where(snaps.c.run_id.is_(None), snaps.c.ts.in_(
        sa.select(snaps.c.ts).where(snaps.c.run_id == legacy).scalar_subquery())))
    mine = perf.alias("mine")
    conn.execute(perf.delete().where(perf.c.run_id.is_(None), sa.exists().where(
        mine.c.run_id == legacy, mine.c.period == perf.c.period,
        mine.c.period_start == perf.c.period_start)))
    for tbl in tables.values():
        conn.execute(tbl.update().where(tbl.c.run_id.is_(None)).values(run_id=legacy))
    # state: keys that name a known run go to it, everything else to the default run
    for key, in conn.execute(sa.select(kv.c.key).where(kv.c.run_id == "")).all():
        owner = _key_run(key)
        conn.execute(kv.update().where(kv.c.run_id == "", kv.c.key == key).values(
            run_id=owner if owner in known else legacy))


def downgrade() -> None:
    conn = op.get_bind()
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("updated_at")
    kv = _kv()
    rows = conn.execute(sa.select(kv.c.run_id, kv.c.key)).all()
    keep: dict[str, str] = {}
    for run_id, key in sorted(rows, key=lambda r: (r[0] != DEFAULT_RUN, r[0])):
        keep.setdefault(key, run_id)
    for run_id, key in rows:
        if keep[key] != run_id:
            conn.execute(kv.delete().where(kv.c.run_id == run_id, kv.c.key == key))
    if conn.dialect.name == "sqlite":
        op.create_table(
            "kv_state_0001",
            sa.Column("key", sa.String(length=200), nullable=False),
            sa.Column("value", sa.Text(), nullable=False),
            sa.Column("updated_at", adapters.sqlalchemy.types.UtcDateTime(timezone=True),
                      nullable=True),
            sa.PrimaryKeyConstraint("key", name="pk_kv_state"),
        )
        op.execute("INSERT INTO kv_state_0001 (key, value, updated_at) "
                   "SELECT key, value, updated_at FROM kv_state")
        op.drop_table("kv_state")
        op.rename_table("kv_state_0001", "kv_state")
        return
    op.drop_constraint("pk_kv_state", "kv_state", type_="primary")
    op.drop_column("kv_state", "run_id")
    op.create_primary_key("pk_kv_state", "kv_state", ["key"])
