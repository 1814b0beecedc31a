"""A crash day through the real engine: the bundled sample's 5 February 2018 sell-off.

The real pipeline (alert file -> router -> executor -> simulated exchange -> monitor -> risk ->
tracker, persisted in SQLite) replays the sample's eight large caps from October 2017, with
earnings-style alerts that keep asking to buy every ticker every day from 16 January 2018.

Configured, stated: the stops are widened to 6 ATR (target 12 ATR) and the time exit is off,
so that positions survive the crash bar and their protective exits fire after the trip (with
the default 2 ATR stops every position is stopped out on 5 February before the breaker runs).
On 16 January the eight entries are released in one step; MSFT is refused because, with the
AMZN and GOOG entries still working, its correlated cluster would reach 27.6 % of equity
against the 25 % cap (working entries count against every limit), so the book holds seven.
With the tickets' default daily-loss limit (3 %) this book does not trip on real data: it
loses 2.58 % on 5 February (99,263 -> 96,698; a warning at 80 % of the limit) and less than
2 % on 2 February. The test therefore uses a tighter limit,
``RiskConfig(max_daily_loss_pct=0.02)`` (and a consecutive-loss limit high enough that the
daily-loss breaker is the one that speaks): it trips on the close of 5 February, not on
2 February.

Within a step the breakers run before the step's signals are taken, so the alerts of
5 February already meet the tripped breaker. Asserted: the daily-loss breaker trips on the
close of 5 February and the audit trail (``risk_events``) records the trip with rule, value
and limit; from then on (5 and 6 February) every buy alert is refused (``trading_state``) and
no entry order reaches the orders table or the exchange, while the protective exits of the
positions held still go out (approved while HALTED on 6 February, filled at the next open);
after ``catalyst risk resume --approve --by alice`` (the CLI, same database) entries resume
on 7 February.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import cast

import pytest
from typer.testing import CliRunner

from adapters.data.sample import sample_paths
from adapters.memory.notifier import RecordingNotifier
from adapters.simulated import ExchangeConfig, SimulatedExchange
from adapters.sources.files import open_feed
from adapters.sources.market import load_daily_bars, replay_into
from adapters.sqlalchemy import make_engine, sql_uow_factory
from application.engine import Engine, EngineConfig, MarketStep
from application.executor import ExecutorConfig, OrderExecutor
from application.monitor import MonitorConfig, PositionMonitor
from application.ports import UnitOfWork
from application.risk import RiskService
from application.router import AlertSignalSource, RouterConfig, SignalRouter
from application.tracker import PortfolioTracker
from domain.clock import TestClock
from domain.events import OrderStatus, RiskState
from domain.risk.config import RiskConfig
from domain.risk.plan import PlanConfig
from entrypoints.cli.app import app as catalyst
from entrypoints.cli.container import reset_container

D = Decimal
CRASH = datetime(2018, 2, 5, 21, tzinfo=UTC)  # the session's close (16:00 New York)
AFTER = datetime(2018, 2, 6, 21, tzinfo=UTC)
LAST = datetime(2018, 2, 7, 21, tzinfo=UTC)


@pytest.fixture()
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CATALYST_KILL_FILE", str(tmp_path / "KILL"))
    monkeypatch.setenv("CATALYST_DATABASE_URL", f"sqlite:///{tmp_path / 'crash.db'}")
    monkeypatch.delenv("CATALYST_DISCORD_WEBHOOK_URL", raising=False)
    monkeypatch.delenv("CATALYST_SMTP_HOST", raising=False)
    reset_container()
    yield tmp_path
    reset_container()


def write_alerts(path: Path, sessions: list[datetime], tickers: list[str]) -> None:
    """A buy alert per ticker per session from 16 January, known before the close."""
    rows = []
    for ts in sessions:
        if ts < datetime(2018, 1, 16, tzinfo=UTC):
            continue
        for t in tickers:
            rows.append({"id": f"dip-{t}-{ts.date()}", "ticker": t, "score": 0.9,
                         "sentiment": 1.0, "catalyst_type": "earnings",
                         "known_at": (ts - timedelta(hours=6)).isoformat()})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.mark.slow
def test_crash_day_trips_daily_loss_engine_stops_entering_exits_work_resume_reenables(
        env: Path) -> None:
    bars = [b for b in load_daily_bars(sample_paths().prices)
            if b.ts >= datetime(2017, 10, 2, tzinfo=UTC)]
    tickers = sorted({b.ticker for b in bars})
    sessions = sorted({b.ts for b in bars})
    assert sessions[-1] == LAST and CRASH in sessions
    write_alerts(env / "alerts.jsonl", sessions, tickers)

    clock = TestClock(bars[0].ts)
    exchange = SimulatedExchange(ExchangeConfig(starting_cash=D(100_000)), clock)
    uow = cast(UnitOfWork, sql_uow_factory(make_engine(f"sqlite:///{env / 'crash.db'}"))())
    notes = RecordingNotifier()
    risk = RiskService(uow, exchange, notes, clock, RiskConfig(
        max_price_age_s=5 * 86_400, max_daily_loss_pct=D("0.02"), max_consecutive_losses=50))
    executor = OrderExecutor(exchange, exchange, risk, ExecutorConfig(
        plan=PlanConfig(stop_atr_multiple=D(6), target_atr_multiple=D(12))))
    monitor = PositionMonitor(executor, MonitorConfig(max_hold=None))
    source = AlertSignalSource(open_feed(str(env / "alerts.jsonl"), known_tickers=set(tickers)),
                               SignalRouter(RouterConfig(cooldown=timedelta(0))))
    engine = Engine(uow, exchange, exchange, source, executor, monitor,
                    PortfolioTracker("crash"), clock,
                    EngineConfig(run_id="crash", handle_signals=False), risk)

    states: dict[datetime, RiskState] = {}
    resumed: list[str] = []

    def after_step(step: MarketStep) -> None:
        states[step.ts] = risk.trading_state()
        if step.ts == AFTER:  # a person looks at it after a halted day, then approves
            r = CliRunner().invoke(catalyst, ["risk", "resume", "--approve", "--by", "alice",
                                              "--reason", "sell-off absorbed", "--json"])
            assert r.exit_code == 0, r.output
            resumed.append(r.stdout)

    engine.on_step = after_step
    result = engine.run(replay_into(bars, exchange, clock))
    assert result.status == "finished"

    # the breaker tripped on the crash day's close, not before
    assert all(s is RiskState.ACTIVE for ts, s in states.items() if ts < CRASH)
    assert states[CRASH] is RiskState.HALTED and states[AFTER] is RiskState.HALTED
    assert states[LAST] is RiskState.ACTIVE  # resumed between the two steps
    with uow as u:
        events = u.journal.risk_events()
        orders = u.orders.list()
        closed = u.positions.list_closed()
    trips = [e for e in events if e.kind == "trip"]
    assert [(e.rule, e.ts_event) for e in trips] == [("daily_loss", CRASH)]
    trip = trips[0]
    assert trip.state is RiskState.HALTED and trip.limit == "2.00%"
    assert trip.value == "2.58%"  # the engine's own book, from the day's starting equity
    assert "daily_loss" in trip.message and trip.value in trip.message \
        and trip.limit in trip.message
    assert any(n.severity.value == "critical" and "daily_loss" in n.title for n in notes.sent)

    # halted: every entry refused by the trading state, no entry order anywhere
    refused = [e for e in events if e.kind == "decision" and e.rule == "trading_state"]
    assert {e.ts_event for e in refused} == {CRASH, AFTER}
    assert all(e.data["purpose"] == "entry" and e.state is RiskState.HALTED for e in refused)
    assert len(refused) >= 4  # the tickers not held (the held ones are "already long")
    entries = [o for o in orders if not o.request.reduce_only]
    assert entries and not [o for o in entries if CRASH <= o.created_at <= AFTER]
    broker_ids = {r.client_order_id for r in exchange.list_orders("all")}
    assert broker_ids == {o.client_order_id for o in orders}  # the table is the broker's view

    # exits still work while halted: protective exits approved, sent and filled
    halted_exits = [e for e in events if e.kind == "decision" and e.ts_event == AFTER
                    and e.data["purpose"] == "protective" and e.data["verdict"] == "approved"]
    assert halted_exits and all(e.state is RiskState.HALTED for e in halted_exits)
    by_id = {o.client_order_id: o for o in orders}
    exits = [by_id[e.data["client_order_id"]] for e in halted_exits]
    assert all(o.request.reduce_only and o.created_at == AFTER for o in exits)
    assert all(o.status is OrderStatus.FILLED for o in exits)  # at 7 February's open
    closed_by = {c.position_id for c in closed if c.closed_at > AFTER}
    assert {o.request.position_id for o in exits} <= closed_by

    # resume needed a named approval, is in the audit trail, and entries came back
    out = json.loads(resumed[0])
    assert out["state"] == "active" and out["resumed_by"] == "alice"
    assert out["was_tripped_by"] == ["daily_loss"]
    resumes = [e for e in events if e.kind == "resume"]
    assert [e.actor for e in resumes] == ["alice"]
    assert [o for o in entries if o.created_at == LAST], "entries did not resume"
    assert risk.trading_state() is RiskState.ACTIVE
