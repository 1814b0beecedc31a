"""Trade statistics from real ``Position.close()`` output, and every sizing method's exact size."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import InvalidInput
from domain.events import Fill
from domain.position import ClosedPosition, Position
from domain.risk.sizing import (
    SizingConfig,
    SizingMethod,
    TradeStats,
    size_position,
    stats_by_strategy,
)
from domain.values import PositionSide

D = Decimal
T0 = datetime(2024, 3, 1, 15, tzinfo=UTC)
_n = iter(range(10**9))


def closed(entry: Decimal, exit_: Decimal, qty: Decimal = D(10), fee: Decimal = D(0),
           side: str = "long", strategy: str | None = "s") -> ClosedPosition:
    """Open and close a real position through fills; return what ``close()`` reports."""
    ps = PositionSide(side)
    p = Position(position_id=f"p{next(_n)}", ticker="AAPL", side=ps, opened_at=T0, strategy=strategy)
    k = next(_n)
    p.apply_fill(Fill(fill_id=f"e{k}", client_order_id=f"ce{k}", ticker="AAPL", side=ps.entry_side,
                      quantity=qty, price=entry, ts_event=T0, commission=fee))
    p.apply_fill(Fill(fill_id=f"x{k}", client_order_id=f"cx{k}", ticker="AAPL",
                      side=ps.exit_side, quantity=qty, price=exit_, ts_event=T0 + timedelta(hours=1),
                      commission=fee))
    return p.close(T0 + timedelta(hours=1))


def test_realized_pnl_pct_is_net_pnl_over_the_entry_cost_basis() -> None:
    c = closed(D(100), D(110), D(10), fee=D("0.5"))
    assert (c.gross_pnl, c.commission, c.realized_pnl) == (D(100), D(1), D(99))
    assert c.realized_pnl_pct == D("0.099")
    short = closed(D(50), D(55), D(20), side="short")
    assert short.realized_pnl == D(-100) and short.realized_pnl_pct == D("-0.1")


def test_statistics_of_several_winners_and_losers_per_strategy() -> None:
    a = [closed(D(100), D(110)), closed(D(100), D(130)),  # +10 %, +30 %
         closed(D(100), D(95)), closed(D(100), D(90)), closed(D(100), D(70)),  # -5, -10, -30 %
         closed(D(100), D(100))]  # flat: not a win, a 0 % "loss"
    b = [closed(D(50), D(40), side="short", strategy="b"),  # +20 %
         closed(D(50), D(60), side="short", strategy="b"),  # -20 %
         closed(D(50), D(55), side="short", strategy="b")]  # -10 %
    anon = [closed(D(10), D(11), strategy=None)]
    stats = stats_by_strategy(a + b + anon)
    assert set(stats) == {"s", "b", "default"}
    s = stats["s"]
    assert (s.trades, s.wins, s.losses) == (6, 2, 4)
    assert s.avg_win_pct == D("0.2")
    assert s.avg_loss_pct == D("0.1125")  # (0.05 + 0.10 + 0.30 + 0) / 4
    assert s.win_rate == D(2) / D(6)
    assert s.payoff == D("0.2") / D("0.1125")
    assert s.kelly == D(2) / D(6) - (1 - D(2) / D(6)) / (D("0.2") / D("0.1125"))
    sb = stats["b"]
    assert (sb.trades, sb.wins, sb.avg_win_pct, sb.avg_loss_pct) == (3, 1, D("0.2"), D("0.15"))
    assert stats["default"] == TradeStats(trades=1, wins=1, avg_win_pct=D("0.1"), avg_loss_pct=D(0))


def test_statistics_count_a_loss_after_costs_as_a_loss() -> None:
    # Gross +1, costs 2: a net loser even though the price went up.
    c = closed(D(100), D("100.1"), D(10), fee=D(1))
    s = TradeStats.from_closed([c])
    assert (s.wins, s.avg_win_pct, s.avg_loss_pct) == (0, 0, D("0.001"))


def test_a_net_gain_under_a_dollar_is_still_a_win() -> None:
    s = TradeStats.from_closed([closed(D(100), D("100.05"), D(10))])  # +0.50
    assert (s.wins, s.avg_win_pct, s.avg_loss_pct) == (1, D("0.0005"), 0)


def test_statistics_of_nothing() -> None:
    s = TradeStats.from_closed([])
    assert (s.trades, s.wins, s.win_rate, s.payoff, s.kelly) == (0, 0, 0, None, 0)
    assert stats_by_strategy([]) == {}


@pytest.mark.parametrize(("stats", "kelly"), [
    (TradeStats(trades=4, wins=4, avg_win_pct=D("0.1"), avg_loss_pct=D(0)), D(1)),  # limit p
    (TradeStats(trades=4, wins=0, avg_win_pct=D(0), avg_loss_pct=D(0)), D(0)),
    (TradeStats(trades=4, wins=2, avg_win_pct=D(0), avg_loss_pct=D(0)), D(0)),  # wins of nothing
    (TradeStats(trades=4, wins=2, avg_win_pct=D(0), avg_loss_pct=D("0.1")), D(-1)),  # b == 0
    (TradeStats(trades=4, wins=3, avg_win_pct=D("0.1"), avg_loss_pct=D("0.2")), D("0.25")),
    (TradeStats(trades=4, wins=1, avg_win_pct=D("0.1"), avg_loss_pct=D("0.1")), D("-0.5")),
])
def test_kelly_fraction(stats: TradeStats, kelly: Decimal) -> None:
    assert stats.kelly == kelly


@given(st.lists(st.tuples(st.integers(50, 150), st.integers(1, 50), st.sampled_from(["long", "short"])),
                min_size=1, max_size=12))
def test_statistics_agree_with_the_closed_positions(
    trades: list[tuple[int, int, str]],
) -> None:
    cs = [closed(D(100), D(exit_), D(q), side=side) for exit_, q, side in trades]
    s = TradeStats.from_closed(cs)
    winners = [c.realized_pnl_pct for c in cs if c.realized_pnl > 0]
    losers = [abs(c.realized_pnl_pct) for c in cs if c.realized_pnl <= 0]
    assert (s.trades, s.wins, s.losses) == (len(cs), len(winners), len(losers))
    assert s.avg_win_pct == (sum(winners, D(0)) / len(winners) if winners else 0)
    assert s.avg_loss_pct == (sum(losers, D(0)) / len(losers) if losers else 0)
    for c, (exit_, _, side) in zip(cs, trades, strict=True):
        sign = 1 if side == "long" else -1
        assert c.realized_pnl_pct == sign * (D(exit_) - 100) / 100


# --- sizing ---------------------------------------------------------------------------------------
EQ = D(100_000)


def test_fixed_and_confidence_sizes() -> None:
    r = size_position("FIXED", EQ, D(40))
    assert (r.method, r.used, r.fraction, r.quantity) == ("fixed", "fixed", D("0.05"), D(125))
    assert r.notional == D(5000) and r.price == D(40)
    r = size_position(SizingMethod.CONFIDENCE, EQ, D(40), confidence=D("0.75"))
    assert (r.fraction, r.quantity) == (D("0.075"), D(187))  # 187.5 rounded down
    at_min = size_position("confidence", EQ, D(40), confidence=D("0.5"))
    assert at_min.fraction == D("0.05")
    below = size_position("confidence", EQ, D(40), confidence=D("0.49"))
    assert (below.fraction, below.quantity) == (0, 0)


@pytest.mark.parametrize("confidence", [D("-0.01"), D("1.01")])
def test_confidence_outside_unit_interval_is_refused(confidence: Decimal) -> None:
    with pytest.raises(InvalidInput, match="confidence"):
        size_position("confidence", EQ, D(40), confidence=confidence)
    assert size_position("confidence", EQ, D(40), confidence=1).fraction == D("0.10")
    assert size_position("fixed", EQ, D(40), confidence=0).quantity == D(125)


def test_volatility_size_and_its_fallback() -> None:
    # 1 % of 100 000 = 1 000 at risk over 2 x ATR 2.50 = 5.00 a share -> 200 shares at $20.
    r = size_position("volatility", EQ, D(20), atr=D("2.5"))
    assert (r.used, r.quantity, r.fraction) == ("volatility", D(200), D("0.04"))
    for atr in (None, D(0), D(-1)):
        f = size_position("volatility", EQ, D(20), atr=atr)
        assert (f.method, f.used, f.fraction) == ("volatility", "fixed", D("0.05"))


@pytest.mark.parametrize(("rvol", "quantity"), [
    (None, D(200)), (D(1), D(200)), (D(2), D(200)),  # heavy volume never enlarges
    (D("0.8"), D(160)), (D("0.5"), D(100)), (D("0.2"), D(100)),  # floored at 0.5
])
def test_thin_volume_shrinks_the_volatility_size(rvol: Decimal | None, quantity: Decimal) -> None:
    r = size_position("volatility", EQ, D(20), atr=D("2.5"), rvol=rvol)
    assert r.quantity == quantity
    assert ("RVOL" in r.reason) is (rvol is not None and rvol < 1)


def test_thin_volume_shrinks_even_a_capped_size() -> None:
    r = size_position("volatility", EQ, D(100), atr=D("0.5"), rvol=D("0.5"))  # 100 % -> cap 10 %
    assert r.fraction == D("0.05") and r.quantity == D(50)


def test_every_method_is_capped() -> None:
    cfg = SizingConfig(fixed_pct=D("0.5"), max_pct=D("0.2"))
    capped = size_position("fixed", EQ, D(10), config=cfg)
    assert capped.fraction == D("0.2") and capped.reason.endswith("; capped at 20.00%")
    at_cap = size_position("fixed", EQ, D(10), config=SizingConfig(fixed_pct=D("0.2"), max_pct=D("0.2")))
    assert at_cap.fraction == D("0.2") and "capped" not in at_cap.reason


def _stats(trades: int, wins: int, win: str = "0.1", loss: str = "0.05") -> TradeStats:
    return TradeStats(trades=trades, wins=wins, avg_win_pct=D(win), avg_loss_pct=D(loss))


def test_kelly_needs_its_minimum_sample() -> None:
    below = size_position("kelly", EQ, D(10), stats=_stats(29, 15))
    assert (below.used, below.fraction) == ("fixed", D("0.05"))
    nothing = size_position("kelly", EQ, D(10))
    assert nothing.used == "fixed" and "kelly needs 30 closed trades, has 0" in nothing.reason
    assert "has 29" in below.reason
    at = size_position("kelly", EQ, D(10), stats=_stats(30, 15))
    # p = 0.5, b = 2: kelly 0.25, half of it 0.125, capped at 0.10.
    assert (at.used, at.fraction) == ("kelly", D("0.10"))
    small = size_position("kelly", EQ, D(10), stats=_stats(40, 16))  # p 0.4: kelly 0.1, half 0.05
    assert small.fraction == D("0.050")
    assert small.quantity == D(500)


def test_kelly_without_edge_sizes_zero() -> None:
    r = size_position("kelly", EQ, D(10), stats=_stats(30, 10))  # p 1/3, b 2: kelly exactly 0
    assert (r.used, r.fraction, r.quantity) == ("kelly", 0, 0)
    even = size_position("kelly", EQ, D(10), stats=_stats(30, 15, "0.1", "0.1"))  # p 0.5, b 1
    assert (even.fraction, even.reason) == (0, "kelly 0.0000 <= 0: no edge, no trade")


def test_quantities_round_down_to_whole_or_fractional_shares() -> None:
    assert size_position("fixed", EQ, D(3)).quantity == D(1666)
    frac = size_position("fixed", EQ, D(3), config=SizingConfig(whole_shares=False))
    assert frac.quantity == D("1666.666666")
    assert size_position("fixed", D(0), D(3)).quantity == 0
    nothing = size_position("fixed", D(-5), D(3))
    assert (nothing.fraction, nothing.quantity, nothing.reason) == (0, 0, "no equity")
    assert size_position("fixed", D(1), D(3)).quantity == 0  # 0.05 of $1 buys no share


@given(st.integers(1, 10**7), st.integers(1, 10**6), st.sampled_from(["fixed", "confidence"]))
def test_size_never_exceeds_the_cap_and_whole_shares_round_down(
    equity: int, price_cents: int, method: str,
) -> None:
    price = D(price_cents) / 100
    r = size_position(method, D(equity), price)
    assert r.notional <= SizingConfig().max_pct * equity
    assert r.quantity == r.quantity.to_integral_value()
    assert r.quantity == (r.fraction * equity / price).to_integral_value(rounding="ROUND_DOWN")


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"fixed_pct": D(0)}, "fixed_pct"), ({"fixed_pct": D("1.01")}, "fixed_pct"),
    ({"min_confidence": D("-0.1")}, "min_confidence"), ({"kelly_min_trades": 0}, "kelly_min_trades"),
    ({"kelly_min_trades": True}, "kelly_min_trades"), ({"atr_multiple": D(0)}, "atr_multiple"),
    ({"rvol_floor": D("1.5")}, "rvol_floor"), ({"max_pct": D(2)}, "max_pct"),
    ({"risk_per_trade_pct": D(0)}, "risk_per_trade_pct"), ({"confidence_pct": D(0)}, "confidence_pct"),
    ({"kelly_fraction": D(0)}, "kelly_fraction"), ({"kelly_cap": D(0)}, "kelly_cap"),
])
def test_bad_sizing_parameters_name_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput, match=rf"^invalid {field}:"):
        SizingConfig(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"equity": "lots"}, "equity"), ({"confidence": "sure"}, "confidence"),
    ({"rvol": "thin", "atr": D(1)}, "rvol"), ({"atr": "wide"}, "atr"), ({"price": D(0)}, "price"),
])
def test_bad_sizing_inputs_name_the_field(kwargs: dict[str, object], field: str) -> None:
    args: dict[str, object] = {"equity": EQ, "price": D(10), **kwargs}
    equity, price = args.pop("equity"), args.pop("price")
    with pytest.raises(InvalidInput, match=rf"^invalid {field}:"):
        size_position("volatility", equity, price, **args)  # type: ignore[arg-type]


def test_sizing_parameter_bounds_are_inclusive_where_documented() -> None:
    c = SizingConfig(fixed_pct=D(1), min_confidence=D(0), kelly_min_trades=1, max_pct=D(1))
    assert (c.fixed_pct, c.min_confidence, c.kelly_min_trades) == (1, 0, 1)
    assert SizingConfig(min_confidence=D(1)).min_confidence == 1
