"""The RL env and the simulated exchange agree under every slippage model of the cost model.

The backtest builds its exchange from a :class:`~domain.costs.CostModel` (``slippage_model``,
``spread_bps``, ``volatility_factor``); the env reads the same value. The same actions on the
same bars must give the same fill prices and commissions under the spread and volatility models.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import pytest

from adapters.data.features import sample_panel
from adapters.rl.env import CatalystTradingEnv, EnvConfig
from adapters.simulated import ExchangeConfig, SimulatedExchange
from domain.clock import TestClock
from domain.commands import SubmitOrder
from domain.costs import CostModel
from domain.events import OrderFilled
from domain.values import Side

_DAY_CLOSE_NS = 20 * 3600 * 10**9


@pytest.mark.parametrize("costs", [
    CostModel(commission_bps=10.0, slippage_bps=2.0, slippage_model="spread", spread_bps=8.0),
    CostModel(commission_bps=10.0, slippage_bps=1.0, slippage_model="volatility",
              volatility_factor=0.05, min_commission=1.0),
], ids=["spread", "volatility"])
def test_env_when_slippage_model_then_fills_equal_the_exchanges(costs: CostModel) -> None:
    f = sample_panel("train")["MSFT"]
    assert f.high is not None and f.low is not None
    env = CatalystTradingEnv(f, EnvConfig(costs=costs, random_start=False))
    env.reset(seed=0, options={"start": 0})
    clock = TestClock(datetime(2000, 1, 1, tzinfo=UTC))
    # the wiring of `catalyst backtest` / `run`: the cost model's slippage settings
    ex = SimulatedExchange(ExchangeConfig(
        starting_cash=Decimal(100_000), costs=costs, slippage_model=costs.slippage_model,
        spread_bps=costs.spread_bps, volatility_factor=costs.volatility_factor,
        participation=None, calendar=None, margin_multiplier=Decimal(2), allow_short=False),
        clock)

    def feed(i: int) -> None:
        ns = int(f.dates[i].astype("datetime64[ns]").astype(np.int64)) + _DAY_CLOSE_NS
        ex.on_bar("MSFT", ns, float(f.open[i]), float(f.high[i]), float(f.low[i]),  # type: ignore[index]
                  float(f.close[i]), 1e9)
        clock.set(datetime.fromtimestamp(ns / 1e9, tz=UTC))

    feed(0)
    actions = np.random.default_rng(3).uniform(-1, 1, size=200)
    compared = 0
    for t, a in enumerate(actions):
        before = env.unwrapped._shares  # noqa: SLF001 - reading the env's book
        _, _, term, trunc, info = env.step(np.array([a], dtype=np.float32))
        if "fill_price" in info:
            ex.submit_order(SubmitOrder(client_order_id=f"m-{t}", ticker="MSFT",
                                        side=Side.BUY if a > 0 else Side.SELL,
                                        quantity=Decimal(repr(abs(info["shares"] - before)))))
        feed(t + 1)
        fills = [e.fill for e in ex.poll_events() if isinstance(e, OrderFilled)]
        if "fill_price" in info:
            assert len(fills) == 1
            assert float(fills[0].price) == info["fill_price"], f"step {t}"
            assert float(fills[0].commission) == pytest.approx(info["commission"], abs=1e-6)
            compared += 1
        if term or trunc:
            break
    assert compared > 50
