"""The engine reconciles with the broker at start and periodically (fakes, no network).

A fill the broker has but whose event we lost is adopted (and the position gets its plan's
stop and target); an order we stored but never got to the broker is marked; a position the
broker holds that no order of ours explains halts trading through the risk state, after
which no entry order is sent. On a broker that agrees with us it changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from typer.testing import CliRunner

from adapters.memory.broker import FakeBroker
from adapters.memory.feed import InMemoryPriceFeed
from adapters.memory.notifier import RecordingNotifier
from adapters.memory.uow import InMemoryUnitOfWork
from application.engine import (
    BarReplay,
    Engine,
    EngineConfig,
    EngineResult,
    MarketStep,
    StrategySignalSource,
)
from application.executor import ExecutorConfig, OrderExecutor
from application.monitor import MonitorConfig, PositionMonitor
from application.reconcile import PeriodicReconciler, Reconciler, RepairKind
from application.risk import RiskService
from application.tracker import PortfolioTracker
from domain.clock import TestClock
from domain.commands import SubmitOrder
from domain.events import Fill, OrderEvent, OrderFilled, OrderStatus, RiskState
from domain.market import Bar
from domain.orders import Order
from domain.risk.config import RiskConfig
from domain.signal import Signal
from entrypoints.cli.app import app as catalyst
from tests.integration.test_engine_resume import World as ResumeWorld
from tests.integration.test_engine_resume import outcome

T0 = datetime(2024, 3, 1, 21, tzinfo=UTC)
D = Decimal


def flat_bars(n: int = 12, tickers: tuple[str, ...] = ("AAA",)) -> list[Bar]:
    out = []
    for i in range(n):
        for t in tickers:
            out.append(Bar(t, T0 + timedelta(days=i), 100, 101, 99, 100, 1e6))
    return out


def buy_every_day(bar: Bar) -> Iterable[Signal]:
    day = (bar.ts - T0).days
    yield Signal(signal_id=f"{bar.ticker}-{day}", ticker=bar.ticker, action="buy",
                 confidence=0.9, ts=bar.ts, strategy="r")


def buy_on_day_2(bar: Bar) -> Iterable[Signal]:
    if (bar.ts - T0).days == 2:
        yield from buy_every_day(bar)


class LossyBroker(FakeBroker):
    """Loses the fill events of entry orders (a stream gap): only the broker knows them."""

    lost: list[OrderEvent]

    def poll_events(self) -> list[OrderEvent]:
        evs = super().poll_events()
        self.lost = getattr(self, "lost", [])
        keep = []
        for e in evs:
            if isinstance(e, OrderFilled) and "entry" in e.client_order_id:
                self.lost.append(e)
            else:
                keep.append(e)
        return keep


class Rig:
    def __init__(self, broker_cls: type[FakeBroker] = FakeBroker, strategy=buy_on_day_2,  # type: ignore[no-untyped-def]
                 bars: list[Bar] | None = None, every: int = 1) -> None:
        self.clock = TestClock(T0 - timedelta(days=1))
        self.broker = broker_cls(D(100_000), clock=self.clock)
        self.feed = InMemoryPriceFeed()
        self.uow = InMemoryUnitOfWork()
        for i in range(30, 0, -1):  # history for the ATR plan
            self.feed.push(Bar("AAA", T0 - timedelta(days=i), 100, 101, 99, 100, 1e6))
        self.broker.set_price("AAA", D(100))
        self.risk = RiskService(self.uow, self.broker, RecordingNotifier(), self.clock,
                                RiskConfig(max_price_age_s=5 * 86400))
        self.executor = OrderExecutor(self.broker, self.feed, self.risk, ExecutorConfig())
        self.engine = Engine(
            self.uow, self.broker, self.feed, StrategySignalSource(strategy), self.executor,
            PositionMonitor(self.executor, MonitorConfig()), PortfolioTracker("rec"),
            self.clock, EngineConfig(run_id="rec", reconcile_every_steps=every,
                                     handle_signals=False),
            self.risk, reconciler=Reconciler(self.uow, self.broker, self.clock))

        def move(s: MarketStep) -> None:
            if s.ts > self.clock.now():
                self.clock.set(s.ts)
            for b in s.bars.values():
                self.broker.bar(b.ticker, b.open, b.high, b.low, b.close, ts=b.ts)
                self.feed.push(b)

        self.driver = BarReplay(bars or flat_bars(), [move], [move])

    def run(self) -> EngineResult:
        return self.engine.run(self.driver)

    def repairs(self, kind: str) -> list[object]:
        with self.uow as u:
            return [e for e in u.journal.risk_events()
                    if e.kind == "reconciliation" and e.rule == kind]


def test_engine_when_broker_filled_but_fill_event_lost_then_fill_adopted_and_position_armed(
) -> None:
    rig = Rig(LossyBroker)
    res = rig.run()
    assert res.status == "finished"
    lost = rig.broker.lost  # type: ignore[attr-defined]
    assert len(lost) == 1  # the entry's fill never reached us through events
    assert len(rig.repairs(RepairKind.ADOPTED_FILL)) == 1
    assert res.repairs >= 1 and res.reconciliations > 1
    with rig.uow as u:
        (order,) = [o for o in u.orders.list() if "entry" in o.client_order_id]
        (pos,) = u.positions.list_open()
        fills = u.fills.for_order(order.client_order_id)
    assert order.status is OrderStatus.FILLED and order.filled_qty == lost[0].fill.quantity
    assert [f.quantity for f in fills] == [lost[0].fill.quantity]
    assert pos.quantity == order.filled_qty and pos.ticker == "AAA"
    # the adopted position is protected like one the executor booked
    assert pos.stop_loss is not None and pos.stop_loss < pos.avg_entry_price
    assert pos.take_profit is not None and pos.take_profit > pos.avg_entry_price
    assert pos.signal_id == "AAA-2" and pos.metadata["adopted_by"] == "reconciliation"
    assert rig.risk.trading_state() is RiskState.ACTIVE  # explained: no halt
    broker_pos = {p.ticker: p.quantity for p in rig.broker.get_positions()}
    assert broker_pos == {"AAA": pos.quantity}


def test_engine_when_order_stored_but_never_reached_broker_then_marked_at_start_not_sent(
) -> None:
    rig = Rig(strategy=lambda bar: ())
    req = SubmitOrder(client_order_id="ct-orphan-entry-1", ticker="AAA", side="buy",
                      quantity=D(5))
    with rig.uow as u:  # persisted by a process that died before sending it
        u.orders.add(Order.create(req, T0 - timedelta(hours=3)))
        u.commit()
    res = rig.run()
    assert res.status == "finished"
    assert len(rig.repairs(RepairKind.MARKED_NEVER_SEEN)) == 1
    with rig.uow as u:
        order = u.orders.get("ct-orphan-entry-1")
    assert order is not None and order.status is OrderStatus.REJECTED
    assert rig.broker.get_order_by_client_id("ct-orphan-entry-1") is None  # never sent
    assert rig.broker.submit_calls == 0
    assert rig.risk.trading_state() is RiskState.ACTIVE


def test_engine_when_broker_holds_unexplained_position_then_halted_and_no_entries_sent() -> None:
    rig = Rig(strategy=buy_every_day)
    rig.broker.ledger.apply_fill(Fill(  # placed by hand, outside the bot
        fill_id="manual-1", client_order_id="by-hand", ticker="AAA", side="buy",
        quantity=D(7), price=D(100), ts_event=T0 - timedelta(days=2)))
    res = rig.run()
    assert res.status == "finished" and res.signals == 12
    mismatch = rig.repairs(RepairKind.POSITION_MISMATCH)
    assert mismatch and "AAA" in mismatch[0].message  # type: ignore[attr-defined]
    st = rig.risk.current()
    assert st.state is RiskState.HALTED and "reconciliation_drift" in st.tripped_rules
    with rig.uow as u:
        assert u.orders.list() == []  # every entry signal was refused
        rejected = [e for e in u.journal.risk_events()
                    if e.kind == "decision" and e.rule == "trading_state"]
    assert len(rejected) == 12
    assert rig.broker.submit_calls == 0


@pytest.mark.slow
def test_engine_when_broker_agrees_then_reconciling_every_step_changes_nothing() -> None:
    ref = ResumeWorld(InMemoryUnitOfWork())
    ref.engine.run(ref.driver)
    for rec in ("every-step", "periodic"):
        w = ResumeWorld(InMemoryUnitOfWork())
        reconciler = Reconciler(w.uow, w.broker, w.clock)
        w.engine.reconciler = reconciler if rec == "every-step" else PeriodicReconciler(
            reconciler, w.clock, timedelta(days=3))
        w.engine.config = EngineConfig(run_id="r", reconcile_every_steps=1)
        res = w.engine.run(w.driver)
        assert res.reconciliations >= (61 if rec == "every-step" else 20)
        assert res.repairs == 0 and res.reports == ()
        assert outcome(w.uow) == outcome(ref.uow), rec


def test_run_when_negative_reconcile_options_then_exit_2_naming_the_option() -> None:
    for args, text in ((["--reconcile-steps", "-1"], "--reconcile-steps -1"),
                       (["--reconcile-interval", "-5"], "--reconcile-interval -5")):
        r = CliRunner().invoke(catalyst, ["run", "--broker", "sim", *args])
        assert r.exit_code == 2, r.output
        assert text in r.output and "Traceback" not in r.output
