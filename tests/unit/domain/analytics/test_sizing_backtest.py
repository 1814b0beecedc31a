"""The sizing backtester: alerts become size-free trades without look-ahead; replays respect
caps and never commit more than the equity."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.alerts import Alert
from domain.analytics.sizing_backtest import (
    DailyBars,
    TradeRecord,
    compare,
    max_drawdown,
    replay,
    sharpe,
    trades_from_alerts,
)
from domain.risk.sizing import SizingMethod
from domain.values import PositionSide

D = Decimal


def _bars(n: int = 40, *, crash_at: int | None = None) -> DailyBars:
    days = tuple(date(2024, 1, 1) + timedelta(days=i) for i in range(n))
    close = np.full(n, 100.0)
    if crash_at is not None:
        close[crash_at:] = 80.0
    op = close.copy()
    hi, lo = close + 1.0, close - 1.0
    vol = np.full(n, 1_000.0)
    return DailyBars(days, op, hi, lo, close, vol)


def _alert(known: datetime, sentiment: float = 1.0, score: float = 0.8) -> Alert:
    return Alert(id="a", ticker="AAPL", known_at=known, catalyst_type="earnings", score=score,
                 sentiment=sentiment)


def test_alert_is_entered_at_the_first_open_after_it_is_known() -> None:
    b = _bars()
    # known at 15:00 UTC on day 20 = 10:00 New York: after that day's open -> day 21
    t = trades_from_alerts({"AAPL": b}, [_alert(datetime(2024, 1, 21, 15, tzinfo=UTC))])
    assert len(t) == 1 and t[0].opened_at.date() == date(2024, 1, 22)
    assert t[0].rvol == D("1.0")  # 20 sessions of volume before the previous one
    # known at 14:30 UTC in January = 09:30 New York: that very open
    t = trades_from_alerts({"AAPL": b}, [_alert(datetime(2024, 1, 21, 14, 30, tzinfo=UTC))])
    assert t[0].opened_at.date() == date(2024, 1, 21)
    assert t[0].confidence == 0.8 and t[0].rvol is None  # not 21 sessions of history yet


def test_stop_gap_is_filled_at_the_open_not_at_the_stop() -> None:
    b = _bars(crash_at=25)  # gaps from 100 to 80 through a 2-ATR stop near 96
    t = trades_from_alerts({"AAPL": b}, [_alert(datetime(2024, 1, 23, 14, 30, tzinfo=UTC))])
    assert t[0].exit_price == D("80.0") and t[0].closed_at.date() == date(2024, 1, 26)
    short = trades_from_alerts({"AAPL": b},
                               [_alert(datetime(2024, 1, 23, 14, 30, tzinfo=UTC), -1.0)])
    assert short[0].side is PositionSide.SHORT and short[0].return_pct > 0


def test_alert_without_enough_history_or_future_is_skipped() -> None:
    b = _bars(20)
    assert trades_from_alerts({"AAPL": b}, [_alert(datetime(2024, 1, 2, tzinfo=UTC))]) == []
    assert trades_from_alerts({"AAPL": b}, [_alert(datetime(2024, 1, 19, tzinfo=UTC))]) == []
    assert trades_from_alerts({"MSFT": b}, [_alert(datetime(2024, 1, 10, tzinfo=UTC))]) == []


_T0 = datetime(2024, 1, 1, tzinfo=UTC)
trade_st = st.builds(
    lambda day, hold, ret, conf: TradeRecord(
        ticker="AAPL", side=PositionSide.LONG, entry_price=D(100),
        exit_price=D(100) * (1 + D(ret) / 1000), opened_at=_T0 + timedelta(days=day),
        closed_at=_T0 + timedelta(days=day + hold), confidence=conf, atr=D(2)),
    st.integers(0, 200), st.integers(1, 10), st.integers(-150, 150),
    st.floats(0, 1, allow_nan=False),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(trade_st, max_size=40))
def test_no_method_commits_more_than_equity_or_sizes_above_the_cap(
    trades: list[TradeRecord],
) -> None:
    for r in compare(trades):
        assert r.trades_taken + r.trades_skipped == len(trades)
        assert r.avg_fraction <= 0.10 + 1e-9
        assert r.final_equity > 0
        assert 0 <= r.max_drawdown < 1


def test_kelly_replay_uses_only_trades_closed_before_the_entry() -> None:
    # 40 winners that all close after the last entry: Kelly never has its sample
    trades = [TradeRecord(ticker="AAPL", side=PositionSide.LONG, entry_price=D(100),
                          exit_price=D(110), opened_at=_T0 + timedelta(hours=i),
                          closed_at=_T0 + timedelta(days=30)) for i in range(40)]
    r = replay(trades, SizingMethod.KELLY)
    f = replay(trades, SizingMethod.FIXED)
    assert r.final_equity == f.final_equity


def test_drawdown_and_sharpe_helpers() -> None:
    assert max_drawdown([100, 120, 90, 130]) == 0.25
    assert max_drawdown([1, 2, 3]) == 0.0
    assert sharpe([100, 100, 100]) == 0.0
    assert sharpe([100, 101, 102.5, 103]) > 0
