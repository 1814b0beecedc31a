"""Stops and targets on valid ticks: the stop is rounded away from the entry (never inside the
risk policy's minimum distance after rounding), the target towards it (never promising more
than planned), both strictly on their own side of the entry."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import example, given
from hypothesis import strategies as st

from application.executor import ExecutorConfig
from domain.risk.config import RiskConfig
from domain.risk.inputs import OrderIntent
from domain.risk.plan import PlanConfig, levels, plan_trade, round_to_tick, tick_size
from domain.risk.policy import STOP_MIN, RiskPolicy
from domain.signal import Signal
from domain.values import Side
from tests.unit.application.conftest import World

D = Decimal
MIN, MAX = D("0.02"), D("0.20")

entries = st.one_of(
    st.decimals(min_value=D("1"), max_value=D("5000"), places=2),
    st.decimals(min_value=D("0.0100"), max_value=D("0.9999"), places=4),
    st.decimals(min_value=D("0.5"), max_value=D("2000"), places=6),  # not on a tick (a mark)
)
stop_pcts = st.decimals(min_value=MIN, max_value=MAX, places=6)
target_pcts = st.decimals(min_value=D("0.001"), max_value=D("0.95"), places=6)
sides = st.sampled_from([Side.BUY, Side.SELL])


def on_tick(p: Decimal) -> bool:
    return p > 0 and p == p.quantize(tick_size(p))


def distance(side: Side, entry: Decimal, stop: Decimal) -> Decimal:
    return side.sign * (entry - stop) / entry


@given(entry=entries, side=sides, sp=stop_pcts, tp=target_pcts)
@example(entry=D("10.03"), side=Side.BUY, sp=MIN, tp=D("0.04"))  # 9.8294: half-up gave 9.83
@example(entry=D("10.03"), side=Side.SELL, sp=MIN, tp=D("0.04"))
@example(entry=D("10.03"), side=Side.BUY, sp=MAX, tp=D("0.3"))  # 8.024: floor gives 8.02
def test_levels_when_any_plan_in_band_then_valid_ticks_correct_side_distance_kept(
        entry: Decimal, side: Side, sp: Decimal, tp: Decimal) -> None:
    stop, target = levels(side, entry, sp, tp, min_stop_pct=MIN, max_stop_pct=MAX)
    assert on_tick(stop) and on_tick(target)
    s = side.sign
    assert s * (entry - stop) > 0  # stop on the loss side
    assert s * (target - entry) > 0  # target on the profit side
    assert distance(side, entry, stop) >= MIN  # rounding never crosses the minimum
    if entry >= 1:  # a cent is under 1 % of the entry: the band always holds a tick
        assert distance(side, entry, stop) <= MAX
    raw_target = entry * (1 + s * tp)
    # conservative: no further than planned, unless that tick would sit on the entry
    assert s * (target - raw_target) <= 0 or abs(target - raw_target) < tick_size(raw_target)


@given(entry=entries, side=sides, sp=stop_pcts, tp=target_pcts)
@example(entry=D("10.03"), side=Side.BUY, sp=MIN, tp=D("0.04"))
def test_levels_when_checked_by_risk_policy_then_stop_distance_rule_passes(
        entry: Decimal, side: Side, sp: Decimal, tp: Decimal) -> None:
    stop, target = levels(side, entry, sp, tp, min_stop_pct=MIN, max_stop_pct=MAX)
    intent = OrderIntent(ticker="AAPL", side=side, quantity=D(1), price=entry, stop_loss=stop,
                         take_profit=target)
    results = RiskPolicy(RiskConfig())._stop_rules(intent)
    assert all(r.rule != STOP_MIN or r.verdict.value == "approved" for r in results), results


@given(px=st.decimals(min_value=D("1"), max_value=D("5000"), places=2),
       a=st.one_of(st.none(), st.decimals(min_value=D("0.01"), max_value=D("500"), places=2)),
       side=sides)
def test_plan_trade_when_any_atr_then_levels_on_ticks_within_risk_band(
        px: Decimal, a: Decimal | None, side: Side) -> None:
    plan = plan_trade(side, px, a, PlanConfig())
    assert on_tick(plan.stop_loss) and on_tick(plan.take_profit)
    d = distance(side, px, plan.stop_loss)
    assert MIN <= d <= MAX
    assert side.sign * (plan.take_profit - px) > 0


@given(p=st.decimals(min_value=D("0.0001"), max_value=D("10000"), places=8),
       up=st.booleans())
def test_round_to_tick_when_any_price_then_valid_tick_in_the_asked_direction(
        p: Decimal, up: bool) -> None:
    r = round_to_tick(p, up)
    assert r == r.quantize(tick_size(r)) or r == 0
    assert (r >= p) if up else (r <= p)
    assert abs(r - p) < tick_size(p)


def test_levels_when_stop_lands_on_half_tick_then_rounded_away_not_half_up() -> None:
    stop, target = levels(Side.BUY, D("10.03"), MIN, D("0.04"))
    assert (stop, target) == (D("9.82"), D("10.43"))
    stop, target = levels(Side.SELL, D("10.03"), MIN, D("0.04"))
    assert (stop, target) == (D("10.24"), D("9.63"))
    stop, _ = levels(Side.BUY, D("0.5123"), D("0.05"), D("0.1"))
    assert stop == D("0.4866")  # 0.486685 -> 4 decimals below $1, down


def test_execute_when_plan_at_minimum_stop_distance_then_risk_approves_the_rounded_stop() -> None:
    """Before: 10.03 x (1 - 0.02) = 9.8294 rounded half-up to 9.83 (1.994 % < 2 %): rejected."""
    w = World(plan=PlanConfig(stop_atr_multiple=D("0.1")))  # ATR stop 0.1 % -> clamped to 2 %
    w.history("AAPL", price=10.03)
    sig = Signal(signal_id="s1", ticker="AAPL", action="buy", confidence=0.9, ts=w.clock.now())
    with w.uow as u:
        res = w.executor.execute(sig, u, w.clock.now())
        u.commit()
        rows = [r for r in u.journal.executions() if r.stage == "submit"]
    assert res.status == "submitted", res.reason
    assert rows and rows[-1].stop_loss == D("9.82")


def test_plan_config_when_risk_band_narrower_then_plan_uses_it() -> None:
    w = World()
    w.risk.config = RiskConfig(min_stop_pct=D("0.03"), max_stop_pct=D("0.15"))
    cfg = w.executor.plan_config()
    assert (cfg.min_stop_pct, cfg.max_stop_pct) == (D("0.03"), D("0.15"))
    w.executor.risk = None
    assert w.executor.plan_config() == ExecutorConfig().plan
