"""The read models over a run's books, on the in-memory unit of work."""

from __future__ import annotations

from decimal import Decimal

import pytest

from adapters.memory.signals import ListSignalSource
from application import views
from domain.events import RiskState
from tests.unit.application.test_engine import QUIET, World, buy, day, quiet


@pytest.fixture(scope="module")
def world() -> World:
    w = World(ListSignalSource([buy("AAA", day(1))]))
    w.run({"AAA": [QUIET, QUIET, (102.0, 103.0, 101.0, 102.5), QUIET, (99.0, 99.5, 98.0, 98.5)]})
    return w


def test_positions_and_orders_when_one_buy_filled_then_one_open_long_matching_its_order(
        world: World) -> None:
    (pos,) = views.positions(world.uow)
    (order,) = views.orders(world.uow)
    assert (pos.ticker, pos.side, order.ticker, order.side) == ("AAA", "long", "AAA", "buy")
    assert order.status == "filled" and order.filled_qty == pos.quantity > 0
    assert order.signal_id == f"s-AAA-{day(1):%m%d}" and order.created_at < pos.opened_at
    assert pos.unrealized_pnl == (pos.last_price - pos.avg_entry_price) * pos.quantity
    assert views.orders(world.uow, open_only=True) == []
    assert views.trades(world.uow) == []


def test_account_and_equity_curve_when_run_then_latest_snapshot_is_the_curve_end(
        world: World) -> None:
    acct = views.account(world.uow, "r1")
    curve = views.equity_curve(world.uow)
    assert acct is not None and acct.run_status == "finished" and acct.open_positions == 1
    assert curve and curve[-1].equity == acct.equity and curve[-1].ts == acct.as_of
    assert all(p.drawdown <= 0 for p in curve)
    peak = max(p.equity for p in curve)
    assert any(p.equity == peak and p.drawdown == 0 for p in curve)
    assert curve[-1].drawdown == curve[-1].equity / peak - 1


def test_runs_and_resolve_when_one_run_then_it_is_the_latest_and_unknown_names_refused(
        world: World) -> None:
    # the unit of work is opened for the engine's run, so the record and the books are one run
    (record,) = views.runs(world.uow)
    assert (record.run, record.kind, record.status, record.latest) == (
        "r1", "backtest", "finished", True)
    assert dict(record.params) == {"case": "unit"}
    assert (record.orders, record.open_positions, record.trades) == (1, 1, 0)
    assert record.equity == views.account(world.uow, "r1").equity  # type: ignore[union-attr]
    assert views.resolve_run(world.uow, None) == "r1" == views.resolve_run(world.uow, "r1")
    with pytest.raises(views.UnknownRun) as exc:
        views.resolve_run(world.uow, "nope")
    assert set(exc.value.known) == {"r1"} and "nope" in str(exc.value)


def test_risk_state_when_nothing_tripped_then_active(world: World) -> None:
    assert views.risk_state(world.uow).state is RiskState.ACTIVE


def test_performance_when_bad_period_then_error_names_it(world: World) -> None:
    with pytest.raises(ValueError, match="'hourly'"):
        views.performance(world.uow, "r1", "hourly")
    (all_time,) = views.performance(world.uow, "r1", "all")
    assert Decimal(str(all_time.metrics["end_equity"])).quantize(Decimal(1)) == \
        views.equity_curve(world.uow)[-1].equity.quantize(Decimal(1))


def test_account_when_no_snapshot_then_none() -> None:
    w = World(ListSignalSource([]))
    assert views.account(w.uow, "r1") is None and views.equity_curve(w.uow) == []
    assert quiet(0) == []
