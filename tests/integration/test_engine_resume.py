"""The engine on fakes: graceful stop and resume, kill flag, strategy sources."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from adapters.memory.broker import FakeBroker
from adapters.memory.feed import InMemoryPriceFeed
from adapters.memory.notifier import RecordingNotifier
from adapters.memory.uow import InMemoryUnitOfWork
from adapters.sources.market import restore_ledger
from application.engine import (
    BarReplay,
    Engine,
    EngineConfig,
    MarketStep,
    StrategySignalSource,
    WallClockDriver,
)
from application.executor import ExecutorConfig, OrderExecutor
from application.monitor import MonitorConfig, PositionMonitor
from application.risk import RiskService
from application.tracker import PortfolioTracker
from domain.clock import TestClock
from domain.market import Bar, MarketClock
from domain.risk.config import RiskConfig
from domain.signal import Signal

T0 = datetime(2024, 1, 1, 21, tzinfo=UTC)


def bars(n: int = 60) -> list[Bar]:
    out = []
    for i in range(n):
        p = 100 + 10 * ((i % 10) - 5) / 5  # a zig-zag that hits stops and targets
        for t in ("AAA", "BBB"):
            out.append(Bar(t, T0 + timedelta(days=i), p, p * 1.03, p * 0.97, p, 1e6))
    return out


def every_fifth(bar: Bar) -> Iterable[Signal]:
    day = (bar.ts - T0).days
    if day % 5 == 2:
        yield Signal(signal_id=f"{bar.ticker}-{day}", ticker=bar.ticker, action="buy",
                     confidence=0.9, ts=bar.ts, strategy="z")


class World:
    def __init__(self, uow: InMemoryUnitOfWork, kill: list[bool] | None = None) -> None:
        self.clock = TestClock(T0 - timedelta(days=1))
        self.broker = FakeBroker(Decimal(100_000), clock=self.clock)
        self.feed = InMemoryPriceFeed()
        self.uow = uow
        flag = kill if kill is not None else [False]
        self.risk = RiskService(uow, self.broker, RecordingNotifier(), self.clock,
                                RiskConfig(max_price_age_s=5 * 86400, max_consecutive_losses=50),
                                kill_flag=lambda: flag[0])
        self.executor = OrderExecutor(self.broker, self.feed, self.risk, ExecutorConfig())
        self.engine = Engine(uow, self.broker, self.feed, StrategySignalSource(every_fifth),
                             self.executor, PositionMonitor(self.executor, MonitorConfig(
                                 max_hold=timedelta(days=4))),
                             PortfolioTracker("r"), self.clock, EngineConfig(run_id="r"),
                             self.risk)

        def move(s: MarketStep) -> None:
            if s.ts > self.clock.now():
                self.clock.set(s.ts)
            for b in s.bars.values():
                self.broker.bar(b.ticker, b.open, b.high, b.low, b.close, ts=b.ts)
                self.feed.push(b)

        self.driver = BarReplay(bars(), [move], [move])


def outcome(uow: InMemoryUnitOfWork) -> tuple[object, ...]:
    with uow as u:
        return (
            [(o.client_order_id, o.status, o.filled_qty) for o in u.orders.list()],
            [(c.position_id, c.realized_pnl, c.exit_reason) for c in u.positions.list_closed()],
            [s.equity for s in u.reports.snapshots()],
        )


def test_engine_when_stopped_midway_and_restarted_then_same_result_as_one_run() -> None:
    ref = World(InMemoryUnitOfWork())
    res = ref.engine.run(ref.driver)
    assert res.status == "finished" and res.closed > 3
    uow = InMemoryUnitOfWork()
    first = World(uow)
    first.engine.on_step = lambda s: first.engine.request_stop() if (
        s.ts - T0).days == 23 else None
    assert first.engine.run(first.driver).status == "interrupted"
    second = World(uow)  # a new process: fresh broker, same database
    res2 = second.engine.run(second.driver,
                             on_resume=lambda u: restore_ledger(second.broker, u))
    assert res2.status == "finished" and res2.resumed_from is not None
    assert outcome(uow) == outcome(ref.uow)


def test_engine_when_kill_flag_set_then_halted_and_no_new_entries() -> None:
    flag = [False]
    w = World(InMemoryUnitOfWork(), kill=flag)
    w.engine.on_step = lambda s: flag.__setitem__(0, True) if (s.ts - T0).days == 10 else None
    w.engine.run(w.driver)
    with w.uow as u:
        late = [o for o in u.orders.list() if o.created_at > T0 + timedelta(days=11)
                and not o.request.reduce_only]
        events = u.journal.risk_events()
    assert late == []
    assert any(e.kind == "kill" for e in events)


class ClosedUntil(FakeBroker):
    """A fake whose market opens at ``opens``."""

    def __init__(self, opens: datetime, **kw: object) -> None:
        super().__init__(Decimal(100_000), **kw)  # type: ignore[arg-type]
        self.opens = opens

    def get_clock(self) -> MarketClock:
        now = self.clock.now()
        return MarketClock(timestamp=now, is_open=now >= self.opens, next_open=self.opens,
                           next_close=self.opens + timedelta(hours=6))


def test_wall_clock_driver_when_market_closed_then_waits_and_yields_new_bars_only() -> None:
    clock = TestClock(T0)
    broker = ClosedUntil(T0 + timedelta(minutes=5), clock=clock)
    feed = InMemoryPriceFeed()
    slept: list[float] = []
    minute = [0]

    def sleep(s: float) -> None:
        slept.append(s)
        clock.advance(timedelta(seconds=max(s, 1)))
        minute[0] += 1
        if minute[0] % 2 == 0:  # a new bar every other minute
            feed.push(Bar("AAA", clock.now(), 1, 1, 1, 1, 1))

    drv = WallClockDriver(feed, broker, clock, ["AAA"], interval=60, max_idle=120, sleep=sleep,
                          max_steps=4)
    steps = list(drv.steps(None))
    assert len(steps) == 4
    assert slept[0] == 120  # closed: slept towards the open, at most max_idle
    assert all(s.ts >= T0 + timedelta(minutes=5) for s in steps)
    seen = [b.ts for s in steps for b in s.bars.values()]
    assert len(seen) == len(set(seen))  # every bar once


class ProcessDied(BaseException):
    """Stands for SIGKILL: nothing after it runs, nothing uncommitted survives."""


def test_engine_when_process_dies_between_order_commit_and_step_end_then_resume_is_exact(
) -> None:
    ref = World(InMemoryUnitOfWork())
    ref.engine.run(ref.driver)
    for victim in (1, 2, 3, 5, 7):  # die inside the step that sends the N-th order
        uow = InMemoryUnitOfWork()
        first = World(uow)
        calls = [0]
        real_submit = first.broker.submit_order

        def dying_submit(request, real_submit=real_submit, calls=calls, victim=victim):  # type: ignore[no-untyped-def]
            calls[0] += 1
            report = real_submit(request)  # the exchange got it; our answer is lost
            if calls[0] == victim:
                raise ProcessDied
            return report

        first.broker.submit_order = dying_submit  # type: ignore[method-assign]
        first.engine.config = EngineConfig(run_id="r", handle_signals=False)
        try:
            first.engine.run(first.driver)
        except ProcessDied:
            pass
        else:  # pragma: no cover
            raise AssertionError("the run should have died")
        first.uow._tx = None  # the process is gone: its open transaction with it
        second = World(uow)
        res = second.engine.run(second.driver,
                                on_resume=lambda u, b=second.broker: restore_ledger(b, u))
        assert res.status == "finished"
        assert outcome(uow) == outcome(ref.uow), f"victim order {victim}"
        with uow as u:
            entries = [o.request.signal_id for o in u.orders.list() if not o.request.reduce_only]
        assert len(entries) == len(set(entries))
