"""Hypothesis: sizing never exceeds its caps; plans put stops on the right side within the
risk band; booked P&L is exact for longs and shorts."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.risk.plan import PlanConfig, plan_trade, size_entry
from domain.risk.sizing import SizingConfig, SizingMethod
from domain.signal import Signal
from domain.values import Side
from tests.unit.application.conftest import World

money = st.decimals(min_value=Decimal("1000"), max_value=Decimal("10000000"), places=2)
price = st.decimals(min_value=Decimal("1"), max_value=Decimal("5000"), places=2)
atr = st.one_of(st.none(), st.decimals(min_value=Decimal("0.01"), max_value=Decimal("500"),
                                       places=2))


@given(equity=money, px=price, conf=st.floats(0.0, 1.0), a=atr,
       method=st.sampled_from([SizingMethod.FIXED, SizingMethod.CONFIDENCE,
                               SizingMethod.VOLATILITY]))
def test_size_entry_when_any_inputs_then_whole_shares_within_cap(
        equity: Decimal, px: Decimal, conf: float, a: Decimal | None,
        method: SizingMethod) -> None:
    cfg = SizingConfig()
    res = size_entry(method, equity, px, confidence=conf, atr=a, stats=None, config=cfg)
    assert res.quantity >= 0 and res.quantity == res.quantity.to_integral_value()
    assert res.quantity * px <= equity * cfg.max_pct


@given(px=price, a=atr, side=st.sampled_from([Side.BUY, Side.SELL]))
def test_plan_when_any_atr_then_stop_on_loss_side_within_band(
        px: Decimal, a: Decimal | None, side: Side) -> None:
    cfg = PlanConfig()
    plan = plan_trade(side, px, a, cfg)
    assert cfg.min_stop_pct <= plan.stop_pct <= cfg.max_stop_pct
    assert plan.target_pct >= plan.stop_pct  # reward at least the risk
    s = side.sign
    if px >= 10:  # cent rounding cannot collapse the levels onto the entry
        assert s * (px - plan.stop_loss) > 0
        assert s * (plan.take_profit - px) > 0


@settings(max_examples=25, deadline=None)
@given(entry=st.integers(50, 150), exit_=st.integers(50, 150),
       side=st.sampled_from(["buy", "sell"]))
def test_booked_pnl_when_round_trip_then_exact(entry: int, exit_: int, side: str) -> None:

    w = World(plan=PlanConfig(min_stop_pct=Decimal("0.9"), max_stop_pct=Decimal("0.95")))
    w.risk.config  # noqa: B018
    w.risk = None  # type: ignore[assignment]
    w.executor.risk = None
    w.history("AAPL", price=float(entry))
    sig = Signal(signal_id="s", ticker="AAPL", action=side, confidence=1.0, ts=w.clock.now())
    with w.uow as u:
        w.executor.execute(sig, u, w.clock.now())
        u.commit()
    w.bar("AAPL", entry, entry, entry, entry)
    w.events()
    opp = "sell" if side == "buy" else "buy"
    sig2 = Signal(signal_id="s2", ticker="AAPL", action=opp, confidence=1.0, ts=w.clock.now())
    with w.uow as u:
        w.executor.execute(sig2, u, w.clock.now())
        u.commit()
    w.bar("AAPL", exit_, exit_, exit_, exit_)
    w.events()
    with w.uow as u:
        (c,) = u.positions.list_closed()
    sign = 1 if side == "buy" else -1
    assert c.realized_pnl == sign * (Decimal(exit_) - Decimal(entry)) * c.quantity
    assert w.broker.ledger.cash == Decimal(100_000) + c.realized_pnl
