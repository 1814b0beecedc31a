"""The circuit breaker state machine: baselines across days and restarts, latching, resume."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import InvalidInput
from domain.events import RiskState
from domain.risk import BreakerState, CircuitBreaker, RiskConfig

D = Decimal
T0 = datetime(2024, 1, 2, 15, tzinfo=UTC)
CB = CircuitBreaker()
CFG = CB.config

# (day offset increment 0/1/2, equity)
marks = st.lists(
    st.tuples(st.integers(0, 2), st.integers(50_000, 150_000).map(D)), min_size=1, max_size=40
)


def _run(seq: list[tuple[int, Decimal]], restart_at: int | None = None,
         cb: CircuitBreaker = CB) -> tuple[BreakerState, list[BreakerState]]:
    st_ = BreakerState()
    day = 0
    history = []
    for i, (inc, eq) in enumerate(seq):
        day += inc
        ts = T0 + timedelta(days=day, minutes=i)
        if restart_at == i:  # a restart: the state goes through its persisted form
            st_ = BreakerState.from_record(json.loads(json.dumps(st_.to_record())))
        st_, _ = cb.mark(st_, eq, ts, (T0 + timedelta(days=day)).date())
        history.append(st_)
    return st_, history


@pytest.mark.slow
@settings(max_examples=200)
@given(marks)
def test_daily_loss_is_measured_from_previous_sessions_last_equity(
    seq: list[tuple[int, Decimal]],
) -> None:
    _, hist = _run(seq)
    day = 0
    baseline: Decimal | None = None
    last: Decimal | None = None
    tripped = False
    for (inc, eq), st_ in zip(seq, hist, strict=True):
        if baseline is None:
            baseline = eq
        elif inc > 0:
            baseline = last
        day += inc
        last = eq
        assert st_.day_start_equity == baseline
        assert baseline is not None
        loss = max(D(0), (baseline - eq) / baseline)
        tripped = tripped or loss >= CFG.max_daily_loss_pct
        assert ("daily_loss" in st_.tripped_rules) == tripped
        if tripped:
            assert st_.state is RiskState.HALTED  # latched, whatever equity does later


@settings(max_examples=200)
@given(marks)
def test_drawdown_is_measured_from_the_peak_not_the_start(seq: list[tuple[int, Decimal]]) -> None:
    _, hist = _run(seq)
    peak = D(0)
    tripped = False
    for (_, eq), st_ in zip(seq, hist, strict=True):
        peak = max(peak, eq)
        assert st_.peak_equity == peak
        tripped = tripped or (peak - eq) / peak >= CFG.max_drawdown_pct
        assert ("drawdown" in st_.tripped_rules) == tripped


@pytest.mark.slow
@settings(max_examples=200)
@given(marks, st.integers(0, 39))
def test_a_restart_changes_nothing(seq: list[tuple[int, Decimal]], at: int) -> None:
    a, _ = _run(seq)
    b, _ = _run(seq, restart_at=at % len(seq))
    assert a == b


@given(marks, st.lists(st.integers(-500, 500).map(D), max_size=20),
       st.lists(st.booleans(), max_size=20))
def test_once_tripped_only_resume_returns_to_active(
    seq: list[tuple[int, Decimal]], pnls: list[Decimal], calls: list[bool],
) -> None:
    st_, _ = CB.kill(BreakerState(), "ops", "drill", T0)
    ts = T0
    for i, (_, eq) in enumerate(seq):
        ts = T0 + timedelta(hours=i)
        st_, _ = CB.mark(st_, eq, ts, ts.date())
        assert st_.state is RiskState.HALTED
    for p in pnls:
        st_, _ = CB.record_trade(st_, p, ts)
        assert st_.state is RiskState.HALTED
    for ok in calls:
        st_, _ = CB.record_broker_call(st_, ok, ts)
        assert st_.state is RiskState.HALTED
    st_, evs = CB.resume(st_, "alice", "checked the book", ts + timedelta(minutes=1))
    assert st_.state is RiskState.ACTIVE
    assert evs[0].actor == "alice" and evs[0].kind == "resume"


def test_trips_only_escalate() -> None:
    st_, _ = CB.record_trade(BreakerState(), D(-1), T0)
    for _ in range(CFG.max_consecutive_losses - 1):
        st_, evs = CB.record_trade(st_, D(-1), T0)
    assert st_.state is RiskState.REDUCING and evs and evs[0].kind == "trip"
    st_, _ = CB.mark(st_, D(100_000), T0, T0.date())
    st_, evs = CB.mark(st_, D(96_000), T0 + timedelta(minutes=5), T0.date())
    assert st_.state is RiskState.HALTED
    assert set(st_.tripped_rules) == {"consecutive_losses", "daily_loss"}
    # a later reducing trip does not lower the state
    for i in range(CFG.max_consecutive_losses):
        st_, _ = CB.record_trade(st_, D(-1), T0 + timedelta(minutes=10 + i))
    assert st_.state is RiskState.HALTED


def test_a_win_ends_the_losing_streak() -> None:
    st_ = BreakerState()
    for _ in range(CFG.max_consecutive_losses - 1):
        st_, _ = CB.record_trade(st_, D(-10), T0)
    st_, _ = CB.record_trade(st_, D(5), T0)
    assert st_.consecutive_losses == 0
    st_, _ = CB.record_trade(st_, D(-10), T0)
    assert st_.state is RiskState.ACTIVE


def test_broker_error_rate_counts_only_the_window() -> None:
    st_ = BreakerState()
    for i in range(3):  # old failures fall out of the window
        st_, _ = CB.record_broker_call(st_, False, T0 + timedelta(seconds=i))
    later = T0 + timedelta(seconds=CFG.broker_error_window_s + 10)
    for i in range(4):
        st_, _ = CB.record_broker_call(st_, True, later + timedelta(seconds=i))
    assert st_.state is RiskState.ACTIVE and len(st_.broker_calls) == 4
    for i in range(4):
        st_, evs = CB.record_broker_call(st_, False, later + timedelta(seconds=10 + i))
    assert st_.state is RiskState.HALTED
    assert "broker_error_rate" in st_.tripped_rules


def test_too_few_calls_never_trip() -> None:
    st_ = BreakerState()
    for i in range(CFG.broker_error_min_calls - 1):
        st_, _ = CB.record_broker_call(st_, False, T0 + timedelta(seconds=i))
    assert st_.state is RiskState.ACTIVE


def test_stale_price_of_a_held_ticker_reduces() -> None:
    st_, evs = CB.check_prices(BreakerState(), {"AAPL": 10.0, "MSFT": None}, T0)
    assert st_.state is RiskState.ACTIVE and not evs
    st_, evs = CB.check_prices(st_, {"AAPL": CFG.max_price_age_s + 1}, T0)
    assert st_.state is RiskState.REDUCING
    assert "AAPL" in evs[0].message and "301s" in evs[0].message and "300s" in evs[0].message


def test_warning_at_eighty_percent_once_per_session() -> None:
    st_, _ = CB.mark(BreakerState(), D(100_000), T0, T0.date())
    st_, evs = CB.mark(st_, D(97_500), T0 + timedelta(minutes=1), T0.date())  # 2.5 % of 3 %
    assert [e.kind for e in evs] == ["warning"] and evs[0].rule == "daily_loss"
    assert "2.50%" in evs[0].message and "3.00%" in evs[0].message
    st_, evs = CB.mark(st_, D(97_400), T0 + timedelta(minutes=2), T0.date())
    assert evs == ()
    nxt = T0 + timedelta(days=1)
    st_, _ = CB.mark(st_, D(97_400), nxt, nxt.date())
    st_, evs = CB.mark(st_, D(95_000), nxt + timedelta(minutes=1), nxt.date())
    assert [e.kind for e in evs] == ["warning"]  # 2.46 % of a new day's baseline


def test_gap_down_at_the_open_counts_as_todays_loss() -> None:
    st_, _ = CB.mark(BreakerState(), D(100_000), T0, date(2024, 1, 2))
    nxt = T0 + timedelta(days=1)
    st_, evs = CB.mark(st_, D(96_000), nxt, date(2024, 1, 3))  # first mark of the new day
    assert st_.day_start_equity == D(100_000)
    assert st_.state is RiskState.HALTED and evs[0].rule == "daily_loss"


def test_resume_rebases_breached_baselines_and_records_them() -> None:
    st_, _ = CB.mark(BreakerState(), D(100_000), T0, T0.date())
    st_, _ = CB.mark(st_, D(88_000), T0 + timedelta(hours=1), T0.date())
    assert st_.state is RiskState.HALTED
    st_, (ev,) = CB.resume(st_, "bob", "accepted the loss", T0 + timedelta(hours=2))
    assert st_.peak_equity == D(88_000) and st_.day_start_equity == D(88_000)
    assert "peak_equity" in ev.data["rebased"] and "day_start_equity" in ev.data["rebased"]
    st_, evs = CB.mark(st_, D(88_000), T0 + timedelta(hours=3), T0.date())
    assert st_.state is RiskState.ACTIVE and not [e for e in evs if e.kind == "trip"]


@pytest.mark.parametrize("by", ["", "   "])
def test_resume_needs_a_name(by: str) -> None:
    st_, _ = CB.kill(BreakerState(), "ops", "drill", T0)
    with pytest.raises(InvalidInput):
        CB.resume(st_, by, "why", T0)


def test_trip_targets_are_configurable_but_never_active() -> None:
    cb = CircuitBreaker(RiskConfig(daily_loss_trips_to="reducing"))
    st_, _ = cb.mark(BreakerState(), D(100), T0, T0.date())
    st_, _ = cb.mark(st_, D(90), T0, T0.date())
    assert st_.state is RiskState.HALTED  # drawdown 10 % still halts
    with pytest.raises(InvalidInput):
        RiskConfig(drawdown_trips_to="active")


def test_naive_times_are_refused() -> None:
    with pytest.raises(InvalidInput):
        CB.mark(BreakerState(), D(1), datetime(2024, 1, 2), date(2024, 1, 2))  # noqa: DTZ001


@settings(max_examples=100)
@given(marks, st.lists(st.integers(-500, 500).map(D), max_size=10),
       st.lists(st.booleans(), max_size=10))
def test_every_trip_and_warning_names_its_rule_value_and_limit(
    seq: list[tuple[int, Decimal]], pnls: list[Decimal], calls: list[bool],
) -> None:
    st_ = BreakerState()
    evs = []
    ts = T0
    for i, (inc, eq) in enumerate(seq):
        ts = T0 + timedelta(days=i + inc, minutes=i)
        st_, e = CB.mark(st_, eq, ts, ts.date())
        evs += e
    for p in pnls:
        st_, e = CB.record_trade(st_, p, ts)
        evs += e
    for j, ok in enumerate(calls):
        st_, e = CB.record_broker_call(st_, ok, ts + timedelta(seconds=j))
        evs += e
    for ev in evs:
        assert ev.kind in ("trip", "warning")
        assert ev.message.startswith(f"{ev.rule}: ")
        assert ev.value and ev.value in ev.message
        assert ev.limit and f"limit {ev.limit}" in ev.message
