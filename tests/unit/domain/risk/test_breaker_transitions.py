"""Kill / resume sequences and exact boundary values of the circuit breaker."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from domain.errors import InvalidInput
from domain.events import RiskState
from domain.risk import BreakerState, CircuitBreaker, RiskConfig
from domain.risk.breaker import escalate, more_restrictive

D = Decimal
T0 = datetime(2024, 1, 2, 15, tzinfo=UTC)
DAY = T0.date()
CB = CircuitBreaker()
CFG = CB.config


def _marked(*equities: Decimal, session: date = DAY) -> BreakerState:
    s = BreakerState()
    for i, eq in enumerate(equities):
        s, _ = CB.mark(s, eq, T0 + timedelta(minutes=i), session)
    return s


# --- kill ---------------------------------------------------------------------------------------
def test_a_cancel_only_kill_while_another_is_pending_stays_cancel_only() -> None:
    s, _ = CB.kill(BreakerState(), "ana", "first", T0)
    assert (s.killed, s.kill_pending, s.kill_flatten) == (True, True, False)
    s, _ = CB.kill(s, "ana", "second", T0 + timedelta(seconds=1))
    assert (s.kill_pending, s.kill_flatten) == (True, False)


def test_a_pending_flatten_is_not_downgraded_by_a_later_cancel_only_kill() -> None:
    s, _ = CB.kill(BreakerState(), "ana", "flatten", T0, flatten=True)
    s, _ = CB.kill(s, "bob", "cancel only", T0 + timedelta(seconds=1))
    assert (s.kill_pending, s.kill_flatten) == (True, True)


def test_after_a_flatten_was_executed_a_cancel_only_kill_does_not_flatten() -> None:
    s, _ = CB.kill(BreakerState(), "ana", "flatten", T0, flatten=True)
    s = CB.kill_executed(s, T0 + timedelta(seconds=1))
    assert (s.killed, s.kill_pending, s.kill_flatten) == (True, False, False)
    assert s.updated_at == T0 + timedelta(seconds=1)
    assert s.state is RiskState.HALTED  # carrying out the kill does not lift it
    s, _ = CB.kill(s, "bob", "again", T0 + timedelta(seconds=2))
    assert (s.kill_pending, s.kill_flatten) == (True, False)


def test_kill_records_who_why_and_the_previous_state() -> None:
    reducing, _ = CB.record_trade(BreakerState(consecutive_losses=CFG.max_consecutive_losses - 1),
                                  D(-1), T0)
    assert reducing.state is RiskState.REDUCING
    s, (ev,) = CB.kill(reducing, "  ana  ", "fat finger", T0 + timedelta(seconds=1), flatten=True)
    assert s.state is RiskState.HALTED and s.tripped_at == T0 + timedelta(seconds=1)
    assert s.tripped_rules == ("consecutive_losses", "kill_switch")
    assert s.reason == ev.message == "kill_switch: trading halted by ana: fat finger"
    assert (ev.kind, ev.rule, ev.actor, ev.state) == ("kill", "kill_switch", "ana", RiskState.HALTED)
    assert (ev.value, ev.limit) == ("halted", "reducing")
    assert dict(ev.data) == {"reason": "fat finger", "previous_state": "reducing", "flatten": True}


def test_kill_without_a_reason_says_so() -> None:
    s, (ev,) = CB.kill(BreakerState(), "ana", "", T0)
    assert ev.message.endswith("no reason given") and s.reason == ev.message


# --- resume -------------------------------------------------------------------------------------
def test_resume_clears_the_kill_flags_and_every_trip_memory() -> None:
    s = BreakerState(consecutive_losses=3, broker_calls=((T0, False),), warned=("drawdown",))
    s, _ = CB.kill(s, "ana", "stop", T0, flatten=True)
    s, (ev,) = CB.resume(s, " bob ", "checked", T0 + timedelta(minutes=1))
    assert s.state is RiskState.ACTIVE
    assert (s.killed, s.kill_pending, s.kill_flatten) == (False, False, False)
    assert (s.tripped_rules, s.reason, s.tripped_at) == ((), None, None)
    assert (s.consecutive_losses, s.broker_calls, s.warned) == (0, (), ())
    assert (s.resumed_by, s.resumed_at, s.resume_reason) == ("bob", T0 + timedelta(minutes=1),
                                                             "checked")
    assert (ev.kind, ev.rule, ev.actor, ev.state) == ("resume", "resume", "bob", RiskState.ACTIVE)
    assert (ev.value, ev.limit) == ("active", "halted")
    assert ev.data["previous_state"] == "halted"
    assert list(ev.data["tripped_rules"]) == ["kill_switch"]
    assert ev.data["reason"] == "checked"
    assert ev.message == ("resume: trading resumed by bob from halted (was tripped by kill_switch): "
                          "checked")


def test_resume_of_an_untripped_breaker_names_nothing() -> None:
    _, (ev,) = CB.resume(BreakerState(), "bob", "", T0)
    assert "was tripped by nothing" in ev.message and ev.message.endswith("no reason given")


@pytest.mark.parametrize(("equity", "rebased"), [
    (D(97_000), True),  # a loss of exactly the 3 % limit
    (D(96_999), True),
    (D("97000.01"), False),  # just under the limit: the baseline stays
])
def test_resume_rebases_the_day_start_at_exactly_the_daily_loss_limit(
    equity: Decimal, rebased: bool,
) -> None:
    s = _marked(D(100_000), equity)
    s, (ev,) = CB.resume(s, "bob", "ok", T0 + timedelta(hours=1))
    assert s.day_start_equity == (equity if rebased else D(100_000))
    assert ("day_start_equity" in ev.data["rebased"]) is rebased
    if rebased:
        assert ev.data["rebased"]["day_start_equity"] == f"100000 -> {equity}"


@pytest.mark.parametrize(("equity", "rebased"), [
    (D(90_000), True),  # a drawdown of exactly the 10 % limit
    (D("90000.01"), False),
])
def test_resume_rebases_the_peak_at_exactly_the_drawdown_limit(equity: Decimal, rebased: bool) -> None:
    # The fall from the peak is spread over sessions so no single day loses 3 %.
    s = BreakerState()
    for i, eq in enumerate([D(100_000), D(97_500), D(95_100), D(92_700), D(90_400), equity]):
        s, _ = CB.mark(s, eq, T0 + timedelta(days=i), DAY + timedelta(days=i))
    assert s.daily_loss_pct < CFG.max_daily_loss_pct
    s, (ev,) = CB.resume(s, "bob", "ok", T0 + timedelta(days=5, hours=1))
    assert s.peak_equity == (equity if rebased else D(100_000))
    assert ("peak_equity" in ev.data["rebased"]) is rebased
    assert "day_start_equity" not in ev.data["rebased"]
    if rebased:
        assert ev.data["rebased"]["peak_equity"] == f"100000 -> {equity}"


def test_after_a_rebased_resume_the_next_mark_does_not_trip_again() -> None:
    s = _marked(D(100_000), D(97_000))
    assert s.state is RiskState.HALTED
    s, _ = CB.resume(s, "bob", "ok", T0 + timedelta(hours=1))
    s, events = CB.mark(s, D(97_000), T0 + timedelta(hours=2), DAY)
    assert s.state is RiskState.ACTIVE and not [e for e in events if e.kind == "trip"]


# --- limits: trip at the limit, warn at the warning level ---------------------------------------
def test_daily_loss_trips_at_exactly_the_limit_and_not_a_cent_before() -> None:
    s = _marked(D(100_000), D("97000.01"))
    assert s.state is RiskState.ACTIVE
    s = _marked(D(100_000), D(97_000))
    assert s.state is RiskState.HALTED and s.tripped_rules == ("daily_loss",)
    assert s.tripped_at == T0 + timedelta(minutes=1)


def test_a_trip_event_names_state_value_and_limit() -> None:
    s, _ = CB.mark(BreakerState(), D(100_000), T0, DAY)
    s, events = CB.mark(s, D(97_000), T0 + timedelta(minutes=1), DAY)
    trips = [e for e in events if e.kind == "trip"]
    assert len(trips) == 1
    ev = trips[0]
    assert (ev.rule, ev.state, ev.value, ev.limit) == ("daily_loss", RiskState.HALTED, "3.00%", "3.00%")
    assert dict(ev.data) == {"previous_state": "active", "value": "0.03", "limit": "0.03"}
    assert s.reason == ev.message and ev.message.endswith("trading halted")


def test_warning_fires_at_exactly_the_warning_level_once_per_session() -> None:
    # 80 % of the 3 % daily limit is a 2.4 % loss.
    s, _ = CB.mark(BreakerState(), D(100_000), T0, DAY)
    s, events = CB.mark(s, D(97_601), T0 + timedelta(minutes=1), DAY)
    assert not events and s.warned == ()
    s, events = CB.mark(s, D(97_600), T0 + timedelta(minutes=2), DAY)
    assert [(e.kind, e.rule) for e in events] == [("warning", "daily_loss")]
    assert dict(events[0].data) == {"value": "0.024", "limit": "0.03"}
    assert events[0].state is RiskState.ACTIVE and s.warned == ("daily_loss",)
    s, events = CB.mark(s, D(97_500), T0 + timedelta(minutes=3), DAY)
    assert not events  # once per session
    s, events = CB.mark(s, D(97_500), T0 + timedelta(days=1), DAY + timedelta(days=1))
    assert s.warned == () and not events  # a new session starts from 97 500: no loss today


def test_a_rule_already_tripped_does_not_trip_again_unless_it_escalates() -> None:
    s = _marked(D(100_000), D(97_000))
    s2, events = CB.mark(s, D(96_000), T0 + timedelta(minutes=5), DAY)
    assert not [e for e in events if e.rule == "daily_loss"]
    assert s2.tripped_at == s.tripped_at and s2.reason == s.reason
    cb = CircuitBreaker(RiskConfig(consecutive_losses_trips_to="reducing"))
    r, _ = cb.record_trade(BreakerState(consecutive_losses=4), D(-1), T0)
    assert r.state is RiskState.REDUCING
    r2, events = cb.record_trade(r, D(-1), T0 + timedelta(minutes=1))
    assert events == () and r2.tripped_at == T0


def test_stale_prices_trip_only_strictly_above_the_allowed_age() -> None:
    limit = CFG.max_price_age_s
    s, events = CB.check_prices(BreakerState(), {"AAPL": limit, "MSFT": None}, T0)
    assert s.state is RiskState.ACTIVE and events == ()  # no warning for stale prices either
    s, events = CB.check_prices(BreakerState(), {"AAPL": 1.0, "MSFT": limit + 0.5, "KO": None}, T0)
    assert s.state is RiskState.REDUCING
    assert len(events) == 1 and "MSFT" in events[0].message
    assert CB.check_prices(BreakerState(), {"AAPL": None}, T0) == (BreakerState(), ())
    assert CB.check_prices(BreakerState(), {}, T0) == (BreakerState(), ())


@pytest.mark.parametrize(("pnls", "streak"), [
    ([-1, -1, 0], 2),  # a flat trade neither extends nor ends the streak
    ([-1, -1, 1], 0),
    ([-1, 0, -1], 2),
    ([1, -1], 1),
])
def test_the_losing_streak_counts_losses_in_a_row(pnls: list[int], streak: int) -> None:
    s = BreakerState()
    for i, p in enumerate(pnls):
        s, _ = CB.record_trade(s, D(p), T0 + timedelta(minutes=i))
    assert s.consecutive_losses == streak and s.updated_at == T0 + timedelta(minutes=len(pnls) - 1)


def test_the_losing_streak_trips_at_exactly_the_limit() -> None:
    s = BreakerState(consecutive_losses=CFG.max_consecutive_losses - 2)
    s, _ = CB.record_trade(s, D(-1), T0)
    assert s.state is RiskState.ACTIVE
    s, (ev,) = CB.record_trade(s, D(-1), T0)
    assert s.state is CFG.consecutive_losses_trips_to and ev.rule == "consecutive_losses"
    assert ev.value == str(CFG.max_consecutive_losses)


def test_broker_errors_trip_at_exactly_the_rate_limit_once_enough_calls_are_seen() -> None:
    s = BreakerState()
    for i, ok in enumerate([True, False, True]):
        s, events = CB.record_broker_call(s, ok, T0 + timedelta(seconds=i))
        assert events == () or all(e.kind == "warning" for e in events)
    assert s.state is RiskState.ACTIVE
    s, events = CB.record_broker_call(s, False, T0 + timedelta(seconds=3))  # 2 of 4: exactly 50 %
    assert s.state is RiskState.HALTED and [e.kind for e in events] == ["trip"]
    assert s.broker_error_rate() == (D("0.5"), 4)


def test_broker_calls_at_the_window_edge_are_forgotten() -> None:
    w = timedelta(seconds=CFG.broker_error_window_s)
    s = BreakerState(broker_calls=((T0, False), (T0 + timedelta(seconds=1), False)))
    s, _ = CB.record_broker_call(s, True, T0 + w)
    assert s.broker_calls == ((T0 + timedelta(seconds=1), False), (T0 + w, True))


def test_three_failures_of_three_calls_do_not_trip_below_the_minimum_count() -> None:
    s = BreakerState()
    for i in range(CFG.broker_error_min_calls - 1):
        s, events = CB.record_broker_call(s, False, T0 + timedelta(seconds=i))
        assert events == ()
    assert s.state is RiskState.ACTIVE


# --- session roll, peak and the fractions -------------------------------------------------------
def test_the_first_mark_of_a_later_session_starts_the_day_at_the_last_equity() -> None:
    s = _marked(D(100_000), D(99_000))
    assert (s.day_start_equity, s.peak_equity, s.last_equity) == (D(100_000), D(100_000), D(99_000))
    s, _ = CB.mark(s, D(98_000), T0 + timedelta(days=1), DAY + timedelta(days=1))
    assert (s.session, s.day_start_equity) == (DAY + timedelta(days=1), D(99_000))
    s, _ = CB.mark(s, D(101_000), T0 + timedelta(days=1, minutes=1), DAY + timedelta(days=1))
    assert (s.day_start_equity, s.peak_equity, s.last_mark_at) == (
        D(99_000), D(101_000), T0 + timedelta(days=1, minutes=1))
    s, _ = CB.mark(s, D(100_000), T0 + timedelta(days=1, minutes=2), DAY)  # an older session
    assert s.day_start_equity == D(99_000) and s.session == DAY + timedelta(days=1)


def test_fractions_are_zero_when_unknown_up_or_on_a_non_positive_baseline() -> None:
    assert BreakerState().daily_loss_pct == 0 and BreakerState().drawdown_pct == 0
    up = BreakerState(day_start_equity=D(100), peak_equity=D(100), last_equity=D(120))
    assert (up.daily_loss_pct, up.drawdown_pct) == (0, 0)
    bad = BreakerState(day_start_equity=D(0), peak_equity=D(-5), last_equity=D(-10))
    assert (bad.daily_loss_pct, bad.drawdown_pct) == (0, 0)
    down = BreakerState(day_start_equity=D(200), peak_equity=D(400), last_equity=D(150))
    assert (down.daily_loss_pct, down.drawdown_pct) == (D("0.25"), D("0.625"))
    assert BreakerState().broker_error_rate() == (0, 0)
    small = BreakerState(day_start_equity=D("0.5"), peak_equity=D("0.8"), last_equity=D("0.4"))
    assert (small.daily_loss_pct, small.drawdown_pct) == (D("0.2"), D("0.5"))


def test_escalation_order() -> None:
    a, r, h = RiskState.ACTIVE, RiskState.REDUCING, RiskState.HALTED
    assert [escalate(a, r), escalate(r, a), escalate(h, r), escalate(r, r)] == [r, r, h, r]
    assert more_restrictive(h, r) and more_restrictive(r, a)
    assert not more_restrictive(r, r) and not more_restrictive(a, h)


# --- persistence --------------------------------------------------------------------------------
aware_times = st.integers(0, 10**6).map(lambda s: T0 + timedelta(seconds=s))
money = st.integers(1, 10**9).map(lambda c: D(c) / 100)


@st.composite
def states(draw: st.DrawFn) -> BreakerState:
    return BreakerState(
        state=draw(st.sampled_from(list(RiskState))),
        tripped_rules=tuple(draw(st.lists(st.sampled_from(["daily_loss", "kill_switch"]),
                                          unique=True))),
        reason=draw(st.none() | st.text(max_size=5)), tripped_at=draw(st.none() | aware_times),
        session=draw(st.none() | aware_times.map(lambda t: t.date())),
        day_start_equity=draw(st.none() | money), peak_equity=draw(st.none() | money),
        last_equity=draw(st.none() | money), last_mark_at=draw(st.none() | aware_times),
        consecutive_losses=draw(st.integers(0, 9)),
        broker_calls=tuple(draw(st.lists(st.tuples(aware_times, st.booleans()), max_size=3))),
        warned=tuple(draw(st.lists(st.sampled_from(["drawdown", "daily_loss"]), unique=True))),
        killed=draw(st.booleans()), kill_pending=draw(st.booleans()),
        kill_flatten=draw(st.booleans()), resumed_by=draw(st.none() | st.text(max_size=5)),
        resumed_at=draw(st.none() | aware_times), resume_reason=draw(st.none() | st.text(max_size=5)),
        updated_at=draw(st.none() | aware_times),
    )


FULL = BreakerState(
    state=RiskState.HALTED, tripped_rules=("kill_switch",), reason="r", tripped_at=T0, session=DAY,
    day_start_equity=D("1.5"), peak_equity=D(2), last_equity=D(1), last_mark_at=T0,
    consecutive_losses=2, broker_calls=((T0, False),), warned=("drawdown",), killed=True,
    kill_pending=True, kill_flatten=True, resumed_by="b", resumed_at=T0, resume_reason="x",
    updated_at=T0,
)


@given(states())
@example(FULL)
def test_every_field_survives_the_record_round_trip(s: BreakerState) -> None:
    assert BreakerState.from_record(s.to_record()) == s


def test_an_empty_record_is_the_initial_state() -> None:
    assert BreakerState.from_record({}) == BreakerState()


def test_the_messages_of_trips_and_warnings() -> None:
    s, (warn,) = CB.record_trade(BreakerState(consecutive_losses=3), D(-1), T0)
    assert warn.message == ("consecutive_losses: losing trades in a row 4 is 80.00% of limit 5 "
                            "(warning at 80.00%)")
    _, (trip,) = CB.record_trade(s, D(-1), T0)
    assert trip.message == "consecutive_losses: losing trades in a row 5 reached limit 5; trading reducing"
    _, (stale,) = CB.check_prices(BreakerState(), {"MSFT": 301.0}, T0)
    assert stale.message == "stale_prices: age of the MSFT price 301s reached limit 300s; trading reducing"
    b = BreakerState()
    for i in range(4):
        b, events = CB.record_broker_call(b, False, T0 + timedelta(seconds=i))
    assert [e.message for e in events] == [
        "broker_error_rate: failed broker calls (4 calls in 300s) 100.00% reached limit 50.00%; "
        "trading halted"]


NAIVE = datetime(2024, 1, 2, 15)  # noqa: DTZ001


@pytest.mark.parametrize("call", [
    lambda: CB.record_trade(BreakerState(), D(-1), NAIVE),
    lambda: CB.record_broker_call(BreakerState(), False, NAIVE),
    lambda: CB.check_prices(BreakerState(), {"AAPL": 1.0}, NAIVE),
    lambda: CB.kill(BreakerState(), "ana", "x", NAIVE),
    lambda: CB.kill_executed(BreakerState(), NAIVE),
    lambda: CB.resume(BreakerState(), "ana", "x", NAIVE),
], ids=["record_trade", "record_broker_call", "check_prices", "kill", "kill_executed", "resume"])
def test_every_transition_refuses_a_naive_time(call: object) -> None:
    with pytest.raises(InvalidInput, match=r"^invalid ts:"):
        call()  # type: ignore[operator]


@pytest.mark.parametrize("by", ["", "   "])
def test_kill_needs_a_name(by: str) -> None:
    with pytest.raises(InvalidInput, match="by"):
        CB.kill(BreakerState(), by, "x", T0)
