"""The rule-strategy runner on synthetic bars and alerts with a planted edge, and on noise.

Alerts with a score of 0.7 or more are followed by a 3 % move in their sentiment's
direction over the next sessions; lower-scored alerts by a 3 % move against it. Prices
otherwise drift nowhere. A confidence threshold of 0.7 reveals the edge: walk-forward picks
it in the train windows and it keeps earning out of sample.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np

from adapters.validation.executors import InProcessExecutor
from adapters.validation.rules import RuleWindowRunner, expand_grid
from adapters.validation.store import MemoryWalkForwardStore
from application.walk_forward import plan_jobs, walk_forward
from domain.alerts import Alert
from domain.analytics.sizing_backtest import DailyBars
from domain.validation.windows import Span, walk_forward_windows

N = 1000
TICKERS = ("AAA", "BBB", "CCC", "DDD")


def _market(seed: int, edge: bool) -> tuple[dict[str, DailyBars], tuple[Alert, ...], list[dt.date]]:
    rng = np.random.default_rng(seed)
    days: list[dt.date] = []
    d = dt.date(2015, 1, 5)
    while len(days) < N:
        if d.weekday() < 5:
            days.append(d)
        d += dt.timedelta(days=1)
    bars: dict[str, DailyBars] = {}
    alerts: list[Alert] = []
    for t in TICKERS:
        r = rng.normal(0.0, 0.005, N)
        for k in range(30, N - 10, 7):
            score = float(rng.uniform(0.3, 1.0))
            sentiment = float(rng.choice([-1.0, 1.0]))
            if edge:
                sign = sentiment if score >= 0.7 else -sentiment
                r[k:k + 3] += sign * 0.01  # about 3 % over the three sessions after the alert
            known = dt.datetime.combine(days[k - 1], dt.time(20, 0), dt.UTC)
            alerts.append(Alert(id=f"{t}-{k}", ticker=t, known_at=known, catalyst_type="earnings",
                                score=score, sentiment=sentiment))
        close = 100 * np.cumprod(1 + r)
        open_ = np.concatenate([[100.0], close[:-1]])
        bars[t] = DailyBars(
            dates=tuple(days), open=open_, high=np.maximum(open_, close) * 1.002,
            low=np.minimum(open_, close) * 0.998, close=close, volume=np.full(N, 1e6),
        )
    return bars, tuple(alerts), days


def _run(seed: int, edge: bool, grid: dict[str, list[object]], cost: str = "0.003"):
    bars, alerts, days = _market(seed, edge)
    runner = RuleWindowRunner(bars=bars, alerts=alerts, calendar=tuple(days),
                              grid=tuple(expand_grid(grid)), cost=Decimal(cost))
    ws = walk_forward_windows(N, train=Span(300), test=Span(140), embargo=5)
    return walk_forward(runner, InProcessExecutor(), plan_jobs(days, ws, {}),
                        MemoryWalkForwardStore(), "rules")


def test_the_planted_edge_is_found_in_the_train_windows_and_pays_out_of_sample() -> None:
    rep = _run(1, True, {"threshold": [0.0, 0.3, 0.5, 0.7, 0.8, 0.9],
                         "sizing": ["fixed"], "hold_days": [3]})
    chosen = [w.chosen_candidate["params"]["threshold"] for w in rep.windows]
    assert all(th >= 0.7 for th in chosen), chosen
    assert rep.summary.share_beating_buy_and_hold >= 0.75
    assert rep.summary.share_beating_random >= 0.75
    assert rep.summary.oos_total_return > 0
    assert rep.pbo is not None and rep.pbo.pbo < 0.25


def test_alerts_without_an_edge_are_overfit() -> None:
    # Without costs: with them, trading less is itself a persistent edge that CSCV rightly finds.
    rep = _run(2, False, {"threshold": [0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9],
                          "sizing": ["fixed", "confidence"], "hold_days": [2, 3, 5]}, cost="0")
    assert rep.pbo is not None and rep.pbo.pbo >= 0.3
    assert not rep.deflated_sharpe.significant()


def _trade_runner() -> tuple[RuleWindowRunner, list[dt.date]]:
    days = [dt.date(2020, 1, 6) + dt.timedelta(days=i) for i in range(5)]
    bars = {"AAA": DailyBars(
        dates=tuple(days),
        open=np.array([100.0, 100.0, 101.0, 101.5, 103.0]),
        high=np.array([100.5, 101.0, 102.5, 103.0, 104.0]),
        low=np.array([99.5, 99.5, 100.5, 97.0, 102.5]),
        close=np.array([100.0, 100.8, 101.6, 98.0, 103.5]),
    )}
    return RuleWindowRunner(bars=bars, alerts=(), calendar=tuple(days), grid=({},)), days


def _trade(days: list[dt.date], exit_price: str, exit_day: int) -> object:
    from domain.analytics.sizing_backtest import TradeRecord
    from domain.values import PositionSide

    return TradeRecord(
        ticker="AAA", side=PositionSide.LONG, entry_price=Decimal("100"),
        exit_price=Decimal(exit_price),
        opened_at=dt.datetime.combine(days[1], dt.time.min, dt.UTC),
        closed_at=dt.datetime.combine(days[exit_day], dt.time.max, dt.UTC),
        atr=Decimal("1"),
    )


def test_a_profit_target_closes_the_trade_when_reached_first() -> None:
    runner, days = _trade_runner()
    t = _trade(days, "98.0", 3)  # a time exit at the close of session 3
    got = runner._with_target(t, 2.0)  # target 102: session 2's high of 102.5 reaches it
    assert got.exit_price == Decimal("102.0") and got.closed_at.date() == days[2]
    assert runner._with_target(t, 5.0) == t  # never reached: the original exit stands
    got = runner._with_target(t, 2.8)  # 102.8 first reached in session 3 (a time exit)
    assert got.exit_price == Decimal("102.8") and got.closed_at.date() == days[3]


def test_the_stop_fills_first_on_its_session() -> None:
    runner, days = _trade_runner()
    t = _trade(days, "98.5", 3)  # stopped in session 3 (low 97), whose high is 103
    assert runner._with_target(t, 1.9) != t  # 101.9 was reached in session 2 already
    got = runner._with_target(t, 2.0)  # 102 is reached in session 2 (high 102.5) as well
    assert got.closed_at.date() == days[2]
    assert runner._with_target(t, 2.8) == t  # 102.8 only in the stop session: the stop wins
