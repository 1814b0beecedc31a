"""Per-ticker trades of a shared multi-ticker replay equal backtrader's.

The same long-only SMA(10)/SMA(30) crossover (buy 100 at the next open after a cross up, close
after a cross down, no costs) runs over one panel: tickers starting and ending on different
days, missing sessions, and exact SMA ties after long stretches of cent prices (where running
sums drift). Ours runs all tickers in one replay (one ``SmaCross`` per ticker); backtrader runs
each ticker in its own ``Cerebro`` with ``CrossOver(SMA, SMA)``. Orders are ``gtc`` on our side
because backtrader's orders wait for the ticker's next bar across a missing session (ours
default to ``day``, which expires at the session's close; see docs/simulator.md).
"""

from __future__ import annotations

import math
from datetime import date
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pytest

from adapters.data.calendar import sessions_between
from adapters.simulated import ExchangeConfig, SimulatedExchange
from adapters.simulated.examples import SmaCross
from adapters.simulated.replay import ArraySource, PerTicker, ReplayClock, ReplayEngine, run_strategy
from domain.events import OrderFilled

bt = pytest.importorskip("backtrader")

FAST, SLOW, QTY = 10, 30, 100
Trade = tuple[date, str, float, float]


def _prefix(mult: int, n: int) -> list[float]:
    return [round(100 + 7 * math.sin(i * 0.37) + 0.01 * ((i * 7919 * mult) % 97), 2)
            for i in range(n)]


def _walk(seed: int, n: int) -> list[float]:
    rng = np.random.default_rng(seed)
    return [float(x) for x in np.round(80 * np.exp(np.cumsum(rng.normal(0, 0.015, n))), 2)]


def panel() -> pd.DataFrame:
    """Four tickers on XNYS sessions: two end in an exact tie (up / down), two random walks
    with missing sessions and their own first and last days."""
    days = sessions_between("2004-01-02", "2020-12-31")
    series = {
        "TIEU": (0, _prefix(1, 3000) + [60.0, 59.0, 58.0] + [50.5] * 30 + [51.5, 52.5]),
        "TIED": (150, _prefix(4, 3000) + [150.5] * 30 + [149.5, 148.5]),
        "WLKA": (400, _walk(11, 2500)),
        "WLKB": (37, _walk(12, 3300)),
    }
    rng = np.random.default_rng(5)
    frames = []
    for k, (ticker, (start, closes)) in enumerate(series.items()):
        c = np.asarray(closes)
        prev = np.concatenate(([c[0]], c[:-1]))
        o = np.round(prev * (1 + rng.normal(0, 0.004, len(c))), 2)
        h = np.round(np.maximum(o, c) * (1 + rng.uniform(0, 0.01, len(c))), 2)
        lo = np.round(np.minimum(o, c) * (1 - rng.uniform(0, 0.01, len(c))), 2)
        keep = np.ones(len(c), dtype=bool)
        if k >= 2:  # the random walks miss about 3 % of their sessions
            keep[1:] = rng.uniform(0, 1, len(c) - 1) > 0.03
        frames.append(pd.DataFrame({
            "date": days[start:start + len(c)][keep], "ticker": ticker, "open": o[keep],
            "high": h[keep], "low": lo[keep], "close": c[keep], "volume": 1e6}))
    return pd.concat(frames).sort_values(["date", "ticker"], kind="stable").reset_index(
        drop=True)


def ours(df: pd.DataFrame) -> dict[str, list[Trade]]:
    clock = ReplayClock()
    ex = SimulatedExchange(ExchangeConfig(starting_cash=Decimal(10**9), participation=None),
                           clock=clock)
    run_strategy(ReplayEngine(ArraySource.from_frame(df), clock), ex,
                 PerTicker(lambda: SmaCross(FAST, SLOW, QTY, time_in_force="gtc")))
    out: dict[str, list[Trade]] = {}
    for e in ex.poll_events():
        if isinstance(e, OrderFilled):
            f = e.fill
            day = pd.Timestamp(f.ts_event).tz_convert("America/New_York").date()
            out.setdefault(f.ticker, []).append(
                (day, f.side.value, float(f.quantity), float(f.price)))
    return out


def backtrader(df: pd.DataFrame, ticker: str) -> list[Trade]:
    rows = df[df["ticker"] == ticker].set_index(pd.DatetimeIndex(df.loc[
        df["ticker"] == ticker, "date"]))[["open", "high", "low", "close", "volume"]]
    trades: list[Trade] = []

    class Sma(bt.Strategy):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            self.x = bt.ind.CrossOver(bt.ind.SMA(period=FAST), bt.ind.SMA(period=SLOW))

        def notify_order(self, order: Any) -> None:
            if order.status == order.Completed:
                trades.append((bt.num2date(order.executed.dt).date(),
                               "buy" if order.isbuy() else "sell", abs(order.executed.size),
                               order.executed.price))

        def next(self) -> None:
            if not self.position:
                if self.x[0] > 0:
                    self.buy(size=QTY)
            elif self.x[0] < 0:
                self.close()

    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(bt.feeds.PandasData(dataname=rows))
    cerebro.addstrategy(Sma)
    cerebro.broker.setcash(1e9)
    cerebro.run()
    return trades


def test_each_tickers_trades_in_a_shared_replay_equal_backtraders() -> None:
    df = panel()
    got = ours(df)
    for ticker in sorted(df["ticker"].unique()):
        want = backtrader(df, ticker)
        assert len(want) > 10, ticker
        assert got.get(ticker, []) == want, ticker


def test_the_tie_tickers_cross_on_the_bar_after_the_tie() -> None:
    df = panel()
    got = ours(df)
    for ticker, tie_index in (("TIEU", 3032), ("TIED", 3029)):
        days = df.loc[df["ticker"] == ticker, "date"].to_numpy()
        # the signal comes on the bar after the tie, the fill at the open of the one after
        fill_day = pd.Timestamp(days[tie_index + 2]).date()
        assert got[ticker][-1][0] == fill_day, ticker
