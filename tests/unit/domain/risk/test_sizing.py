"""Sizing: every method respects its cap; Kelly needs a sample, is halved and capped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from domain.position import ClosedPosition
from domain.risk import SizingConfig, SizingMethod, TradeStats, size_position, stats_by_strategy
from domain.values import ExitReason, PositionSide

D = Decimal
T0 = datetime(2024, 1, 2, tzinfo=UTC)


@given(st.sampled_from(list(SizingMethod)), st.integers(0, 5_000_000).map(D),
       st.integers(1, 200_000).map(lambda c: D(c) / 100), st.integers(0, 100),
       st.one_of(st.none(), st.integers(1, 5_000).map(lambda c: D(c) / 100)),
       st.integers(0, 200), st.integers(0, 200))
def test_no_method_sizes_above_its_cap_or_below_zero(
    method: SizingMethod, equity: Decimal, price: Decimal, conf: int, atr: Decimal | None,
    wins: int, losses: int,
) -> None:
    stats = TradeStats(trades=wins + losses, wins=wins, avg_win_pct=D("0.08"),
                       avg_loss_pct=D("0.04"))
    cfg = SizingConfig()
    r = size_position(method, equity, price, config=cfg, confidence=D(conf) / 100, atr=atr,
                      stats=stats)
    assert r.quantity >= 0 and r.quantity == r.quantity.to_integral_value()
    assert r.notional <= cfg.max_pct * max(equity, D(0))
    assert D(0) <= r.fraction <= cfg.max_pct


def test_kelly_waits_for_its_sample_then_applies_half_and_cap() -> None:
    cfg = SizingConfig(kelly_cap=D("0.5"), max_pct=D("0.5"))
    few = TradeStats(trades=29, wins=20, avg_win_pct=D("0.1"), avg_loss_pct=D("0.05"))
    r = size_position("kelly", D(100_000), D(100), config=cfg, stats=few)
    assert r.used is SizingMethod.FIXED and "30" in r.reason
    enough = TradeStats(trades=30, wins=18, avg_win_pct=D("0.1"), avg_loss_pct=D("0.05"))
    assert enough.kelly == D("0.6") - D("0.4") / 2  # p - q / b = 0.4
    r = size_position("kelly", D(100_000), D(100), config=cfg, stats=enough)
    assert r.used is SizingMethod.KELLY and r.fraction == D("0.2") and r.quantity == 200
    r = size_position("kelly", D(100_000), D(100), stats=enough)  # default cap 10 %
    assert r.fraction == D("0.10") and r.quantity == 100


def test_kelly_without_edge_sizes_zero() -> None:
    bad = TradeStats(trades=40, wins=10, avg_win_pct=D("0.05"), avg_loss_pct=D("0.05"))
    assert bad.kelly < 0
    r = size_position("kelly", D(100_000), D(100), stats=bad)
    assert r.quantity == 0 and "no edge" in r.reason


@given(st.integers(30, 200), st.integers(0, 100), st.integers(0, 100))
def test_kelly_grows_with_win_rate(n: int, a: int, b: int) -> None:
    lo, hi = sorted((a * n // 100, b * n // 100))
    s1 = TradeStats(trades=n, wins=lo, avg_win_pct=D("0.06"), avg_loss_pct=D("0.04"))
    s2 = TradeStats(trades=n, wins=hi, avg_win_pct=D("0.06"), avg_loss_pct=D("0.04"))
    assert s1.kelly <= s2.kelly


def test_confidence_and_volatility_scale() -> None:
    hi = size_position("confidence", D(100_000), D(50), confidence=1)
    mid = size_position("confidence", D(100_000), D(50), confidence=D("0.6"))
    low = size_position("confidence", D(100_000), D(50), confidence=D("0.4"))
    assert hi.quantity == 200 and mid.quantity == 120 and low.quantity == 0
    calm = size_position("volatility", D(100_000), D(50), atr=D(2))  # 1000 / 4 = 250 sh = 12.5 %
    wild = size_position("volatility", D(100_000), D(50), atr=D(5))  # 1000 / 10 = 100 sh
    assert calm.quantity == 200 and wild.quantity == 100  # calm one capped at 10 %
    none = size_position("volatility", D(100_000), D(50))
    assert none.used is SizingMethod.FIXED and none.quantity == 100


def _closed(i: int, pnl: str, strategy: str | None) -> ClosedPosition:
    p = D(pnl)
    return ClosedPosition(
        position_id=f"p{i}", ticker="AAPL", side=PositionSide.LONG, quantity=D(10),
        entry_price=D(100), exit_price=D(100) + p / 10, realized_pnl=p, gross_pnl=p,
        commission=D(0), realized_pnl_pct=p / 1000, opened_at=T0,
        closed_at=T0 + timedelta(days=i), exit_reason=ExitReason.SIGNAL,
        max_unrealized_pnl=D(0), max_unrealized_pnl_pct=D(0), min_unrealized_pnl=D(0),
        min_unrealized_pnl_pct=D(0), max_drawdown_pct=D(0), strategy=strategy,
    )


def test_stats_are_tracked_per_strategy_over_closed_positions() -> None:
    closed = [_closed(0, "50", "a"), _closed(1, "-25", "a"), _closed(2, "100", "a"),
              _closed(3, "-10", None)]
    s = stats_by_strategy(closed)
    assert set(s) == {"a", "default"}
    a = s["a"]
    assert (a.trades, a.wins, a.losses) == (3, 2, 1)
    assert a.avg_win_pct == D("0.075") and a.avg_loss_pct == D("0.025")
    assert a.payoff == 3 and a.win_rate == D(2) / D(3)
    assert s["default"].kelly < 0


def test_volatility_size_shrinks_on_thin_volume_but_never_grows_on_heavy() -> None:
    base = size_position("volatility", D(100_000), D(50), atr=D(5))  # 100 sh
    thin = size_position("volatility", D(100_000), D(50), atr=D(5), rvol=D("0.8"))
    dead = size_position("volatility", D(100_000), D(50), atr=D(5), rvol=D("0.1"))
    busy = size_position("volatility", D(100_000), D(50), atr=D(5), rvol=D(4))
    assert (base.quantity, thin.quantity, dead.quantity, busy.quantity) == (100, 80, 50, 100)
    assert "RVOL 0.8" in thin.reason


def test_thin_volume_shrinks_even_a_capped_volatility_size() -> None:
    calm = size_position("volatility", D(100_000), D(50), atr=D(2), rvol=D("0.8"))
    assert calm.quantity == 160  # capped at 200 shares, then x 0.8
