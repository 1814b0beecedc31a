"""Grouped commits of the SQL unit of work (``group_commits``), on SQLite and PostgreSQL.

Each ``commit`` becomes a commit point; every ``every``-th one is durable. Other connections
see nothing before it; a block that leaves without committing undoes its own writes only; a
process that dies loses the points after the last durable commit and nothing else.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, event, select

from adapters.sqlalchemy import SqlUnitOfWork, make_engine
from adapters.sqlalchemy import tables as t
from domain.audit import PerformanceRecord, PortfolioSnapshot
from domain.events import OrderStatusChanged
from domain.values import ExitReason
from tests.integration.sql_support import fill_order, make_fill, make_order, make_position, ts

Reader = Callable[[], dict[str, str]]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Engine, Reader]]:
    """Yield an engine and a reader of the committed ``kv_state`` from another connection."""
    if request.param == "postgresql":
        url = request.getfixturevalue("postgresql_url")
        engine = make_engine(url)
        other = make_engine(url)

        def read_pg() -> dict[str, str]:
            with other.connect() as conn:
                rows = conn.execute(select(t.kv_state.c.key, t.kv_state.c.value)).all()
            return {str(k): str(v) for k, v in rows}

        yield engine, read_pg
        other.dispose()
        engine.dispose()
        return
    path = tmp_path / "g.db"
    engine = make_engine(f"sqlite:///{path}")

    def read_sqlite() -> dict[str, str]:
        # a plain reader (no BEGIN IMMEDIATE): it sees the last durable commit, never waits
        with sqlite3.connect(path) as conn:
            return dict(conn.execute("SELECT key, value FROM kv_state").fetchall())

    yield engine, read_sqlite
    engine.dispose()


def test_group_commits_when_points_pending_then_others_see_them_at_the_every_th_commit(
        store: tuple[Engine, Reader]) -> None:
    engine, committed = store
    uow = SqlUnitOfWork(engine, run_id="g")
    uow.group_commits(3)
    for i in range(1, 3):
        with uow as u:
            u.state.set(f"k{i}", str(i))
            u.commit()
        assert committed() == {}  # points only
    with uow as u:
        assert (u.state.get("k1"), u.state.get("k2")) == ("1", "2")  # this uow sees them
        u.state.set("k3", "3")
        u.commit()  # the third: durable
    assert committed() == {"k1": "1", "k2": "2", "k3": "3"}
    with uow as u:
        u.state.set("k4", "4")
        u.commit()
    assert "k4" not in committed()
    uow.group_commits(1)  # back to one commit each: the pending point is made durable
    assert committed()["k4"] == "4"


def test_group_commits_when_a_block_leaves_without_commit_then_only_its_writes_undone(
        store: tuple[Engine, Reader]) -> None:
    engine, committed = store
    uow = SqlUnitOfWork(engine, run_id="g")
    uow.group_commits(10)
    with uow as u:
        u.state.set("kept", "yes")
        u.commit()
    with uow as u:
        u.orders.add(make_order("ct-undone"))  # written at once, then the block is left
        u.state.set("undone", "no")
    with pytest.raises(RuntimeError), uow as u:
        u.orders.add(make_order("ct-raised"))
        raise RuntimeError("a step that fails")
    with uow as u:
        assert u.orders.get("ct-undone") is None and u.orders.get("ct-raised") is None
        assert (u.state.get("kept"), u.state.get("undone")) == ("yes", None)
        u.rollback()  # nothing of this block to undo; the point stays
    uow.sync()
    assert committed() == {"kept": "yes"}
    with uow as u:
        assert u.orders.list() == []


def test_group_commits_when_process_dies_then_the_last_durable_commit_survives(
        store: tuple[Engine, Reader]) -> None:
    engine, committed = store
    uow = SqlUnitOfWork(engine, run_id="g")
    uow.group_commits(2)
    for key in ("a", "b", "c"):  # a, b durable; c a pending point
        with uow as u:
            u.state.set(key, key)
            u.commit()
    held = uow._held
    assert held is not None
    held.invalidate()  # the connection is lost, as when the process dies: no commit
    uow._held = None
    assert committed() == {"a": "a", "b": "b"}


def test_group_commits_when_points_sent_inside_a_block_that_rolls_back_then_kept(
        store: tuple[Engine, Reader]) -> None:
    engine, committed = store
    uow = SqlUnitOfWork(engine, run_id="g")
    uow.group_commits(10)
    with uow as u:
        u.state.set("point", "1")
        u.reports.add_snapshot(PortfolioSnapshot(
            ts=ts(0), cash=Decimal(1), equity=Decimal(1), long_market_value=Decimal(0),
            short_market_value=Decimal(0), open_positions=0, daily_pnl=Decimal(0),
            cumulative_pnl=Decimal(0)))
        u.commit()
    with uow as u:
        u.orders.add(make_order("ct-undone"))  # this block's savepoint
        assert [s.ts for s in u.reports.snapshots()] == [ts(0)]  # the point's rows sent here
    with uow as u:
        assert u.state.get("point") == "1" and u.orders.get("ct-undone") is None
        assert [s.ts for s in u.reports.snapshots()] == [ts(0)]
    uow.sync()
    assert committed() == {"point": "1"}


def test_group_commits_when_blocks_fail_between_points_then_each_undoes_its_own_writes_only(
        store: tuple[Engine, Reader]) -> None:
    engine, committed = store
    sent: list[str] = []

    def _seen(_c: object, _cur: object, stmt: str, *_a: object) -> None:
        sent.append(stmt.split(maxsplit=1)[0].upper())

    event.listen(engine, "before_cursor_execute", _seen)
    uow = SqlUnitOfWork(engine, run_id="g")
    uow.group_commits(10)
    for i in range(3):  # a point, a failing block, a second failing block, ...
        with uow as u:
            u.orders.add(make_order(f"ct-kept-{i}"))
            u.state.set(f"k{i}", str(i))
            u.commit()
        for j in range(2):
            with pytest.raises(RuntimeError), uow as u:
                u.orders.add(make_order(f"ct-lost-{i}-{j}"))
                u.state.set(f"k{i}", "lost")
                raise RuntimeError("a step that fails")
    with uow as u:
        ids = sorted(o.client_order_id for o in u.orders.list())
        assert ids == ["ct-kept-0", "ct-kept-1", "ct-kept-2"]
        assert [u.state.get(f"k{i}") for i in range(3)] == ["0", "1", "2"]
    uow.sync()
    assert committed() == {"k0": "0", "k1": "1", "k2": "2"}
    # one savepoint per block that wrote over a point, except after a rollback to it, and
    # none released (the durable commit ends them)
    assert sent.count("SAVEPOINT") == 3 and "RELEASE" not in sent
    event.remove(engine, "before_cursor_execute", _seen)


def test_group_commits_when_rows_kept_in_the_transaction_then_they_read_as_the_stored_ones(
        store: tuple[Engine, Reader]) -> None:
    engine, _ = store
    uow = SqlUnitOfWork(engine, run_id="g")
    uow.group_commits(10)
    order, other = make_order("ct-a", bracket=True), make_order("ct-b", ticker="MSFT")
    with uow as u:
        u.orders.add(order)
        u.orders.add(other)
        added = repr(u.orders.get("ct-a"))  # kept from the add
        u.positions.add(make_position("pos-a"))
        u.positions.add(make_position("pos-b", ticker="MSFT"))
        u.commit()
    uow.sync()
    with SqlUnitOfWork(engine, run_id="g") as fresh:
        assert repr(fresh.orders.get("ct-a")) == added
    with uow as u:  # read once (kept), then changed by this unit of work
        assert [o.client_order_id for o in u.orders.list(open_only=True)] == ["ct-a", "ct-b"]
        pos = u.positions.list_open()[0]
        pos.mark(Decimal("101.255"), ts(5))
        u.positions.save(pos)
        fill_order(order, make_fill("f-a", "ct-a", qty="10", minutes=5))  # filled: terminal
        u.orders.save(order)
        u.commit()
    with uow as u:  # a block that fails: its changes are not kept either
        p = u.positions.get("pos-b")
        assert p is not None
        p.mark(Decimal("50"), ts(6))
        u.positions.save(p)
        u.orders.save(other)  # (unchanged, but written)
        u.rollback()
    with uow as u:
        kept = (u.positions.list_open(), u.positions.open_for("MSFT"), u.positions.get("pos-a"),
                u.orders.list(open_only=True), u.orders.get("ct-a"), u.orders.get("ct-b"))
        u.commit()
    assert [p.position_id for p in kept[0]] == ["pos-a", "pos-b"]
    assert [o.client_order_id for o in kept[3]] == ["ct-b"]  # the filled one left them
    assert kept[0][0].last_price == Decimal("101.255") and kept[0][1].last_price != 50
    uow.sync()
    with SqlUnitOfWork(engine, run_id="g") as fresh:  # read from the store
        stored = (fresh.positions.list_open(), fresh.positions.open_for("MSFT"),
                  fresh.positions.get("pos-a"), fresh.orders.list(open_only=True),
                  fresh.orders.get("ct-a"), fresh.orders.get("ct-b"))
    # orders and positions compare by identity: their reprs show every field, value and type
    assert repr(kept) == repr(stored)


def test_group_commits_when_points_sent_after_a_rolled_back_block_then_kept(
        store: tuple[Engine, Reader]) -> None:
    engine, committed = store
    uow = SqlUnitOfWork(engine, run_id="g")
    uow.group_commits(10)
    with uow as u:  # a point whose writes are held
        u.state.set("point", "1")
        u.commit()
    with pytest.raises(RuntimeError), uow as u:  # a write (savepoint), then the point's
        u.orders.add(make_order("ct-undone-1"))  # writes sent: held again at the rollback
        assert u.reports.snapshots() == []
        raise RuntimeError("a step that fails")
    with pytest.raises(RuntimeError), uow as u:  # the point's writes sent before a write
        assert u.reports.snapshots() == []
        u.orders.add(make_order("ct-undone-2"))
        raise RuntimeError("a step that fails")
    with uow as u:
        assert u.state.get("point") == "1"
        assert u.orders.list() == []
    uow.sync()
    assert committed() == {"point": "1"}


def _statements(engine: Engine) -> list[str]:
    sent: list[str] = []

    def _seen(_c: object, _cur: object, stmt: str, *_a: object) -> None:
        sent.append(" ".join(stmt.split())[:60])

    event.listen(engine, "before_cursor_execute", _seen)
    return sent


def test_group_commits_when_rows_kept_across_durable_commits_then_reads_send_nothing(
        store: tuple[Engine, Reader]) -> None:
    engine, _ = store
    uow = SqlUnitOfWork(engine, run_id="g")
    uow.group_commits(2)
    first, second = make_order("ct-a"), make_order("ct-b", ticker="MSFT")
    with uow as u:  # read once (nothing stored yet), then added
        assert u.orders.get("ct-a") is None and not u.fills.exists("f-a")
        assert u.positions.list_open() == [] and u.orders.list(open_only=True) == []
        u.orders.add(first)
        u.orders.add(second)
        u.positions.add(make_position("pos-a"))
        u.commit()
    with uow as u:
        fill_order(first, make_fill("f-a", "ct-a", minutes=2))
        u.fills.add(make_fill("f-a", "ct-a", minutes=2))
        u.orders.save(first)
        u.commit()  # durable
    sent = _statements(engine)
    with uow as u:  # after the durable commit: answered from the rows kept
        seen = (u.orders.get("ct-a"), u.orders.get("ct-none"), u.orders.list(),
                u.orders.list(open_only=True), u.positions.list_open(),
                u.positions.open_for("AAPL"), u.positions.get("pos-a"),
                u.fills.exists("f-a"), u.fills.exists("f-b"))
        u.commit()
    assert sent == []
    assert seen[1] is None and [o.client_order_id for o in seen[3]] == ["ct-b"]
    assert seen[7] is True and seen[8] is False
    uow.sync()
    with SqlUnitOfWork(engine, run_id="g") as fresh:
        assert repr(seen[0]) == repr(fresh.orders.get("ct-a"))
        assert repr(seen[2]) == repr(fresh.orders.list())
        assert repr(seen[4]) == repr(fresh.positions.list_open())


def test_group_commits_when_updates_and_closes_are_held_then_the_store_ends_the_same(
        store: tuple[Engine, Reader]) -> None:
    engine, _ = store

    def work(uow: SqlUnitOfWork) -> list[str]:
        # the same writes, grouped or committed one by one (ids named after the run)
        r = uow.run
        seen = []
        a, b = make_order(f"ct-{r}-a"), make_order(f"ct-{r}-b", ticker="MSFT")
        with uow as u:
            u.orders.add(a)
            u.orders.add(b)
            u.positions.add(make_position(f"pos-{r}-a"))
            u.positions.add(make_position(f"pos-{r}-b", ticker="MSFT"))
            u.commit()
        with uow as u:  # updated in one point ...
            p = u.positions.get(f"pos-{r}-a")
            assert p is not None
            p.mark(Decimal("101"), ts(3))
            u.positions.save(p)
            fill_order(a, make_fill(f"f-{r}-a", f"ct-{r}-a", minutes=3))
            u.fills.add(make_fill(f"f-{r}-a", f"ct-{r}-a", minutes=3))
            u.orders.save(a)
            u.commit()
        with pytest.raises(RuntimeError), uow as u:  # ... a block that fails ...
            p = u.positions.get(f"pos-{r}-b")
            assert p is not None
            p.apply_fill(make_fill(f"f-{r}-x", "ct-x", ticker="MSFT", side="sell", price="99",
                                   minutes=4))
            u.positions.close(p, p.close(ts(4), ExitReason.STOP_LOSS))
            raise RuntimeError("a step that fails")
        with uow as u:  # ... and saved again, then closed, in the next ones
            seen.append(repr(u.positions.list_open()))
            p = u.positions.get(f"pos-{r}-a")
            assert p is not None
            p.mark(Decimal("102"), ts(5))
            u.positions.save(p)
            u.commit()
        with uow as u:
            p = u.positions.get(f"pos-{r}-a")
            assert p is not None
            p.apply_fill(make_fill(f"f-{r}-b", f"ct-{r}-b", side="sell", price="103",
                                   minutes=6))
            u.positions.close(p, p.close(ts(6), ExitReason.TAKE_PROFIT))
            b.apply(OrderStatusChanged(client_order_id=f"ct-{r}-b", ts_event=ts(6),
                                       status="canceled"))
            u.orders.save(b)
            seen.append(repr((u.positions.list_open(), u.orders.list(open_only=True))))
            u.commit()
        uow.sync()
        with SqlUnitOfWork(engine, run_id=r) as fresh:  # what the store holds
            seen.append(repr((fresh.orders.list(), fresh.positions.list_open(),
                              fresh.positions.list_closed(),
                              [fresh.fills.exists(f"f-{r}-{x}") for x in "abx"])))
        return [x.replace(f"-{r}-", "-") for x in seen]

    grouped = SqlUnitOfWork(engine, run_id="g")
    grouped.group_commits(3)
    assert work(grouped) == work(SqlUnitOfWork(engine, run_id="one"))


def test_group_commits_when_orders_added_at_one_time_then_kept_in_the_query_order(
        store: tuple[Engine, Reader]) -> None:
    engine, _ = store
    uow = SqlUnitOfWork(engine, run_id="g")
    uow.group_commits(4)
    ids = ["ct-m", "ct-b", "ct-z", "ct-a", "ct-k"]
    with uow as u:
        assert u.orders.list(open_only=True) == [] and u.orders.list() == []
        for i, cid in enumerate(ids):  # same time, ids out of order; then a later one
            u.orders.add(make_order(cid, minutes=0))
            u.positions.add(make_position(f"pos-{cid}", minutes=1))
            if i == 2:
                u.orders.add(make_order("ct-late", minutes=5))
        kept = repr((u.orders.list(open_only=True), u.orders.list(), u.positions.list_open()))
        u.commit()
    uow.sync()
    with SqlUnitOfWork(engine, run_id="g") as fresh:
        assert kept == repr((fresh.orders.list(open_only=True), fresh.orders.list(),
                             fresh.positions.list_open()))


def test_group_commits_when_another_process_writes_a_key_then_seen_after_the_durable_commit(
        store: tuple[Engine, Reader]) -> None:
    engine, _ = store
    uow = SqlUnitOfWork(engine, run_id="g")
    uow.group_commits(2)
    keys = ("risk:breaker", "risk:kill", "risk:flatten")
    for step in range(4):  # the keys read each step (once per durable commit from the store)
        with uow as u:
            got = [u.state.get(k) for k in keys]
            u.state.set("cursor", str(step))
            u.commit()
        if step == 1:  # another process kills the run (right after a durable commit)
            elsewhere = make_engine(engine.url.render_as_string(hide_password=False))
            with SqlUnitOfWork(elsewhere, run_id="g") as other:
                other.state.set("risk:kill", "by another process")
                other.commit()
            elsewhere.dispose()
        if step == 2:
            assert got == [None, "by another process", None]
    sent = _statements(engine)
    with uow as u:  # one statement reads the keys of the last transaction
        assert [u.state.get(k) for k in keys] == [None, "by another process", None]
        u.commit()
    reads = [s for s in sent if s.startswith("SELECT")]
    assert len(reads) == 1 and "FROM kv_state" in reads[0] and ".value" in reads[0]
    uow.sync()


def test_group_commits_when_snapshots_and_metrics_replaced_in_batches_then_one_row_a_key(
        store: tuple[Engine, Reader]) -> None:
    engine, _ = store

    def snap(minute: int, cash: int) -> PortfolioSnapshot:
        return PortfolioSnapshot(ts=ts(minute), cash=Decimal(cash), equity=Decimal(cash),
                                 long_market_value=Decimal(0), short_market_value=Decimal(0),
                                 open_positions=0, daily_pnl=Decimal(0),
                                 cumulative_pnl=Decimal(0))

    def rec(period: str, day: int, sharpe: float) -> PerformanceRecord:
        start = ts(0) + timedelta(days=day)
        return PerformanceRecord(period=period, period_start=start,
                                 period_end=start + timedelta(days=1),
                                 metrics={"sharpe": sharpe}, run_id="g")

    uow = SqlUnitOfWork(engine, run_id="g")
    with uow as u:  # stored first, one commit
        for m in range(4):
            u.reports.add_snapshot(snap(m, 1))
        for day in range(3):
            u.reports.save_metrics(rec("daily", day, 1.0))
        u.reports.save_metrics(rec("weekly", 0, 1.0))
        u.commit()
    uow.group_commits(10)
    for m in (1, 2, 4):  # replaced and added over several points
        with uow as u:
            u.reports.add_snapshot(snap(m, 2))
            u.commit()
    with uow as u:
        for day in (0, 2, 5):
            u.reports.save_metrics(rec("daily", day, 2.0))
        u.reports.save_metrics(rec("weekly", 0, 2.0))
        u.commit()
    uow.sync()
    with SqlUnitOfWork(engine, run_id="g") as fresh:
        assert [(s.ts, s.cash) for s in fresh.reports.snapshots()] == [
            (ts(0), 1), (ts(1), 2), (ts(2), 2), (ts(3), 1), (ts(4), 2)]
        got = sorted((r.period, r.period_start, r.metrics["sharpe"])
                     for r in fresh.reports.metrics())
    day = [ts(0) + timedelta(days=d) for d in range(6)]
    assert got == [("daily", day[0], 2.0), ("daily", day[1], 1.0), ("daily", day[2], 2.0),
                   ("daily", day[5], 2.0), ("weekly", day[0], 2.0)]
