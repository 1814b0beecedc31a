"""The risk use case over the in-memory fakes: persistence, kill switch, resume, notifications."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from adapters.memory.broker import FakeBroker
from adapters.memory.notifier import RecordingNotifier
from adapters.memory.uow import InMemoryUnitOfWork
from application.risk import BREAKER_KEY, STATE_KEY, RiskService
from domain.audit import Severity
from domain.clock import TestClock
from domain.commands import SubmitOrder
from domain.events import RiskState
from domain.risk import MarketView, OrderIntent, Quote, ResumeRefused

D = Decimal
T0 = datetime(2024, 1, 2, 15, tzinfo=UTC)


class Flag:
    def __init__(self) -> None:
        self.on = False

    def __call__(self) -> bool:
        return self.on


def _setup(notifier: RecordingNotifier | None = None, flag: Flag | None = None,
           uow: InMemoryUnitOfWork | None = None, flattens: bool = False,
           ) -> tuple[RiskService, FakeBroker, InMemoryUnitOfWork, RecordingNotifier, TestClock]:
    clock = TestClock(T0)
    broker = FakeBroker(D(100_000), clock=clock)
    u = uow or InMemoryUnitOfWork()
    n = notifier or RecordingNotifier()
    svc = RiskService(u, broker, n, clock, kill_flag=flag, kill_flag_flattens=flattens)
    return svc, broker, u, n, clock


def _mv(ts: datetime, price: str = "100") -> MarketView:
    return MarketView(now=ts, quotes={"AAPL": Quote(price=D(price), ts=ts)})


def _buy(qty: int = 50) -> OrderIntent:
    return OrderIntent(ticker="AAPL", side="buy", quantity=qty, price=D(100), stop_loss=D(95),
                       client_order_id=f"c-{qty}")


def test_decisions_are_journaled_and_rejections_announced() -> None:
    svc, broker, uow, n, _ = _setup()
    acct = broker.get_account()
    assert svc.check_order(_buy(), acct, [], _mv(T0)).approved
    d = svc.check_order(_buy(500), acct, [], _mv(T0))
    assert not d.approved
    with uow:
        evs = uow.journal.risk_events()
    assert [e.kind for e in evs] == ["decision", "decision"]
    assert evs[1].rule == "max_position_pct" and evs[1].data["verdict"] == "rejected"
    assert len(n.sent) == 1 and n.sent[0].severity is Severity.WARNING
    assert "max_position_pct" in n.sent[0].body


def test_state_survives_a_restart() -> None:
    svc, broker, uow, _, _ = _setup()
    svc.step(broker.get_account(), _mv(T0))
    acct = broker.get_account()
    down = type(acct)(cash=D(95_000), equity=D(95_000), buying_power=D(95_000))
    rep = svc.step(down, _mv(T0 + timedelta(minutes=5)))
    assert rep.trading_state is RiskState.HALTED
    # a new process: new service, same store
    svc2, *_ = _setup(uow=uow)
    assert svc2.trading_state() is RiskState.HALTED
    st = svc2.current()
    assert st.peak_equity == D(100_000) and st.day_start_equity == D(100_000)
    with uow:
        assert uow.state.get(STATE_KEY) == "halted" and uow.state.get(BREAKER_KEY)
    d = svc2.check_order(_buy(), down, [], _mv(T0 + timedelta(minutes=6)))
    assert not d.approved and d.rule == "trading_state"


def test_kill_cancels_open_orders_flattens_and_halts() -> None:
    svc, broker, uow, n, clock = _setup()
    broker.set_price("AAPL", D(100))
    broker.submit_order(SubmitOrder(client_order_id="e1", ticker="AAPL", side="buy",
                                    quantity=10))
    broker.bar("AAPL", 100, 101, 99, 100)  # fills e1
    broker.submit_order(SubmitOrder(client_order_id="l1", ticker="AAPL", side="buy",
                                    quantity=5, order_type="limit", limit_price=D(90)))
    rep = svc.kill("ops", "drill", flatten=True)
    assert rep.state is RiskState.HALTED
    assert rep.canceled == ("l1",) and not rep.cancel_failures
    assert len(rep.flatten_orders) == 1
    broker.bar("AAPL", 100, 101, 99, 100)
    assert broker.get_positions() == []
    assert svc.trading_state() is RiskState.HALTED
    assert n.sent[-1].severity is Severity.CRITICAL
    with uow:
        kill = [e for e in uow.journal.risk_events() if e.kind == "kill"][0]
    assert kill.actor == "ops" and kill.data["canceled"] == ["l1"]


def test_kill_flag_halts_within_the_step_and_blocks_resume() -> None:
    flag = Flag()
    svc, broker, _, _, _ = _setup(flag=flag)
    broker.set_price("AAPL", D(100))
    broker.submit_order(SubmitOrder(client_order_id="l1", ticker="AAPL", side="buy",
                                    quantity=5, order_type="limit", limit_price=D(90)))
    acct = broker.get_account()
    assert svc.step(acct, _mv(T0)).kill is None
    flag.on = True
    rep = svc.step(acct, _mv(T0 + timedelta(minutes=1)))
    assert rep.kill is not None and rep.trading_state is RiskState.HALTED
    assert broker.list_orders("open") == []
    assert svc.step(acct, _mv(T0 + timedelta(minutes=2))).kill is None  # not killed twice
    assert not svc.check_order(_buy(), acct, [], _mv(T0 + timedelta(minutes=2))).approved
    with pytest.raises(ResumeRefused, match="kill flag"):
        svc.resume("alice", "done", approve=True)
    flag.on = False
    assert svc.resume("alice", "done", approve=True).state is RiskState.ACTIVE


@pytest.mark.parametrize(("by", "approve"), [("alice", False), ("", True), ("  ", True)])
def test_resume_needs_approval_and_a_name(by: str, approve: bool) -> None:
    svc, *_ = _setup()
    svc.kill("ops", "drill")
    with pytest.raises(ResumeRefused):
        svc.resume(by, "why", approve=approve)
    assert svc.trading_state() is RiskState.HALTED


def test_resume_is_recorded_with_who_and_why() -> None:
    svc, _, uow, n, _ = _setup()
    svc.kill("ops", "drill")
    svc.resume("alice", "post-mortem done", approve=True)
    with uow:
        ev = uow.journal.risk_events()[-1]
    assert (ev.kind, ev.actor, ev.data["reason"]) == ("resume", "alice", "post-mortem done")
    assert n.sent[-1].title.startswith("Trading resumed by alice")


def test_a_failing_notifier_never_blocks_trading() -> None:
    svc, broker, _, n, _ = _setup(notifier=RecordingNotifier(fail=True))
    acct = broker.get_account()
    rep = svc.kill("ops", "drill")  # critical notification fails silently
    assert rep.state is RiskState.HALTED
    assert not svc.check_order(_buy(), acct, [], _mv(T0)).approved


def test_consecutive_losses_and_broker_errors_feed_the_breakers() -> None:
    from tests.unit.domain.risk.test_sizing import _closed

    svc, *_ = _setup()
    for i in range(5):
        rep = svc.record_trade(_closed(i, "-10", "s"))
    assert rep.trading_state is RiskState.REDUCING
    for i in range(4):
        rep = svc.record_broker_call(False, T0 + timedelta(seconds=i))
    assert rep.trading_state is RiskState.HALTED
    assert svc.current().tripped_rules == ("broker_error_rate", "consecutive_losses")


def test_stale_prices_of_held_tickers_trip_in_step() -> None:
    from domain.risk import Holding

    svc, broker, *_ = _setup()
    mv = MarketView(now=T0, quotes={"AAPL": Quote(price=D(100), ts=T0 - timedelta(hours=1))})
    rep = svc.step(broker.get_account(), mv, [Holding("AAPL", D(10), D(100))])
    assert rep.trading_state is RiskState.REDUCING


def test_callers_transaction_is_used_without_committing() -> None:
    svc, broker, uow, _, _ = _setup()
    with uow:
        svc.check_order(_buy(), broker.get_account(), [], _mv(T0), uow=uow)
        uow.rollback()  # the caller decides
    with uow:
        assert uow.journal.risk_events() == []


def test_status_lists_every_limit_with_headroom() -> None:
    svc, broker, *_ = _setup()
    svc.step(broker.get_account(), _mv(T0))
    s = svc.status(broker.get_account(), [], _mv(T0))
    names = {x.name for x in s.limits}
    assert {"gross_exposure", "net_exposure", "daily_loss", "drawdown", "max_open_positions",
            "correlation_cluster", "consecutive_losses", "broker_error_rate",
            "stale_prices", "ticker_concentration"} <= names
    assert all(x.status == "ok" for x in s.limits)
    assert s.state.state is RiskState.ACTIVE


class FlakyFlattenBroker(FakeBroker):
    """A fake whose flatten fails while ``down`` is set."""

    down = True

    def close_all_positions(self, cancel_orders: bool = True) -> list:  # type: ignore[type-arg]
        from domain.errors import BrokerUnavailable

        if self.down:
            raise BrokerUnavailable("broker down")
        return super().close_all_positions(cancel_orders)


def _working_book(broker: FakeBroker) -> None:
    broker.set_price("AAPL", D(100))
    broker.submit_order(SubmitOrder(client_order_id="e1", ticker="AAPL", side="buy",
                                    quantity=10))
    broker.bar("AAPL", 100, 101, 99, 100)  # fills e1
    broker.submit_order(SubmitOrder(client_order_id="l1", ticker="AAPL", side="buy",
                                    quantity=5, order_type="limit", limit_price=D(90)))


def test_kill_from_a_process_without_broker_is_carried_out_by_the_engines_next_step() -> None:
    engine, broker, uow, _, clock = _setup()
    _working_book(broker)
    cli = RiskService(uow, None, RecordingNotifier(), clock)  # the CLI: same store, no broker
    rep = cli.kill("ops", "drill", flatten=True)
    assert not rep.executed and rep.canceled == ()
    assert cli.current().kill_pending and cli.current().kill_flatten
    acct = broker.get_account()
    # the engine refuses entries at once: it reads the persisted state on every check
    assert not engine.check_order(_buy(), acct, [], _mv(T0)).approved
    step = engine.step(acct, _mv(T0 + timedelta(minutes=1)))
    assert step.kill is not None and step.kill.canceled == ("l1",)
    assert len(step.kill.flatten_orders) == 1
    broker.bar("AAPL", 100, 101, 99, 100)
    assert broker.get_positions() == [] and broker.list_orders("open") == []
    assert not engine.current().kill_pending
    assert engine.step(acct, _mv(T0 + timedelta(minutes=2))).kill is None  # done once
    assert engine.trading_state() is RiskState.HALTED


def test_kill_flag_refuses_entries_before_the_next_step() -> None:
    flag = Flag()
    svc, broker, *_ = _setup(flag=flag)
    acct = broker.get_account()
    assert svc.check_order(_buy(), acct, [], _mv(T0)).approved
    flag.on = True
    d = svc.check_order(_buy(), acct, [], _mv(T0))
    assert not d.approved and d.rule == "trading_state" and "halted" in d.message


def test_kill_flag_flatten_is_read_from_the_flag_when_seen() -> None:
    flag = Flag()
    clock = TestClock(T0)
    broker = FakeBroker(D(100_000), clock=clock)
    _working_book(broker)
    wants = Flag()
    svc = RiskService(InMemoryUnitOfWork(), broker, RecordingNotifier(), clock,
                      kill_flag=flag, kill_flag_flattens=wants)
    flag.on = wants.on = True
    rep = svc.step(broker.get_account(), _mv(T0))
    assert rep.kill is not None and len(rep.kill.flatten_orders) == 1


def test_a_failed_flatten_stays_pending_and_is_retried_next_step() -> None:
    clock = TestClock(T0)
    broker = FlakyFlattenBroker(D(100_000), clock=clock)
    _working_book(broker)
    svc = RiskService(InMemoryUnitOfWork(), broker, RecordingNotifier(), clock)
    rep = svc.kill("ops", "drill", flatten=True)
    assert rep.flatten_error == "broker down" and svc.current().kill_pending
    broker.down = False
    step = svc.step(broker.get_account(), _mv(T0 + timedelta(minutes=1)))
    assert step.kill is not None and len(step.kill.flatten_orders) == 1
    assert not svc.current().kill_pending


def test_kill_flag_inside_the_callers_transaction() -> None:
    flag = Flag()
    svc, broker, uow, *_ = _setup(flag=flag)
    flag.on = True
    with uow:
        rep = svc.step(broker.get_account(), _mv(T0), uow=uow)
        uow.commit()
    assert rep.kill is not None and rep.trading_state is RiskState.HALTED
    assert svc.trading_state() is RiskState.HALTED
    with uow:
        assert [e.kind for e in uow.journal.risk_events()][:1] == ["kill"]


class FileLikeFlag(Flag):
    """A flag that, like the kill file, says whether it asks for a flatten."""

    def __init__(self) -> None:
        super().__init__()
        self.flatten = False

    def wants_flatten(self) -> bool:
        return self.flatten


def test_any_kill_while_the_flag_asks_for_a_flatten_flattens() -> None:
    flag = FileLikeFlag()
    clock = TestClock(T0)
    broker = FakeBroker(D(100_000), clock=clock)
    _working_book(broker)
    svc = RiskService(InMemoryUnitOfWork(), broker, RecordingNotifier(), clock, kill_flag=flag)
    flag.on = flag.flatten = True
    rep = svc.kill("kill-flag", "flag seen by the engine")  # the caller forgot flatten=True
    assert len(rep.flatten_orders) == 1 and rep.event.data["flatten"] is True


def test_a_step_that_read_the_state_before_a_kill_cannot_erase_it() -> None:
    svc, broker, uow, _, clock = _setup()
    stale = svc.current()  # the engine read this before the CLI's kill committed
    cli = RiskService(uow, None, RecordingNotifier(), clock)
    cli.kill("ops", "drill", flatten=True)
    with uow:  # the engine's step saves what it had read (a lost update)
        RiskService.save(uow, stale)
        uow.commit()
    st = svc.current()
    assert st.state is RiskState.HALTED and st.killed and st.kill_pending and st.kill_flatten
    assert not svc.check_order(_buy(), broker.get_account(), [], _mv(T0)).approved
    svc.resume("alice", "drill over", approve=True)
    assert svc.trading_state() is RiskState.ACTIVE  # the resume clears the kill record too
