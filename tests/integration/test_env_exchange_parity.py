"""One simulator, three users: the RL env fills and charges exactly like the simulated exchange.

The env trades fractional shares at the next bar's open; the same actions, turned into market
orders on the simulated exchange over the same real bars, must give the same fill prices,
commissions, cash and holdings.
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
from domain.costs import RL_TICKET_COSTS, CostModel
from domain.events import OrderFilled
from domain.market_data.features import TickerFeatures
from domain.values import Side

_DAY_CLOSE_NS = 20 * 3600 * 10**9  # bars stamped at 20:00 UTC of their date


def _bar_ns(f: TickerFeatures, i: int) -> int:
    return int(f.dates[i].astype("datetime64[ns]").astype(np.int64)) + _DAY_CLOSE_NS


@pytest.mark.parametrize("costs", [RL_TICKET_COSTS, CostModel(commission_bps=3.0,
                                                             commission_per_share=0.005,
                                                             commission_per_order=1.0,
                                                             slippage_bps=7.0)])
@pytest.mark.parametrize("ticker", ["AAPL", "XOM"])
def test_env_when_same_actions_on_same_bars_then_fills_and_costs_equal_exchange(
    ticker: str, costs: CostModel
) -> None:
    f = sample_panel("train")[ticker]
    start_cash = 100_000.0
    env = CatalystTradingEnv(f, EnvConfig(costs=costs, initial_balance=start_cash,
                                          random_start=False))
    env.reset(seed=0, options={"start": 0})
    rng = np.random.default_rng(7)
    actions = rng.uniform(-1, 1, size=300)

    clock = TestClock(datetime(2000, 1, 1, tzinfo=UTC))
    ex = SimulatedExchange(
        ExchangeConfig(starting_cash=Decimal(start_cash), costs=costs, participation=None,
                       calendar=None, margin_multiplier=Decimal(2), allow_short=False),
        clock,
    )
    assert f.high is not None and f.low is not None

    def feed(i: int) -> None:
        ex.on_bar(ticker, _bar_ns(f, i), float(f.open[i]), float(f.high[i]), float(f.low[i]),
                  float(f.close[i]), 1e9)
        clock.set(datetime.fromtimestamp(_bar_ns(f, i) / 1e9, tz=UTC))

    feed(0)
    compared = 0
    for t, a in enumerate(actions):
        before = env.unwrapped._shares  # noqa: SLF001 - reading the env's book, not changing it
        _, _, terminated, truncated, info = env.step(np.array([a], dtype=np.float32))
        qty = abs(info["shares"] - before)
        if "fill_price" in info:
            side = Side.BUY if a > 0 else Side.SELL
            ex.submit_order(SubmitOrder(client_order_id=f"p-{t}", ticker=ticker, side=side,
                                        quantity=Decimal(repr(qty))))
        feed(t + 1)
        fills = [e.fill for e in ex.poll_events() if isinstance(e, OrderFilled)]
        if "fill_price" in info:
            assert len(fills) == 1, f"step {t}: exchange fills {fills}"
            fill = fills[0]
            assert float(fill.price) == info["fill_price"], f"step {t}"
            assert float(fill.commission) == pytest.approx(info["commission"], abs=1e-6)
            compared += 1
        else:
            assert fills == []
        # the exchange books commissions in Decimal rounded to 1e-6: <= 5e-7 per fill
        assert float(ex.cash) == pytest.approx(info["cash"], abs=5e-7 * (compared + 1))
        held = ex.pos_f.get(ticker, 0.0)
        assert held == pytest.approx(info["shares"], rel=1e-9, abs=1e-9)
        if terminated or truncated:
            break
    assert compared > 100
