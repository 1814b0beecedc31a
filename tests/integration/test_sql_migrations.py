"""Migrations and schema: the shipped Alembic revisions build exactly ``tables.metadata``."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, inspect, select, text
from sqlalchemy.exc import IntegrityError

from adapters.sqlalchemy import (
    check_integrity,
    current_revision,
    head_revision,
    make_engine,
    sql_uow_factory,
    upgrade,
)
from adapters.sqlalchemy import tables as t
from adapters.sqlalchemy.migrate import MIGRATIONS_DIR, alembic_config
from tests.integration.sql_support import fill_order, make_fill, make_order, make_position


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'm' / 'catalyst.db'}"
    value: str = request.getfixturevalue("postgresql_url")
    return value


def _diff(engine: Engine) -> list[object]:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return [d for d in compare_metadata(ctx, t.metadata)]


@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression")
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
def test_empty_database_is_migrated_to_head_and_matches_the_tables(url: str) -> None:
    engine = make_engine(url)
    try:
        assert current_revision(engine) == head_revision()
        assert set(t.metadata.tables) <= set(inspect(engine).get_table_names())
        assert _diff(engine) == []
    finally:
        engine.dispose()


def test_downgrade_to_base_then_upgrade_again(url: str) -> None:
    engine = make_engine(url)
    try:
        cfg = alembic_config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "base")
        assert set(inspect(engine).get_table_names()) & set(t.metadata.tables) == set()
        assert upgrade(engine) == head_revision()
        assert upgrade(engine) == head_revision()  # idempotent
    finally:
        engine.dispose()


def test_concurrent_first_use_migrates_once(url: str) -> None:
    errors: list[BaseException] = []
    engines: list[Engine] = []

    def open_it() -> None:
        try:
            engines.append(make_engine(url))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    for e in engines:
        e.dispose()
    assert errors == []
    assert len(engines) == 4


def test_migrations_ship_inside_the_package() -> None:
    versions = sorted(p.name for p in (MIGRATIONS_DIR / "versions").glob("*.py"))
    assert versions and (MIGRATIONS_DIR / "env.py").is_file()
    assert (MIGRATIONS_DIR / "script.py.mako").is_file()
    pyproject = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    assert '"migrations/versions/*.py"' in pyproject


def test_sqlite_runs_in_wal_with_foreign_keys_on(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'new' / 'dir' / 'c.db'}")
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert (conn.exec_driver_sql("PRAGMA busy_timeout").scalar() or 0) >= 1000
    finally:
        engine.dispose()


def test_money_is_stored_exactly_and_times_come_back_utc(url: str) -> None:
    engine = make_engine(url)
    try:
        uows = sql_uow_factory(engine)
        with uows() as uow:
            order = make_order("ct-1", qty="0.000000001")
            fill = make_fill("f-1", "ct-1", qty="0.000000001",
                             price="12345678901234.123456789012", commission="0")
            uow.orders.add(order)
            fill_order(order, fill)
            uow.orders.save(order)
            uow.fills.add(fill)
            uow.commit()
        with engine.connect() as conn:
            row = conn.execute(select(t.fills)).mappings().one()
        assert row["price"] == Decimal("12345678901234.123456789012")
        assert row["quantity"] == Decimal("0.000000001")
        assert row["ts_event"].tzinfo is UTC
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("table", "values"),
    [
        ("fills", {"quantity": Decimal(-1)}),
        ("fills", {"side": "short"}),
        ("orders", {"status": "pending"}),
        ("orders", {"filled_qty": Decimal(11)}),
    ],
)
def test_check_constraints_refuse_impossible_rows(url: str, table: str, values: dict[str, object]) -> None:
    engine = make_engine(url)
    try:
        with sql_uow_factory(engine)() as uow:
            order = make_order("ct-1")
            uow.orders.add(order)
            uow.fills.add(make_fill("f-1", "ct-1", qty="1"))
            uow.commit()
        tbl = t.metadata.tables[table]
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(tbl.update().values(**values))
    finally:
        engine.dispose()


def test_integrity_check_names_each_kind_of_damage(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'c.db'}")
    try:
        uows = sql_uow_factory(engine)
        with uows() as uow:
            entry = make_order("pos-1-entry")
            fill = make_fill("pos-1-f1", "pos-1-entry")
            uow.orders.add(entry)
            fill_order(entry, fill)
            uow.orders.save(entry)
            uow.fills.add(fill)
            uow.positions.add(make_position("pos-1", fill=fill))
            uow.commit()
        assert check_integrity(engine) == []
        raw = sqlite3.connect(tmp_path / "c.db")  # damage it behind the adapter's back
        raw.execute("PRAGMA foreign_keys = OFF")
        raw.execute("UPDATE positions SET quantity = '7'")
        raw.execute("UPDATE orders SET filled_qty = '3'")
        raw.execute(
            "INSERT INTO fills (fill_id, client_order_id, ticker, side, quantity, price, "
            "commission, ts_event) VALUES ('f-orphan', 'ct-gone', 'AAPL', 'buy', '1', '1', '0', "
            "'2024-01-02 00:00:00.000000')"
        )
        raw.commit()
        raw.close()
        problems = check_integrity(engine)
        text_ = "\n".join(problems)
        assert "position pos-1: quantity 7 != signed sum of its fills 10" in text_
        assert "order pos-1-entry: filled_qty 3 != sum of its fills 10" in text_
        assert "fill f-orphan: its order ct-gone is missing" in text_
        assert "foreign key" in text_
    finally:
        engine.dispose()


def test_check_integrity_runs_on_postgresql(postgresql_url: str) -> None:
    engine = make_engine(postgresql_url)
    try:
        assert check_integrity(engine) == []
        with engine.connect() as conn:
            assert conn.execute(text("SHOW TimeZone")).scalar() is not None
    finally:
        engine.dispose()




@pytest.fixture(scope="module")
def sqlite_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('prop') / 'c.db'}",
                         synchronous="OFF")
    yield engine
    engine.dispose()


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    price=st.decimals(min_value=Decimal("1e-12"), max_value=Decimal("1e15"), allow_nan=False,
                      allow_infinity=False, places=None),
    seconds=st.integers(min_value=0, max_value=10**9),
    offset_min=st.integers(min_value=-14 * 60, max_value=14 * 60),
)
def test_money_and_time_round_trip_exactly_for_any_value(
    sqlite_engine: Engine, price: Decimal, seconds: int, offset_min: int
) -> None:
    tz = timezone(timedelta(minutes=offset_min))
    base = datetime(1990, 1, 1, tzinfo=UTC)
    when = (base + timedelta(seconds=seconds, microseconds=seconds % 997)).astimezone(tz)
    with sqlite_engine.begin() as conn:
        conn.execute(t.kv_state.delete())
        conn.execute(t.positions.delete())
        conn.execute(t.kv_state.insert().values(run_id="r", key="k", value="v", updated_at=when))
        conn.execute(t.runs.delete())
        conn.execute(t.runs.insert().values(run_id="r", kind="x", started_at=when, params={}))
        row = conn.execute(select(t.runs.c.started_at)).one()
        assert row.started_at == when and row.started_at.tzinfo is UTC
        conn.execute(t.execution_log.insert().values(
            ts=when, ticker="AAPL", action="buy", stage="fill", success=True,
            entry_price=price, metadata={}))
        got = conn.execute(select(t.execution_log.c.entry_price)
                           .order_by(t.execution_log.c.id.desc())).scalars().first()
    assert got == price and str(got) == str(price)
