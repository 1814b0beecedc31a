"""Contract of ``application.ports.UnitOfWork`` (TC-R01 ...): in-memory fake, SQLite, PostgreSQL.

Every implementation must pass the same numbered cases. Cases TC-R30 to TC-R34 need two
units of work over one store at once (or foreign keys), which only the SQL implementations
have. Cases TC-R40 and up show that named runs sharing one store are isolated (each run its
own books, state and reports; ids unique across runs; placeholder, start and delete of runs).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest
from sqlalchemy import Engine

from adapters.memory.uow import InMemoryUnitOfWork
from adapters.sqlalchemy import SqlUnitOfWork, make_engine, sql_uow_factory
from adapters.sqlalchemy import tables as t
from application.ports import UnitOfWork
from domain.audit import ExecutionRecord, PerformanceRecord, PortfolioSnapshot, RunRecord
from domain.errors import ConcurrencyConflict, DuplicateClientOrderId, DuplicateFill, NotFound
from domain.events import (
    ExitTriggered,
    OrderStatus,
    OrderStatusChanged,
    OrderSubmitted,
    RiskEvent,
    RiskState,
)
from domain.values import ExitReason
from tests.integration.sql_support import (
    fill_order,
    make_fill,
    make_order,
    make_position,
    ts,
)

Factory = Callable[[], Any]



@pytest.fixture(scope="module")
def pg_engine(postgresql_server: Any) -> Iterator[Engine]:
    """One migrated PostgreSQL database for this module (emptied before each case)."""
    name = f"contract_{uuid.uuid4().hex[:12]}"
    postgresql_server.admin(f'CREATE DATABASE "{name}" TEMPLATE template0')
    engine = make_engine(postgresql_server.url(name))
    try:
        yield engine
    finally:
        engine.dispose()
        postgresql_server.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _empty(engine: Engine) -> None:
    names = ", ".join(f'"{tbl.name}"' for tbl in t.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")


@pytest.fixture(
    params=[
        "memory",
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.postgres),
    ]
)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Factory]]:
    """Yield (name, factory of units of work over one store)."""
    if request.param == "memory":
        uow = InMemoryUnitOfWork()
        yield "memory", lambda: uow
        return
    if request.param == "postgresql":
        engine: Engine = request.getfixturevalue("pg_engine")
        _empty(engine)
        yield "postgresql", sql_uow_factory(engine)
        return
    engine = make_engine(f"sqlite:///{tmp_path / 'db' / 'catalyst.db'}")
    try:
        yield request.param, sql_uow_factory(engine)
    finally:
        engine.dispose()


@pytest.fixture
def uows(backend: tuple[str, Factory]) -> Factory:
    return backend[1]


@pytest.fixture
def sql_uows(backend: tuple[str, Factory]) -> Factory:
    if backend[0] == "memory":
        pytest.skip("needs two units of work over one store (SQL implementations only)")
    return backend[1]


def _fields(obj: Any) -> dict[str, Any]:
    return attrs.asdict(obj, recurse=False)


# --- orders ---------------------------------------------------------------------------
def test_tc_r01_order_round_trips_every_field(uows: Factory) -> None:
    order = make_order("ct-br-1", bracket=True)
    with uows() as uow:
        uow.orders.add(order)
        uow.commit()
    with uows() as uow:
        got = uow.orders.get("ct-br-1")
    assert got is not None
    assert _fields(got) == _fields(order)
    assert got.request == order.request
    assert got.created_at.tzinfo is not None and got.created_at.utcoffset() == timedelta(0)


def test_tc_r02_duplicate_client_order_id_raises_and_transaction_stays_usable(
    uows: Factory,
) -> None:
    with uows() as uow:
        uow.orders.add(make_order("ct-1"))
        uow.commit()
    with uows() as uow:
        with pytest.raises(DuplicateClientOrderId):
            uow.orders.add(make_order("ct-1", qty="5"))
        uow.orders.add(make_order("ct-2"))
        uow.commit()
    with uows() as uow:
        first = uow.orders.get("ct-1")
        assert first is not None and first.quantity == Decimal("10")
        assert uow.orders.get("ct-2") is not None


def test_tc_r03_order_save_stores_new_state_and_unknown_order_raises(uows: Factory) -> None:
    order = make_order("ct-1")
    with uows() as uow:
        uow.orders.add(order)
        uow.commit()
    fill = make_fill("f-1", "ct-1", qty="4", price="100.123456789")
    fill_order(order, fill)
    with uows() as uow:
        uow.orders.save(order)
        uow.commit()
    with uows() as uow:
        got = uow.orders.get("ct-1")
        assert got is not None
        assert _fields(got) == _fields(order)
        assert got.status is OrderStatus.PARTIALLY_FILLED
        assert got.avg_fill_price == Decimal("100.123456789")
        with pytest.raises(NotFound):
            uow.orders.save(make_order("ct-never"))


def test_tc_r03b_an_order_read_back_averages_its_fills_exactly(uows: Factory) -> None:
    # four fills whose running average, recomputed from a rounded average, drifts in the
    # last digit: the store keeps the notional, so the order read back averages exactly
    order = make_order("ct-avg", qty="57")
    fills = [("10", "254"), ("32", "1"), ("14", "217"), ("1", "1")]
    with uows() as uow:
        uow.orders.add(order)
        uow.commit()
    for i, (q, p) in enumerate(fills):
        fill_order(order, make_fill(f"f-avg-{i}", "ct-avg", qty=q, price=p, minutes=i + 1))
        with uows() as uow:  # saved and read back after every fill, as a restart would
            uow.orders.save(order)
            uow.commit()
        with uows() as uow:
            got = uow.orders.get("ct-avg")
        assert got is not None
        order = got
    assert order.filled_notional == Decimal(5611)
    assert order.avg_fill_price == Decimal(5611) / Decimal(57)


def test_tc_r04_order_list_is_oldest_first_and_filters_open_and_ticker(uows: Factory) -> None:
    a = make_order("ct-a", minutes=2)
    b = make_order("ct-b", ticker="MSFT", minutes=1)
    c = make_order("ct-c", minutes=3)
    c.apply(OrderSubmitted(client_order_id="ct-c", ts_event=ts(3)))
    c.apply(OrderStatusChanged(client_order_id="ct-c", ts_event=ts(4), status="canceled"))
    with uows() as uow:
        for o in (a, b, c):
            uow.orders.add(o)
        uow.commit()
    with uows() as uow:
        assert [o.client_order_id for o in uow.orders.list()] == ["ct-b", "ct-a", "ct-c"]
        assert [o.client_order_id for o in uow.orders.list(open_only=True)] == ["ct-b", "ct-a"]
        assert [o.client_order_id for o in uow.orders.list(ticker="AAPL")] == ["ct-a", "ct-c"]
        assert [o.client_order_id for o in uow.orders.list(open_only=True, ticker="MSFT")] == [
            "ct-b"
        ]


def test_tc_r05_order_events_are_recorded_in_the_transaction(uows: Factory) -> None:
    order = make_order("ct-1")
    with uows() as uow:
        uow.orders.add(order)
        uow.orders.record_event(OrderSubmitted(client_order_id="ct-1", ts_event=ts(1)))
        uow.orders.record_event(
            OrderStatusChanged(client_order_id="ct-1", ts_event=ts(2), status="rejected",
                               reason="no buying power")
        )
        uow.commit()
    with uows() as uow:
        assert uow.orders.get("ct-1") is not None


# --- fills ----------------------------------------------------------------------------
def test_tc_r06_fills_round_trip_exactly_in_time_order(uows: Factory) -> None:
    with uows() as uow:
        uow.orders.add(make_order("ct-1", qty="3"))
        late = make_fill("f-2", "ct-1", qty="2", price="0.1", minutes=5, commission="0.0001")
        early = make_fill("f-1", "ct-1", qty="1", price="123.456789012345", minutes=2)
        uow.fills.add(late)
        uow.fills.add(early)
        uow.commit()
    with uows() as uow:
        got = uow.fills.for_order("ct-1")
        assert got == [early, late]
        assert str(got[1].price) == "0.1" and str(got[1].commission) == "0.0001"
        assert uow.fills.exists("f-1") and not uow.fills.exists("f-9")
        assert uow.fills.for_order("ct-none") == []


def test_tc_r07_duplicate_fill_id_raises_and_transaction_stays_usable(uows: Factory) -> None:
    with uows() as uow:
        uow.orders.add(make_order("ct-1"))
        uow.fills.add(make_fill("f-1", "ct-1", qty="1"))
        uow.commit()
    with uows() as uow:
        with pytest.raises(DuplicateFill):
            uow.fills.add(make_fill("f-1", "ct-1", qty="2"))
        uow.fills.add(make_fill("f-2", "ct-1", qty="2"))
        uow.commit()
    with uows() as uow:
        assert [f.quantity for f in uow.fills.for_order("ct-1")] == [1, 2]


# --- positions ------------------------------------------------------------------------
def test_tc_r08_position_round_trips_every_field(uows: Factory) -> None:
    p = make_position("pos-1")
    p.mark(Decimal("104.37"), ts(5), high=Decimal("106"), low=Decimal("99.5"))
    with uows() as uow:
        uow.positions.add(p)
        uow.commit()
    with uows() as uow:
        got = uow.positions.get("pos-1")
        by_ticker = uow.positions.open_for("AAPL")
        assert uow.positions.open_for("MSFT") is None
        assert uow.positions.get("pos-none") is None
        listed = uow.positions.list_open()
    assert got is not None and by_ticker is not None
    assert _fields(got) == _fields(p)
    assert _fields(by_ticker) == _fields(p)
    assert [x.position_id for x in listed] == ["pos-1"]


def test_tc_r09_adding_an_existing_position_id_raises_conflict(uows: Factory) -> None:
    p = make_position("pos-1")
    with uows() as uow:
        uow.positions.add(p)
        uow.commit()
    with uows() as uow, pytest.raises(ConcurrencyConflict):
        uow.positions.add(make_position("pos-1"))


def test_tc_r10_saving_a_position_that_is_not_stored_raises_conflict(uows: Factory) -> None:
    with uows() as uow, pytest.raises(ConcurrencyConflict):
        uow.positions.save(make_position("pos-ghost"))


def test_tc_r11_save_stores_new_state_and_version(uows: Factory) -> None:
    with uows() as uow:
        uow.positions.add(make_position("pos-1"))
        uow.commit()
    with uows() as uow:
        p = uow.positions.get("pos-1")
        assert p is not None
        v = p.version
        p.apply_fill(make_fill("f-x", "ct-exit", side="sell", qty="4", price="104", minutes=9))
        uow.positions.save(p)
        uow.commit()
    with uows() as uow:
        got = uow.positions.get("pos-1")
    assert got is not None
    assert got.version == v + 1 and got.quantity == Decimal("6")
    assert _fields(got) == _fields(p)


def test_tc_r12_close_moves_the_position_and_a_second_close_conflicts(uows: Factory) -> None:
    with uows() as uow:
        uow.positions.add(make_position("pos-1"))
        uow.commit()
    with uows() as uow:
        p = uow.positions.get("pos-1")
        assert p is not None
        stale = uow.positions.get("pos-1")
        assert stale is not None
        p.apply_fill(make_fill("f-x", "ct-exit", side="sell", qty="10", price="104", minutes=9))
        closed = p.close(ts(9), ExitReason.TAKE_PROFIT)
        uow.positions.close(p, closed)
        with pytest.raises(ConcurrencyConflict):
            uow.positions.close(stale, closed)
        uow.commit()
    with uows() as uow:
        assert uow.positions.get("pos-1") is None
        assert uow.positions.list_open() == []
        assert uow.positions.list_closed() == [closed]
        with pytest.raises(ConcurrencyConflict):
            uow.positions.add(make_position("pos-1"))


def test_tc_r13_list_closed_filters_by_close_time_in_order(uows: Factory) -> None:
    closed = []
    with uows() as uow:
        for i, minute in enumerate((30, 10, 20)):
            p = make_position(f"pos-{i}", minutes=1)
            uow.positions.add(p)
            p.apply_fill(make_fill(f"x-{i}", f"ct-x{i}", side="sell", price="99", minutes=minute))
            c = p.close(ts(minute), ExitReason.STOP_LOSS)
            uow.positions.close(p, c)
            closed.append(c)
        uow.commit()
    with uows() as uow:
        assert [c.position_id for c in uow.positions.list_closed()] == ["pos-1", "pos-2", "pos-0"]
        assert [c.position_id for c in uow.positions.list_closed(since=ts(20))] == [
            "pos-2", "pos-0"
        ]
        assert [c.position_id for c in uow.positions.list_closed(until=ts(20))] == [
            "pos-1", "pos-2"
        ]
        assert uow.positions.list_closed(since=ts(11), until=ts(19)) == []


# --- transactions ---------------------------------------------------------------------
def test_tc_r14_rollback_and_leaving_without_commit_discard_writes(uows: Factory) -> None:
    with uows() as uow:
        uow.orders.add(make_order("ct-1"))
        uow.rollback()
        uow.orders.add(make_order("ct-2"))
        uow.commit()
        uow.orders.add(make_order("ct-3"))
    with uows() as uow:
        assert uow.orders.get("ct-1") is None
        assert uow.orders.get("ct-2") is not None
        assert uow.orders.get("ct-3") is None


def test_tc_r15_an_exception_inside_the_block_rolls_back(uows: Factory) -> None:
    with pytest.raises(RuntimeError, match="boom"), uows() as uow:
        uow.orders.add(make_order("ct-1"))
        uow.state.set("k", "v")
        raise RuntimeError("boom")
    with uows() as uow:
        assert uow.orders.get("ct-1") is None and uow.state.get("k") is None


def test_tc_r16_changing_a_read_object_without_save_changes_nothing(uows: Factory) -> None:
    with uows() as uow:
        uow.orders.add(make_order("ct-1"))
        uow.positions.add(make_position("pos-1"))
        uow.commit()
    with uows() as uow:
        o = uow.orders.get("ct-1")
        p = uow.positions.get("pos-1")
        assert o is not None and p is not None
        o.apply(OrderSubmitted(client_order_id="ct-1", ts_event=ts(1)))
        p.mark(Decimal("200"), ts(2))
        uow.commit()
    with uows() as uow:
        o2, p2 = uow.orders.get("ct-1"), uow.positions.get("pos-1")
        assert o2 is not None and o2.status is OrderStatus.INITIALIZED
        assert p2 is not None and p2.last_price != Decimal("200")


# --- journal, state, reports, runs ----------------------------------------------------
def test_tc_r17_journal_keeps_executions_and_risk_events_in_order(uows: Factory) -> None:
    recs = [
        ExecutionRecord(ts=ts(i), ticker="AAPL", action="buy", stage=stage, success=ok,
                        signal_id=f"s{i % 2}", signal_confidence=0.7, catalyst_score=6.0,
                        client_order_id="ct-1", position_id="pos-1", error_message=None if ok
                        else "denied", elapsed_seconds=0.012, entry_price=Decimal("100.01"),
                        stop_loss=Decimal("95"), take_profit=Decimal("110"),
                        quantity=Decimal("10"), metadata={"rule": "max_positions"})
        for i, (stage, ok) in enumerate([("validate", True), ("risk", False), ("submit", True)])
    ]
    risk = [
        RiskEvent(kind="breaker", rule="daily_loss", message="daily loss 3.1% >= 3%",
                  ts_event=ts(1), value="-0.031", limit="-0.03", state=RiskState.HALTED,
                  actor="engine", data={"equity": "96900"}),
        RiskEvent(kind="resume", rule="manual", message="resumed", ts_event=ts(2)),
    ]
    exit_ev = ExitTriggered(position_id="pos-1", ticker="AAPL", reason=ExitReason.STOP_LOSS,
                            trigger_price=Decimal("94.9"), level=Decimal("95"), ts_event=ts(3))
    with uows() as uow:
        for r in recs:
            uow.journal.add_execution(r)
        for e in risk:
            uow.journal.add_risk_event(e)
        uow.journal.add_exit_event(exit_ev)
        uow.commit()
    with uows() as uow:
        assert uow.journal.executions() == recs
        assert uow.journal.executions(signal_id="s0") == [recs[0], recs[2]]
        assert uow.journal.risk_events() == risk


def test_tc_r18_state_stores_overwrites_and_misses(uows: Factory) -> None:
    with uows() as uow:
        uow.state.set("risk.state", "active")
        uow.state.set("risk.state", "halted")
        uow.state.set("cursor", '{"ts": "2024-03-01"}')
        uow.commit()
    with uows() as uow:
        assert uow.state.get("risk.state") == "halted"
        assert uow.state.get("cursor") == '{"ts": "2024-03-01"}'
        assert uow.state.get("missing") is None


def _snap(minutes: int, equity: str, run_id: str | None = None) -> PortfolioSnapshot:
    return PortfolioSnapshot(ts=ts(minutes), cash=Decimal("50000.01"), equity=Decimal(equity),
                             long_market_value=Decimal("50000"), short_market_value=Decimal(0),
                             open_positions=2, daily_pnl=Decimal("12.5"),
                             cumulative_pnl=Decimal("-3.25"), run_id=run_id)


def test_tc_r19_snapshot_with_same_run_and_time_replaces(uows: Factory) -> None:
    with uows() as uow:
        uow.reports.add_snapshot(_snap(10, "100000"))
        uow.reports.add_snapshot(_snap(10, "100001"))
        uow.reports.add_snapshot(_snap(5, "99000"))
        uow.commit()
    with uows().for_run("r1") as uow:
        uow.reports.add_snapshot(_snap(10, "100002", "r1"))
        uow.reports.add_snapshot(_snap(10, "100003", "r1"))
        uow.commit()
    with uows() as uow:
        got = uow.reports.snapshots()
        assert [(s.ts, s.run_id, str(s.equity)) for s in got] == [
            (ts(5), "default", "99000"), (ts(10), "default", "100001")
        ]
        assert [s.equity for s in uow.reports.snapshots(since=ts(6))] == [Decimal("100001")]
        assert [s.equity for s in uow.reports.snapshots(until=ts(6))] == [Decimal("99000")]
    with uows().for_run("r1") as uow:
        assert [(s.ts, s.run_id, str(s.equity)) for s in uow.reports.snapshots()] == [
            (ts(10), "r1", "100003")
        ]


def test_tc_r20_metrics_replace_by_run_period_and_start(uows: Factory) -> None:
    def rec(period: str, day: int, sharpe: float, run_id: str | None = None) -> PerformanceRecord:
        start = ts(0) + timedelta(days=day)
        return PerformanceRecord(period=period, period_start=start,
                                 period_end=start + timedelta(days=1),
                                 metrics={"sharpe": sharpe, "trades": 3}, run_id=run_id)

    with uows() as uow:
        uow.reports.save_metrics(rec("daily", 1, 1.0))
        uow.reports.save_metrics(rec("daily", 1, 1.5))
        uow.reports.save_metrics(rec("daily", 0, 0.5))
        uow.reports.save_metrics(rec("weekly", 0, 2.0))
        uow.commit()
    with uows() as uow:
        daily = uow.reports.metrics("daily")
        assert [m.metrics["sharpe"] for m in daily] == [0.5, 1.5]
        assert len(uow.reports.metrics()) == 3
        assert uow.reports.metrics("monthly") == []


def test_tc_r21_runs_start_once_finish_and_latest(uows: Factory) -> None:
    with uows() as uow:
        uow.runs.start(RunRecord(run_id="r1", kind="backtest", started_at=ts(0),
                                 params={"fast": 10}))
        uow.runs.start(RunRecord(run_id="r1", kind="backtest", started_at=ts(9)))
        uow.runs.start(RunRecord(run_id="r2", kind="run", started_at=ts(5)))
        uow.runs.finish("r1", ts(3), "finished")
        with pytest.raises(NotFound):
            uow.runs.finish("r-none", ts(3), "failed")
        uow.commit()
    with uows() as uow:
        r1 = uow.runs.get("r1")
        assert r1 is not None and r1.started_at == ts(0) and dict(r1.params) == {"fast": 10}
        assert r1.finished_at == ts(3) and r1.status == "finished"
        latest = uow.runs.latest()
        latest_bt = uow.runs.latest("backtest")
        assert latest is not None and latest.run_id == "r2"
        assert latest_bt is not None and latest_bt.run_id == "r1"
        assert uow.runs.latest("train") is None and uow.runs.get("nope") is None


def test_tc_r22_times_in_other_zones_come_back_as_the_same_instant_in_utc(uows: Factory) -> None:
    est = timezone(timedelta(hours=-5))
    order = make_order("ct-1")
    order = attrs.evolve(order, created_at=ts(0).astimezone(est))
    with uows() as uow:
        uow.orders.add(order)
        uow.commit()
    with uows() as uow:
        got = uow.orders.get("ct-1")
    assert got is not None and got.created_at == ts(0)


def test_tc_r23_repositories_outside_the_block_raise(uows: Factory) -> None:
    uow = uows()
    with pytest.raises(RuntimeError):
        uow.orders.get("ct-1")


def test_tc_r24_implements_the_port(uows: Factory) -> None:
    uow: UnitOfWork = uows()
    assert isinstance(uow, InMemoryUnitOfWork | SqlUnitOfWork)


# --- named runs: one store, several runs ---------------------------------------------
def _book(uow: Any, tag: str, minutes: int) -> None:
    """Write one of everything a run keeps, with ids and values marked by ``tag``."""
    order = make_order(f"ct-{tag}", minutes=minutes)
    fill = make_fill(f"f-{tag}", f"ct-{tag}", minutes=minutes)
    fill_order(order, fill)
    uow.orders.add(order)
    uow.fills.add(fill)
    uow.positions.add(make_position(f"pos-{tag}", fill=fill))
    closing = make_position(f"pos-{tag}-closed", fill=make_fill(f"f-{tag}-2", f"ct-{tag}"))
    uow.positions.add(closing)
    closing.apply_fill(make_fill(f"f-{tag}-3", f"ct-{tag}-x", side="sell", price="101",
                                 minutes=9))
    uow.positions.close(closing, closing.close(ts(9), ExitReason.MANUAL))
    uow.journal.add_execution(ExecutionRecord(
        ts=ts(minutes), ticker="AAPL", action="buy", stage="submit", success=True,
        signal_id=f"s-{tag}", client_order_id=f"ct-{tag}"))
    uow.journal.add_risk_event(RiskEvent(kind="breaker", rule=f"rule-{tag}", message=tag,
                                         ts_event=ts(minutes), state=RiskState.HALTED))
    uow.state.set("risk:state", f"state-{tag}")
    uow.reports.add_snapshot(_snap(10, "100000" if tag == "a" else "90000"))
    uow.reports.save_metrics(PerformanceRecord(
        period="all", period_start=ts(0), period_end=ts(10), metrics={"tag": tag}))


def _seen(uow: Any) -> dict[str, Any]:
    held = uow.positions.open_for("AAPL")
    return {
        "orders": [o.client_order_id for o in uow.orders.list()],
        "order": [c for c in ("ct-a", "ct-b") if uow.orders.get(c) is not None],
        "fills": [c for c in ("f-a", "f-b") if uow.fills.exists(c)],
        "fills_of": [f.fill_id for c in ("ct-a", "ct-b") for f in uow.fills.for_order(c)],
        "open": [p.position_id for p in uow.positions.list_open()],
        "get": [p for p in ("pos-a", "pos-b") if uow.positions.get(p) is not None],
        "open_for": held.position_id if held is not None else None,
        "closed": [c.position_id for c in uow.positions.list_closed()],
        "executions": [r.signal_id for r in uow.journal.executions()],
        "risk": [e.rule for e in uow.journal.risk_events()],
        "state": uow.state.get("risk:state"),
        "snapshots": [(str(s.equity), s.run_id) for s in uow.reports.snapshots()],
        "metrics": [(dict(m.metrics), m.run_id) for m in uow.reports.metrics()],
    }


def test_tc_r40_two_runs_in_one_store_each_see_only_their_own_books(uows: Factory) -> None:
    a, b = uows().for_run("run-a"), uows().for_run("run-b")
    with a:
        _book(a, "a", 1)
        a.commit()
    with b:
        _book(b, "b", 2)
        b.commit()
    with uows().for_run("run-a") as uow:
        assert _seen(uow) == {
            "orders": ["ct-a"], "order": ["ct-a"], "fills": ["f-a"], "fills_of": ["f-a"],
            "open": ["pos-a"], "get": ["pos-a"], "open_for": "pos-a",
            "closed": ["pos-a-closed"], "executions": ["s-a"], "risk": ["rule-a"],
            "state": "state-a", "snapshots": [("100000", "run-a")],
            "metrics": [({"tag": "a"}, "run-a")],
        }
    with uows().for_run("run-b") as uow:
        assert _seen(uow) == {
            "orders": ["ct-b"], "order": ["ct-b"], "fills": ["f-b"], "fills_of": ["f-b"],
            "open": ["pos-b"], "get": ["pos-b"], "open_for": "pos-b",
            "closed": ["pos-b-closed"], "executions": ["s-b"], "risk": ["rule-b"],
            "state": "state-b", "snapshots": [("90000", "run-b")],
            "metrics": [({"tag": "b"}, "run-b")],
        }
    with uows() as uow:  # the default run holds nothing of either
        seen = _seen(uow)
        assert not any(v for v in seen.values()), seen
        assert uow.run == "default"


def test_tc_r41_ids_stay_unique_across_runs(uows: Factory) -> None:
    with uows().for_run("run-a") as a:
        _book(a, "a", 1)
        a.commit()
    with uows().for_run("run-b") as b:
        with pytest.raises(DuplicateClientOrderId):
            b.orders.add(make_order("ct-a"))
        with pytest.raises(DuplicateFill):
            b.fills.add(make_fill("f-a", "ct-a"))
        with pytest.raises(ConcurrencyConflict):
            b.positions.add(make_position("pos-a"))
        with pytest.raises(ConcurrencyConflict):
            b.positions.add(make_position("pos-a-closed"))
        assert b.orders.get("ct-a") is None
        with pytest.raises(NotFound):  # another run's order cannot be saved from here
            b.orders.save(make_order("ct-a"))
        b.commit()
    with uows().for_run("run-a") as a:
        got = a.orders.get("ct-a")
        assert got is not None and got.filled_qty == Decimal("10")


def test_tc_r42_a_run_that_writes_before_start_gets_a_placeholder_that_start_replaces(
    uows: Factory,
) -> None:
    with uows().for_run("early") as uow:
        uow.state.set("k", "v")
        uow.commit()
    with uows() as uow:
        early = uow.runs.get("early")
        assert early is not None and (early.kind, early.status) == ("adhoc", "created")
        uow.runs.start(RunRecord(run_id="early", kind="run", started_at=ts(1),
                                 params={"threshold": 0.7}))
        uow.runs.start(RunRecord(run_id="late", kind="backtest", started_at=ts(2)))
        uow.commit()
    with uows().for_run("late") as uow:
        uow.state.set("k", "w")  # a started run keeps its record
        uow.runs.start(RunRecord(run_id="early", kind="other", started_at=ts(5)))
        uow.commit()
    with uows() as uow:
        runs = uow.runs.list()
        assert [(r.run_id, r.kind, r.status, dict(r.params)) for r in runs] == [
            ("late", "backtest", "running", {}),
            ("early", "run", "running", {"threshold": 0.7}),  # started again: the latest
        ]
        assert uow.runs.get("default") is None  # reading creates nothing
    with uows().for_run("early") as uow:
        assert uow.state.get("k") == "v"


def test_tc_r43_delete_removes_one_run_and_everything_in_it(uows: Factory) -> None:
    for tag in ("a", "b"):
        with uows().for_run(f"run-{tag}") as uow:
            uow.runs.start(RunRecord(run_id=f"run-{tag}", kind="backtest", started_at=ts(0)))
            _book(uow, tag, 1)
            uow.commit()
    with uows() as uow:
        uow.runs.delete("run-a")
        uow.runs.delete("no-such-run")
        uow.commit()
    with uows() as uow:
        assert [r.run_id for r in uow.runs.list()] == ["run-b"]
    with uows().for_run("run-a") as uow:
        seen = _seen(uow)
        assert not any(v for v in seen.values()), seen
        uow.orders.add(make_order("ct-a"))  # its ids are free again
        uow.commit()
    with uows().for_run("run-b") as uow:
        assert _seen(uow)["orders"] == ["ct-b"] and _seen(uow)["state"] == "state-b"


def test_tc_r44_leaving_without_commit_discards_the_placeholder_too(uows: Factory) -> None:
    with uows().for_run("gone") as uow:
        uow.orders.add(make_order("ct-1"))
    with uows() as uow:
        assert uow.runs.get("gone") is None
    with uows().for_run("gone") as uow:
        uow.orders.add(make_order("ct-1"))
        uow.rollback()
        uow.state.set("k", "v")
        uow.commit()
    with uows() as uow:
        gone = uow.runs.get("gone")
        assert gone is not None and gone.status == "created"
    with uows().for_run("gone") as uow:
        assert uow.orders.list() == [] and uow.state.get("k") == "v"


def test_tc_r45_runs_committing_in_turn_keep_each_others_writes(uows: Factory) -> None:
    a, b = uows().for_run("run-a"), uows().for_run("run-b")
    with a:
        a.state.set("k", "a1")
        a.commit()
        with b:
            b.state.set("k", "b1")
            b.commit()
        a.state.set("k2", "a2")
        a.commit()
    with uows().for_run("run-a") as uow:
        assert (uow.state.get("k"), uow.state.get("k2")) == ("a1", "a2")
    with uows().for_run("run-b") as uow:
        assert (uow.state.get("k"), uow.state.get("k2")) == ("b1", None)
    with uows() as uow:
        assert {r.run_id for r in uow.runs.list()} == {"run-a", "run-b"}


def test_tc_r47_runs_list_by_activity_the_last_started_or_finished_last(
    uows: Factory,
) -> None:
    with uows() as uow:
        uow.runs.start(RunRecord(run_id="b", kind="run", started_at=ts(9)))
        uow.commit()
    with uows() as uow:
        uow.runs.start(RunRecord(run_id="a", kind="run", started_at=ts(0)))
        uow.commit()
    with uows() as uow:
        assert [r.run_id for r in uow.runs.list()] == ["b", "a"]
        latest = uow.runs.latest()
        assert latest is not None and latest.run_id == "b"  # latest: by the run's own clock
        uow.runs.finish("b", ts(10), "finished")
        uow.commit()
    with uows() as uow:
        assert [r.run_id for r in uow.runs.list()] == ["a", "b"]


def test_tc_r46_a_run_name_must_fit_the_key(uows: Factory) -> None:
    with pytest.raises(ValueError, match="run name"):
        uows().for_run("")
    with pytest.raises(ValueError, match="run name"):
        uows().for_run("x" * 65)
    assert uows().for_run("x" * 64).run == "x" * 64


# --- SQL only: two units of work, foreign keys ----------------------------------------
def test_tc_r30_stale_position_save_after_another_writer_raises_conflict(
    sql_uows: Factory,
) -> None:
    with sql_uows() as uow:
        uow.positions.add(make_position("pos-1"))
        uow.commit()
    a, b = sql_uows(), sql_uows()
    with a:
        pa = a.positions.get("pos-1")
        a.commit()  # end the read transaction (SQLite serialises writers)
        with b:
            pb = b.positions.get("pos-1")
            assert pb is not None
            pb.mark(Decimal("101"), ts(3))
            b.positions.save(pb)
            b.commit()
        assert pa is not None
        pa.mark(Decimal("99"), ts(4))
        with pytest.raises(ConcurrencyConflict, match="changed since it was read"):
            a.positions.save(pa)


def test_tc_r31_two_writers_closing_one_position_only_one_wins(sql_uows: Factory) -> None:
    with sql_uows() as uow:
        uow.positions.add(make_position("pos-1"))
        uow.commit()
    outcomes: list[str] = []
    barrier = threading.Barrier(4)

    def close_it(i: int) -> None:
        uow = sql_uows()
        barrier.wait()
        try:
            with uow:
                p = uow.positions.get("pos-1")
                if p is None:
                    outcomes.append("gone")
                    return
                p.apply_fill(make_fill(f"x{i}", f"ct-x{i}", side="sell", price="101", minutes=9))
                uow.positions.close(p, p.close(ts(9), ExitReason.MANUAL))
                uow.commit()
                outcomes.append("closed")
        except ConcurrencyConflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=close_it, args=(i,)) for i in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    assert outcomes.count("closed") == 1, outcomes
    with sql_uows() as uow:
        assert len(uow.positions.list_closed()) == 1


def test_tc_r32_fill_of_an_unknown_order_is_refused(sql_uows: Factory) -> None:
    with sql_uows() as uow, pytest.raises(NotFound, match="add the order before its fills"):
        uow.fills.add(make_fill("f-1", "ct-missing"))


def test_tc_r33_run_id_stamps_what_a_run_wrote(backend: tuple[str, Factory]) -> None:
    name, factory = backend
    if name == "memory":
        pytest.skip("the fake keeps no run column")
    engine = factory().engine
    with factory() as uow:
        uow.runs.start(RunRecord(run_id="bt-1", kind="backtest", started_at=ts(0)))
        uow.commit()
    with SqlUnitOfWork(engine, run_id="bt-1") as uow:
        uow.orders.add(make_order("ct-1"))
        uow.fills.add(make_fill("f-1", "ct-1"))
        uow.commit()
    with engine.connect() as conn:
        assert conn.execute(t.orders.select()).mappings().one()["run_id"] == "bt-1"
        assert conn.execute(t.fills.select()).mappings().one()["run_id"] == "bt-1"


def test_tc_r34_committed_rows_survive_a_new_engine(backend: tuple[str, Factory]) -> None:
    name, factory = backend
    if name == "memory":
        pytest.skip("the fake is not durable")
    engine = factory().engine
    with factory() as uow:
        uow.orders.add(make_order("ct-1"))
        uow.commit()
    other = make_engine(engine.url)
    try:
        with SqlUnitOfWork(other) as uow:
            got = uow.orders.get("ct-1")
            assert got is not None and got.created_at.tzinfo is UTC
    finally:
        other.dispose()


# --- the alert inbox (TC-R50 ...): shared by the runs of a store -------------------------
def _inbox_record(alert_id: str, minutes: int = 0, **kw: Any) -> Any:
    from application.ports import InboxRecord

    kw.setdefault("source", "test")
    return InboxRecord(alert_id=alert_id, received_at=ts(100), known_at=ts(minutes),
                       body_hash="ab" * 32, payload=f'{{"id":"{alert_id}"}}', **kw)


def test_tc_r50_inbox_add_stores_once_and_a_duplicate_returns_the_first(uows: Factory) -> None:
    with uows() as uow:
        assert uow.inbox.add(_inbox_record("a-1", source="first")) is None
        uow.commit()
    with uows() as uow:
        first = uow.inbox.add(_inbox_record("a-1", source="second"))
        uow.commit()
    assert first is not None and first.source == "first" and first.seq >= 1
    with uows() as uow:
        assert [r.source for r in uow.inbox.list()] == ["first"]
        got = uow.inbox.get("a-1")
        assert uow.inbox.get("nope") is None
    assert got is not None and got.status == "received" and got.received_at == ts(100)
    assert got.known_at.tzinfo is not None and got.known_at == ts(0)


def test_tc_r51_inbox_release_moves_only_what_is_known_by_now(uows: Factory) -> None:
    with uows() as uow:
        for i, m in enumerate((5, 1, 9)):
            uow.inbox.add(_inbox_record(f"a-{i}", minutes=m))
        uow.commit()
    with uows() as uow:
        assert uow.inbox.release(ts(5)) == 2
        uow.commit()
    with uows() as uow:
        assert [r.alert_id for r in uow.inbox.released()] == ["a-1", "a-0"]  # by known_at
        assert uow.inbox.counts() == {"released": 2, "received": 1}
        assert [r.alert_id for r in uow.inbox.list(status="received")] == ["a-2"]
        assert [r.alert_id for r in uow.inbox.list()] == ["a-0", "a-1", "a-2"]  # arrival


def test_tc_r52_inbox_mark_settles_released_once_and_refuses_the_rest(uows: Factory) -> None:
    with uows() as uow:
        uow.inbox.add(_inbox_record("a-1"))
        uow.inbox.add(_inbox_record("a-2"))
        with pytest.raises(ValueError, match="cannot mark routed, it is received"):
            uow.inbox.mark("a-1", "routed", "signal", ts(1), "r1")
        uow.inbox.release(ts(1))
        uow.inbox.mark("a-1", "routed", "signal sig-a-1", ts(1), "r1")
        with pytest.raises(ValueError, match="cannot mark suppressed, it is routed"):
            uow.inbox.mark("a-1", "suppressed", "duplicate", ts(2), "r1")
        with pytest.raises(ValueError, match="expected one of"):
            uow.inbox.mark("a-2", "received", "", ts(2))
        with pytest.raises(ValueError, match="not in the inbox"):
            uow.inbox.mark("zz", "routed", "", ts(2))
        uow.commit()
    with uows() as uow:
        got = uow.inbox.get("a-1")
        assert uow.inbox.counts() == {"routed": 1, "released": 1}
    assert got is not None and (got.status, got.reason, got.run) == ("routed", "signal sig-a-1",
                                                                     "r1")


def test_tc_r53_inbox_writes_without_commit_are_discarded(uows: Factory) -> None:
    with uows() as uow:
        uow.inbox.add(_inbox_record("a-1"))
    with uows() as uow:
        assert uow.inbox.get("a-1") is None and uow.inbox.counts() == {}
        uow.inbox.add(_inbox_record("a-1"))
        uow.commit()
        uow.inbox.release(ts(1))
        uow.rollback()
    with uows() as uow:
        got = uow.inbox.get("a-1")
    assert got is not None and got.status == "received"


def test_tc_r54_inbox_is_shared_by_the_runs_of_a_store(uows: Factory) -> None:
    with uows().for_run("r1") as uow:
        uow.inbox.add(_inbox_record("a-1"))
        uow.commit()
    with uows().for_run("r2") as uow:
        assert uow.inbox.get("a-1") is not None
        assert uow.inbox.add(_inbox_record("a-1")) is not None
        uow.inbox.release(ts(1))
        uow.inbox.mark("a-1", "suppressed", "no_rule", ts(1), "r2")
        uow.commit()
    with uows().for_run("r1") as uow:
        got = uow.inbox.get("a-1")
    assert got is not None and (got.status, got.run) == ("suppressed", "r2")


def test_tc_r55_two_writers_adding_one_alert_id_store_it_once(sql_uows: Factory) -> None:
    outcomes: list[bool] = []
    barrier = threading.Barrier(4)

    def add_it(i: int) -> None:
        uow = sql_uows()
        barrier.wait()
        with uow:
            outcomes.append(uow.inbox.add(_inbox_record("a-1", source=f"w{i}")) is None)
            uow.commit()

    threads = [threading.Thread(target=add_it, args=(i,)) for i in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    assert sorted(outcomes) == [False, False, False, True]
    with sql_uows() as uow:
        assert len(uow.inbox.list()) == 1
