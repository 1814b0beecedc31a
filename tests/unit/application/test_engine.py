"""The engine on fakes: steps, signal routing, exits, resume from the cursor, halts, and what
each step persists. Only the engine's public behaviour is asserted (results, what the unit of
work holds, what the broker and the notifier saw), so internal changes do not break these.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from adapters.memory.broker import FakeBroker
from adapters.memory.feed import InMemoryPriceFeed
from adapters.memory.notifier import RecordingNotifier
from adapters.memory.signals import ListSignalSource
from adapters.memory.uow import InMemoryUnitOfWork
from application.engine import Engine, EngineConfig, EngineResult, MarketStep, StrategySignalSource
from application.executor import ExecutorConfig, OrderExecutor
from application.monitor import MonitorConfig, PositionMonitor
from application.ports import SignalSource
from application.risk import RiskService
from application.router import AlertSignalSource, RouterConfig, SignalRouter
from application.tracker import PortfolioTracker
from domain.account import Account
from domain.alerts import Alert, CatalystType
from domain.audit import Severity
from domain.clock import TestClock
from domain.errors import BrokerUnavailable
from domain.events import OrderStatus
from domain.market import Bar
from domain.risk.config import RiskConfig
from domain.signal import Signal
from domain.values import ExitReason, Side

T0 = datetime(2024, 3, 1, 21, tzinfo=UTC)
DAY = timedelta(days=1)
QUIET = (100.0, 101.0, 99.0, 100.0)


def day(i: int) -> datetime:
    return T0 + i * DAY


def buy(ticker: str, at: datetime, sid: str | None = None, **kw: object) -> Signal:
    return Signal(signal_id=sid or f"s-{ticker}-{at:%m%d}", ticker=ticker, action="buy",
                  confidence=0.9, ts=at, strategy="t", **kw)  # type: ignore[arg-type]


class Market:
    """A scripted :class:`MarketDriver`: OHLC per ticker per step; records what was primed."""

    def __init__(self, world: World, path: dict[str, list[tuple[float, float, float, float]]]
                 ) -> None:
        self.world = world
        self.path = path
        self.n = max(len(p) for p in path.values())
        self.primed: list[datetime | None] = []

    def _bars(self, i: int) -> dict[str, Bar]:
        return {t: Bar(t, day(i), *p[i], 1_000_000) for t, p in sorted(self.path.items())
                if i < len(p)}

    def prime(self, until: datetime | None) -> None:
        self.primed.append(until)
        for i in range(self.n):
            if until is None or day(i) > until:
                break
            for b in self._bars(i).values():
                self.world.feed.push(b)

    def steps(self, after: datetime | None) -> Iterator[MarketStep]:
        for i in range(self.n):
            if after is not None and day(i) <= after:
                continue
            bars = self._bars(i)
            self.world.clock.set(day(i))
            for b in bars.values():
                self.world.broker.bar(b.ticker, b.open, b.high, b.low, b.close, ts=b.ts)
                self.world.feed.push(b)
            yield MarketStep(day(i), bars)


class World:
    """Fakes around one engine; ``uow`` and ``broker`` may be shared with an earlier process."""

    def __init__(self, source: SignalSource, *, uow: InMemoryUnitOfWork | None = None,
                 broker: FakeBroker | None = None, kill_flag: Callable[[], bool] | None = None,
                 max_hold: timedelta | None = None, run_id: str = "r1") -> None:
        self.clock = TestClock(T0 - DAY)
        self.broker = broker or FakeBroker(Decimal(100_000), clock=self.clock)
        self.broker.clock = self.clock
        self.feed = InMemoryPriceFeed()
        self.uow = uow or InMemoryUnitOfWork(run_id)  # a unit of work is opened for one run
        self.notifier = RecordingNotifier()
        self.risk = RiskService(self.uow, self.broker, self.notifier, self.clock,
                                RiskConfig(max_price_age_s=5 * 86400), kill_flag=kill_flag)
        self.executor = OrderExecutor(self.broker, self.feed, self.risk, ExecutorConfig())
        self.monitor = PositionMonitor(self.executor, MonitorConfig(max_hold=max_hold))
        self.engine = Engine(self.uow, self.broker, self.feed, source, self.executor,
                             self.monitor, PortfolioTracker(run_id), self.clock,
                             EngineConfig(run_id=run_id, handle_signals=False,
                                          params={"case": "unit"}), self.risk)

    def run(self, path: dict[str, list[tuple[float, float, float, float]]],
            on_step: Callable[[MarketStep], None] | None = None) -> tuple[EngineResult, Market]:
        market = Market(self, path)
        self.engine.on_step = on_step
        return self.engine.run(market), market

    def orders(self) -> list[tuple[str, Side, OrderStatus, datetime]]:
        with self.uow as u:
            return [(o.request.ticker, o.request.side, o.status, o.created_at)
                    for o in u.orders.list()]


def quiet(n: int) -> list[tuple[float, float, float, float]]:
    return [QUIET] * n


# --- steps ------------------------------------------------------------------------------------


def test_run_when_signal_known_then_order_sent_that_step_filled_next_open_and_held() -> None:
    w = World(ListSignalSource([buy("AAA", day(1))]))
    res, _ = w.run({"AAA": [QUIET, QUIET, (102.0, 103.0, 101.0, 102.5), QUIET]})
    assert (res.status, res.steps, res.signals, res.orders, res.closed) == (
        "finished", 4, 1, 1, 0)
    assert [r.status for r in res.results] == ["submitted"]
    ((ticker, side, status, created),) = w.orders()
    assert (ticker, side, status, created) == ("AAA", Side.BUY, OrderStatus.FILLED, day(1))
    with w.uow as u:
        (pos,) = u.positions.list_open()
    assert pos.ticker == "AAA" and pos.avg_entry_price == Decimal("102")
    assert pos.quantity > 0 and pos.stop_loss is not None and pos.take_profit is not None


def test_run_when_signal_known_between_steps_then_taken_at_the_first_step_after() -> None:
    w = World(ListSignalSource([buy("AAA", day(1) + timedelta(hours=5))]))
    res, _ = w.run({"AAA": quiet(4)})
    assert res.signals == 1
    ((_, _, _, created),) = w.orders()
    assert created == day(2)


def test_run_when_strategy_source_then_it_sees_each_step_before_it_is_polled() -> None:
    seen: list[datetime] = []

    def strategy(bar: Bar) -> Iterable[Signal]:
        seen.append(bar.ts)
        return [buy(bar.ticker, bar.ts)] if bar.ts == day(2) else []

    w = World(StrategySignalSource(strategy))
    res, _ = w.run({"AAA": quiet(4)})
    assert seen == [day(i) for i in range(4)]
    assert res.signals == 1
    ((_, _, _, created),) = w.orders()
    assert created == day(2)  # a signal from a step's bar is executed in that step


def test_run_when_signal_below_threshold_or_for_unknown_ticker_then_no_order() -> None:
    low = Signal(signal_id="low", ticker="AAA", action="buy", confidence=0.5, ts=day(1),
                 strategy="t")
    w = World(ListSignalSource([low, buy("ZZZ", day(1))]))
    res, _ = w.run({"AAA": quiet(3)})
    assert sorted(r.status for r in res.results) == ["failed", "skipped"]
    assert w.orders() == []


# --- what a step persists ---------------------------------------------------------------------


def test_run_when_finished_then_cursor_run_record_snapshots_and_metrics_are_stored() -> None:
    w = World(ListSignalSource([buy("AAA", day(1))]))
    res, _ = w.run({"AAA": quiet(5)})
    assert w.engine.cursor() == day(4)
    with w.uow as u:
        run = u.runs.get("r1")
        snaps = u.reports.snapshots()
        metrics = u.reports.metrics()
        executions = u.journal.executions()
    assert run is not None and (run.kind, run.status) == ("backtest", "finished")
    assert dict(run.params) == {"case": "unit"} and run.finished_at is not None
    assert len(snaps) == res.steps  # one per trading day
    assert all(s.run_id == "r1" for s in snaps)
    assert snaps[0].equity == Decimal(100_000)
    assert snaps[-1].open_positions == 1
    assert {m.period for m in metrics} == {"daily", "weekly", "monthly", "all"}
    assert [e.stage for e in executions if e.success] == ["persist", "submit", "fill"]


def test_step_when_source_fails_then_that_step_is_rolled_back_and_the_cursor_kept() -> None:
    class Failing:
        def __init__(self) -> None:
            self.calls = 0

        def poll(self, now: datetime) -> Sequence[Signal]:
            self.calls += 1
            if now == day(2):
                raise RuntimeError("source broke")
            return [buy("AAA", now, sid=f"s{self.calls}")] if now == day(1) else []

    w = World(Failing())
    with pytest.raises(RuntimeError, match="source broke"):
        w.run({"AAA": quiet(4)})
    assert w.engine.cursor() == day(1)
    with w.uow as u:
        assert len(u.reports.snapshots()) == 2
        assert [o.created_at for o in u.orders.list()] == [day(1)]
        # the order sent on day 1 filled at day 2's open at the broker, but day 2's booking
        # was rolled back with the rest of the step: the position waits for the next step
        assert u.positions.list_open() == []
    assert w.broker.get_positions()[0].ticker == "AAA"


def test_step_when_account_unavailable_then_step_commits_without_a_snapshot() -> None:
    class Flaky(FakeBroker):
        down = False

        def get_account(self) -> Account:
            if self.down:
                raise BrokerUnavailable("account endpoint down")
            return super().get_account()

    clock = TestClock(T0)
    broker = Flaky(Decimal(100_000), clock=clock)
    w = World(ListSignalSource([]), broker=broker)

    def toggle(s: MarketStep) -> None:
        broker.down = s.ts == day(0)  # down during step 1

    res, _ = w.run({"AAA": quiet(3)}, on_step=toggle)
    assert (res.status, res.steps) == ("finished", 3)
    assert w.engine.cursor() == day(2)
    with w.uow as u:
        days = [s.ts.date() for s in u.reports.snapshots()]
    assert len(days) == 2 and day(1).date() not in days


# --- signal routing ---------------------------------------------------------------------------


class ListAlertFeed:
    """An alert feed over a list, released by ``known_at``; its position is how many it
    released (the ids released so far are kept for the assertions)."""

    def __init__(self, alerts: Iterable[Alert]) -> None:
        self.alerts = sorted(alerts, key=lambda a: a.known_at)
        self.n = 0
        self.loaded: list[str | None] = []

    def poll(self, now: datetime) -> Sequence[Alert]:
        start = self.n
        while self.n < len(self.alerts) and self.alerts[self.n].known_at <= now:
            self.n += 1
        return self.alerts[start:self.n]

    def dump_state(self) -> str:
        return json.dumps([a.id for a in self.alerts[:self.n]])

    def load_state(self, raw: str | None) -> None:
        self.loaded.append(raw)
        self.n = len(json.loads(raw)) if raw else 0


def alert(aid: str, ticker: str, at: datetime, score: float, sentiment: float) -> Alert:
    return Alert(id=aid, ticker=ticker, known_at=at, catalyst_type=CatalystType.EARNINGS,
                 score=score, sentiment=sentiment, headline=aid)


def routed(feed: ListAlertFeed) -> AlertSignalSource:
    return AlertSignalSource(feed, SignalRouter(RouterConfig(cooldown=timedelta(0))))


def test_run_when_alerts_then_router_decides_and_only_strong_alerts_trade() -> None:
    feed = ListAlertFeed([
        alert("beat", "AAA", day(1), 0.9, 1.0),   # confidence 0.95: buy
        alert("weak", "BBB", day(1), 0.1, 1.0),   # confidence 0.55: below 0.70
        alert("miss", "CCC", day(2), 0.8, -1.0),  # sell short
        alert("beat", "AAA", day(3), 0.9, 1.0),   # the same id again: suppressed
    ])
    source = routed(feed)
    w = World(source)
    res, _ = w.run({t: quiet(5) for t in ("AAA", "BBB", "CCC")})
    assert res.signals == 2
    assert [(t, s) for t, s, _, _ in w.orders()] == [("AAA", Side.BUY), ("CCC", Side.SELL)]
    assert source.counts == {"signal": 2, "below_threshold": 1, "duplicate": 1}
    with w.uow as u:
        stored = json.loads(u.state.get(w.engine.source_key) or "{}")
    assert json.loads(stored["feed"]) == ["beat", "weak", "miss", "beat"]
    assert sorted(stored["router"]["seen"]) == ["beat", "miss", "weak"]


# --- exits ------------------------------------------------------------------------------------


def test_run_when_stop_loss_hit_then_closing_order_sent_and_position_closed() -> None:
    w = World(ListSignalSource([buy("AAA", day(1), stop_loss=Decimal(95),
                                    take_profit=Decimal(110))]))
    path = [QUIET, QUIET, QUIET, (97.0, 97.5, 90.0, 91.0), (92.0, 93.0, 91.0, 92.0), QUIET]
    res, _ = w.run({"AAA": path})
    assert res.closed == 1
    with w.uow as u:
        (closed,) = u.positions.list_closed()
        assert u.positions.list_open() == []
    assert closed.exit_reason is ExitReason.STOP_LOSS
    assert closed.realized_pnl < 0
    sides = [(s, st) for _, s, st, _ in w.orders()]
    assert sides == [(Side.BUY, OrderStatus.FILLED), (Side.SELL, OrderStatus.FILLED)]
    assert w.broker.get_positions() == []


def test_run_when_held_past_max_hold_then_time_exit() -> None:
    w = World(ListSignalSource([buy("AAA", day(1))]), max_hold=timedelta(days=2))
    res, _ = w.run({"AAA": quiet(7)})
    assert res.closed == 1
    with w.uow as u:
        (closed,) = u.positions.list_closed()
    assert closed.exit_reason is ExitReason.TIME_EXIT
    assert closed.closed_at == day(5)  # entry filled day 2, exit fired day 4, filled day 5


# --- stop and resume --------------------------------------------------------------------------


def test_run_when_stop_requested_then_step_finishes_commits_and_run_is_interrupted() -> None:
    w = World(ListSignalSource([buy("AAA", day(1)), buy("BBB", day(4))]))
    res, _ = w.run({"AAA": quiet(6), "BBB": quiet(6)},
                   on_step=lambda s: w.engine.request_stop() if s.ts == day(2) else None)
    assert (res.status, res.steps, res.signals) == ("interrupted", 3, 1)
    assert w.engine.stopping and w.engine.cursor() == day(2)
    with w.uow as u:
        run = u.runs.get("r1")
    assert run is not None and run.status == "interrupted"


def test_run_when_stop_requested_before_start_then_no_step_runs() -> None:
    w = World(ListSignalSource([buy("AAA", day(0))]))
    w.engine.request_stop()
    res, _ = w.run({"AAA": quiet(3)})
    assert (res.status, res.steps, res.orders) == ("interrupted", 0, 0)
    assert w.engine.cursor() is None


def test_run_when_restarted_with_same_run_id_then_resumes_after_cursor_and_trades_nothing_twice(
) -> None:
    signals = [buy("AAA", day(1)), buy("BBB", day(4))]
    path = {"AAA": quiet(7), "BBB": quiet(7)}
    first = World(ListSignalSource(signals))
    first.run(path, on_step=lambda s: first.engine.request_stop() if s.ts == day(2) else None)
    # a new process: same database and same (external) broker, fresh everything else
    second = World(ListSignalSource(signals), uow=first.uow, broker=first.broker)
    res, market = second.run(path)
    assert res.status == "finished" and res.resumed_from == day(2)
    assert market.primed == [day(2)]  # history up to the cursor went to the feed only
    assert res.steps == 4  # days 3..6
    assert {r.signal_id: r.status for r in res.results} == {
        "s-AAA-0302": "exists", "s-BBB-0305": "submitted"}
    assert [t for t, _, _, _ in second.orders()] == ["AAA", "BBB"]
    with second.uow as u:
        assert sorted(p.ticker for p in u.positions.list_open()) == ["AAA", "BBB"]
        assert len(u.reports.snapshots()) == 7  # no day stored twice
    assert second.engine.cursor() == day(6)


def test_run_when_restarted_then_stateful_source_continues_from_its_stored_position() -> None:
    alerts = [alert("a1", "AAA", day(1), 0.9, 1.0), alert("a2", "BBB", day(4), 0.9, 1.0)]
    path = {"AAA": quiet(6), "BBB": quiet(6)}
    feed1 = ListAlertFeed(alerts)
    first = World(routed(feed1))
    first.run(path, on_step=lambda s: first.engine.request_stop() if s.ts == day(2) else None)
    feed2 = ListAlertFeed(alerts)
    second = World(routed(feed2), uow=first.uow, broker=first.broker)
    res, _ = second.run(path)
    assert feed2.loaded and feed2.loaded[0] is not None
    assert [r.signal_id for r in res.results] == ["sig-a2"]  # a1 was never released again
    assert [t for t, _, _, _ in second.orders()] == ["AAA", "BBB"]


# --- halts ------------------------------------------------------------------------------------


def test_run_when_killed_then_new_entries_rejected_exits_still_fire_and_people_are_told() -> None:
    w = World(ListSignalSource([
        buy("AAA", day(1), stop_loss=Decimal(95), take_profit=Decimal(110)),
        buy("BBB", day(3)),
    ]))

    def kill_on_day_2(s: MarketStep) -> None:
        if s.ts == day(2):
            w.risk.kill("ops", "drill", ts=s.ts)

    path = {"AAA": [QUIET, QUIET, QUIET, QUIET, (97.0, 97.5, 90.0, 91.0), QUIET, QUIET],
            "BBB": quiet(7)}
    res, _ = w.run(path, on_step=kill_on_day_2)
    statuses = {r.signal_id: r.status for r in res.results}
    assert statuses["s-BBB-0304"] == "rejected"
    assert "BBB" not in {t for t, _, _, _ in w.orders()}
    assert res.closed == 1  # the protective stop still closed AAA while halted
    assert w.risk.current().killed
    crit = [n for n in w.notifier.sent if n.severity is Severity.CRITICAL]
    assert crit and "KILL" in crit[0].title
    with w.uow as u:
        assert [e.kind for e in u.journal.risk_events()].count("kill") == 1


def test_run_when_kill_flag_appears_then_engine_halts_at_its_next_step() -> None:
    flag = [False]
    w = World(ListSignalSource([buy("AAA", day(3))]), kill_flag=lambda: flag[0])
    res, _ = w.run({"AAA": quiet(5)},
                   on_step=lambda s: flag.__setitem__(0, True) if s.ts == day(1) else None)
    assert w.risk.current().killed
    assert [r.status for r in res.results] == ["rejected"]
    assert w.orders() == []
    with w.uow as u:
        kills = [e for e in u.journal.risk_events() if e.kind == "kill"]
    assert len(kills) == 1 and kills[0].ts_event == day(2)


def test_run_when_the_days_loss_breaches_the_limit_then_breaker_trips_and_entries_stop() -> None:
    w = World(ListSignalSource([buy("AAA", day(1), stop_loss=Decimal(80),
                                    take_profit=Decimal(130)), buy("BBB", day(4))]))
    crash = (64.0, 66.0, 63.0, 65.0)  # AAA gaps down 35 %: a 10 % position loses 3.5 %
    res, _ = w.run({"AAA": [QUIET, QUIET, QUIET, crash, crash, crash], "BBB": quiet(6)})
    assert w.risk.current().state.value != "active"
    with w.uow as u:
        trips = [e for e in u.journal.risk_events() if e.rule == "daily_loss"
                 and e.kind != "decision"]
    assert trips and trips[0].ts_event == day(3)
    bbb = next(r for r in res.results if r.signal_id == "s-BBB-0305")
    assert (bbb.status, bbb.reason) == ("rejected", "trading_state")
    assert "BBB" not in {t for t, _, _, _ in w.orders()}
    assert any("daily_loss" in (n.title + n.body) for n in w.notifier.sent)
