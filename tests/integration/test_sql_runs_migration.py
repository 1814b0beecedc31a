"""Migration 0002 on a database written before runs had names (built with the 0001 schema).

Rows nobody stamped and the shared state go to the run ``default`` (the latest run, renamed,
so ``catalyst run`` resumes it); older runs keep their names, cursors and snapshots.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from adapters.sqlalchemy import current_revision, head_revision, make_engine, upgrade
from adapters.sqlalchemy import mapping as m
from adapters.sqlalchemy import tables as t
from adapters.sqlalchemy.uow import SqlUnitOfWork
from domain.audit import PortfolioSnapshot
from tests.integration.sql_support import fill_order, make_fill, make_order, make_position, ts


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def old_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An engine on a database at revision 0001 (the schema before named runs)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'old' / 'catalyst.db'}"
    else:
        url = request.getfixturevalue("postgresql_url")
    engine = make_engine(url, migrate=False)
    upgrade(engine, "0001")
    try:
        yield engine
    finally:
        engine.dispose()


def _old_order_row(order: Any) -> dict[str, Any]:
    # the orders table of 0001: no run column yet, no filled notional
    row = {k: v for k, v in m.order_row(order).items() if k != "filled_notional"}
    return {**row, "run_id": None}


def _snap(minutes: int, equity: str, run_id: str | None) -> dict[str, Any]:
    return m.snapshot_row(PortfolioSnapshot(
        ts=ts(minutes), cash=Decimal(equity), equity=Decimal(equity),
        long_market_value=Decimal(0), short_market_value=Decimal(0), open_positions=0,
        daily_pnl=Decimal(0), cumulative_pnl=Decimal(0), run_id=run_id))


def _run(conn: Any, run_id: str, minutes: int, threshold: float) -> None:
    conn.execute(t.runs.insert().values(run_id=run_id, kind="run", status="interrupted",
                                        started_at=ts(minutes), params={"threshold": threshold}))


def _kv(conn: Any, key: str, value: str) -> None:
    conn.execute(text("INSERT INTO kv_state (key, value) VALUES (:k, :v)"), {"k": key, "v": value})


def test_upgrade_when_old_runs_then_unstamped_rows_and_state_join_the_latest_as_default(
    old_engine: Engine,
) -> None:
    order = make_order("ct-1")
    fill = make_fill("f-1", "ct-1")
    fill_order(order, fill)
    with old_engine.begin() as conn:
        _run(conn, "run-old", 0, 0.6)
        _run(conn, "run-new", 5, 0.7)
        conn.execute(t.orders.insert(), _old_order_row(order))
        conn.execute(t.fills.insert(), {**m.fill_row(fill), "run_id": None})
        conn.execute(t.positions.insert(),
                     {**m.position_row(make_position("pos-1", fill=fill)), "run_id": None})
        conn.execute(t.portfolio_snapshots.insert(), [
            _snap(1, "1", "run-old"), _snap(6, "2", "run-new"), _snap(7, "3", None),
            _snap(6, "9", None),  # a stray row at a time the run already has: the run's wins
        ])
        for key, value in [("risk:state", "halted"), ("engine:run-old:cursor", "old-cursor"),
                           ("engine:run-new:cursor", "new-cursor"),
                           ("tracker:start_equity:run-new", "100000"), ("plan:ct-1", "{}")]:
            _kv(conn, key, value)

    assert upgrade(old_engine) == head_revision() == current_revision(old_engine)

    with SqlUnitOfWork(old_engine) as uow:
        runs = uow.runs.list()
        assert [(r.run_id, r.started_at, dict(r.params), r.status) for r in runs] == [
            ("run-old", ts(0), {"threshold": 0.6}, "interrupted"),
            ("default", ts(5), {"threshold": 0.7}, "interrupted"),
        ]
        assert [o.client_order_id for o in uow.orders.list()] == ["ct-1"]
        assert uow.fills.exists("f-1")
        assert [p.position_id for p in uow.positions.list_open()] == ["pos-1"]
        assert [(s.ts, str(s.equity)) for s in uow.reports.snapshots()] == [
            (ts(6), "2"), (ts(7), "3")
        ]
        assert uow.state.get("risk:state") == "halted"
        assert uow.state.get("engine:default:cursor") == "new-cursor"
        assert uow.state.get("tracker:start_equity:default") == "100000"
        assert uow.state.get("plan:ct-1") == "{}"
        assert uow.state.get("engine:run-new:cursor") is None
    with SqlUnitOfWork(old_engine, run_id="run-old") as uow:
        assert uow.orders.list() == [] and uow.positions.list_open() == []
        assert [(s.ts, str(s.equity)) for s in uow.reports.snapshots()] == [(ts(1), "1")]
        assert uow.state.get("engine:run-old:cursor") == "old-cursor"
        assert uow.state.get("risk:state") is None
    with old_engine.connect() as conn:
        for table in (t.orders, t.fills, t.positions, t.portfolio_snapshots):
            assert conn.execute(text(f"SELECT COUNT(*) FROM {table.name} "
                                     "WHERE run_id IS NULL")).scalar() == 0


def test_upgrade_when_rows_but_no_run_then_a_default_run_holds_them(old_engine: Engine) -> None:
    order = make_order("ct-1")
    with old_engine.begin() as conn:
        conn.execute(t.orders.insert(), _old_order_row(order))
        _kv(conn, "risk:state", "active")
    upgrade(old_engine)
    with SqlUnitOfWork(old_engine) as uow:
        default = uow.runs.get("default")
        assert default is not None and default.kind == "run"
        assert [o.client_order_id for o in uow.orders.list()] == ["ct-1"]
        assert uow.state.get("risk:state") == "active"


def test_upgrade_when_empty_then_no_run_is_made_and_new_runs_work(old_engine: Engine) -> None:
    upgrade(old_engine)
    with SqlUnitOfWork(old_engine, run_id="fresh") as uow:
        assert uow.runs.list() == []
        uow.orders.add(make_order("ct-1", minutes=3))
        uow.commit()
    with SqlUnitOfWork(old_engine, run_id="fresh") as uow:
        got = uow.orders.get("ct-1")
        assert got is not None and got.created_at == ts(0) + timedelta(minutes=3)
