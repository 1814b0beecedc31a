"""A strategy written against the one strategy protocol, runnable two ways.

From the command line (the current folder is importable, so copy this file next to you or
run from docs/examples)::

    cd docs/examples
    catalyst backtest --strategy my_strategy:Breakout --db sqlite:///breakout.db

From Python (``python docs/examples/my_strategy.py``): the same class in the simulator,
one instance per ticker, its BUY/SELL signals sized and risk-checked by the engine's
source or turned into orders directly by ``run_strategy``.

The protocol: ``on_bar(bar, ctx) -> signals | None``. ``bar`` has ``ticker, ts, open,
high, low, close, volume``; ``ctx.buy(ticker, qty)``, ``ctx.sell``, ``ctx.close(ticker)``
act on the bar just seen. A class given to ``--strategy`` is made once per ticker.
"""

from __future__ import annotations

import sys
from collections import deque
from decimal import Decimal
from pathlib import Path
from typing import Any


class Breakout:
    """Buy a close above the highest close of the last ``window`` bars; sell one below
    the lowest."""

    def __init__(self, window: int = 20, quantity: float = 100) -> None:
        self.window, self.quantity = window, quantity
        self.closes: deque[float] = deque(maxlen=window)
        self.long = False

    def on_bar(self, bar: Any, ctx: Any) -> None:
        """Look at one bar of this strategy's ticker."""
        full = len(self.closes) == self.window
        if full and not self.long and bar.close > max(self.closes):
            ctx.buy(bar.ticker, self.quantity)
            self.long = True
        elif full and self.long and bar.close < min(self.closes):
            ctx.close(bar.ticker)
            self.long = False
        self.closes.append(bar.close)


def main() -> None:
    """Run ``Breakout`` over the bundled sample in the simulator and print the result."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from adapters.data.sample import sample_paths
    from adapters.simulated import ExchangeConfig, SimulatedExchange
    from adapters.simulated.replay import (
        CsvSource,
        PerTicker,
        ReplayClock,
        ReplayEngine,
        run_strategy,
    )

    clock = ReplayClock()
    exchange = SimulatedExchange(ExchangeConfig(starting_cash=Decimal(100_000)), clock=clock)
    replay = ReplayEngine([CsvSource(sample_paths().prices)], clock)
    per_ticker = PerTicker(lambda: Breakout(window=20, quantity=50))
    run_strategy(replay, exchange, per_ticker)
    print(f"tickers {len(per_ticker.strategies)}, equity {exchange.equity_f():.2f}")


if __name__ == "__main__":
    main()
