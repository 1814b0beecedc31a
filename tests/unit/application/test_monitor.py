"""Position monitor: each exit fires exactly once, closes with its reason, keeps MFE/MAE."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from application.monitor import MonitorConfig, PositionMonitor
from domain.risk.plan import PlanConfig
from domain.signal import Signal
from domain.values import ExitReason
from tests.unit.application.conftest import World


def open_long(w: World, price: float = 100.0) -> None:
    w.history("AAPL", price=price)
    sig = Signal(signal_id="s1", ticker="AAPL", action="buy", confidence=0.9,
                 ts=w.clock.now(), strategy="t")
    with w.uow as u:
        w.executor.execute(sig, u, w.clock.now())
        u.commit()
    w.bar("AAPL", price, price * 1.005, price * 0.995, price)
    step(w)


def step(w: World) -> list[object]:
    """One engine-like step over the last bar: events, then the monitor, then events."""
    bar = w.feed.latest_bar("AAPL")
    assert bar is not None
    with w.uow as u:
        w.executor.apply_events(w.broker.poll_events(), u, w.clock.now())
        fired = w.monitor.on_bars({"AAPL": bar}, u, w.clock.now())
        w.executor.apply_events(w.broker.poll_events(), u, w.clock.now())
        u.commit()
    return list(fired)


def test_monitor_when_low_breaks_stop_then_one_stop_loss_exit_and_close() -> None:
    w = World()
    open_long(w)
    with w.uow as u:
        (pos,) = u.positions.list_open()
    stop = float(pos.stop_loss or 0)
    w.bar("AAPL", 99.5, 100, stop - 1, stop - 0.5)
    assert len(step(w)) == 1
    w.bar("AAPL", stop - 2, stop - 1, stop - 3, stop - 2)  # exit fills at this open
    assert step(w) == []  # never fires twice
    with w.uow as u:
        (closed,) = u.positions.list_closed()
        exits = u._working().exit_events
    assert closed.exit_reason is ExitReason.STOP_LOSS
    assert [e.reason for e in exits] == [ExitReason.STOP_LOSS]
    assert closed.min_unrealized_pnl < 0  # MAE recorded while open
    assert closed.realized_pnl == (Decimal(repr(stop - 2)) - Decimal(100)) * closed.quantity


def test_monitor_when_high_reaches_target_then_take_profit() -> None:
    w = World()
    open_long(w)
    with w.uow as u:
        (pos,) = u.positions.list_open()
    tp = float(pos.take_profit or 0)
    w.bar("AAPL", 101, tp + 1, 100.5, tp)
    assert len(step(w)) == 1
    w.bar("AAPL", tp, tp + 1, tp - 1, tp)
    step(w)
    with w.uow as u:
        (closed,) = u.positions.list_closed()
    assert closed.exit_reason is ExitReason.TAKE_PROFIT
    assert closed.max_unrealized_pnl > 0  # MFE is the peak while open, not the P&L at close


def test_monitor_when_held_past_max_hold_then_time_exit() -> None:
    w = World()
    w.monitor = PositionMonitor(w.executor, MonitorConfig(max_hold=timedelta(days=3)))
    open_long(w)
    fired = []
    for _ in range(4):
        w.bar("AAPL", 100, 100.5, 99.5, 100)
        fired += step(w)
    assert len(fired) == 1
    with w.uow as u:
        (closed,) = u.positions.list_closed()
    assert closed.exit_reason is ExitReason.TIME_EXIT


def test_monitor_when_price_runs_up_then_trailing_stop_exits() -> None:
    w = World(plan=PlanConfig(target_atr_multiple=Decimal(20)))  # target out of reach
    open_long(w)
    price = 100.0
    for _ in range(4):  # +2 % a day: arms the trailing stop at +5 %
        price *= 1.02
        w.bar("AAPL", price, price * 1.001, price * 0.999, price)
        assert step(w) == []
    with w.uow as u:
        (pos,) = u.positions.list_open()
    assert pos.trailing_active and pos.trailing_stop is not None
    trail = float(pos.trailing_stop)
    w.bar("AAPL", price, price, trail - 0.5, trail - 0.2)
    assert len(step(w)) == 1
    w.bar("AAPL", trail - 0.3, trail, trail - 1, trail - 0.5)
    step(w)
    with w.uow as u:
        (closed,) = u.positions.list_closed()
    assert closed.exit_reason is ExitReason.TRAILING_STOP
