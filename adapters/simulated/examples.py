"""Example strategies for the bar-strategy API (also used by the benchmark)."""

from __future__ import annotations

from adapters.simulated.replay import BarView, StrategyContext

__all__ = ["SmaCross"]


class SmaCross:
    """Long-only SMA(fast)/SMA(slow) crossover with running sums (O(1) per bar).

    Buys ``quantity`` shares (all-in when None) at the next open after the fast average
    crosses above the slow one and closes the position after it crosses below. Crossings
    compare the previous and current differences strictly, like backtrader's CrossOver.
    One instance per ticker.
    """

    def __init__(self, fast: int = 10, slow: int = 30, quantity: float | None = 100) -> None:
        if not 0 < fast < slow:
            raise ValueError(f"invalid windows: fast {fast}, slow {slow}; expected 0 < fast < slow")
        self.fast, self.slow, self.quantity = fast, slow, quantity
        self._ring = [0.0] * slow
        self._n = 0
        self._sf = 0.0
        self._ss = 0.0
        self._prev: float | None = None
        self._long = False
        self.signals = 0

    def on_bar(self, bar: BarView, ctx: StrategyContext) -> None:
        """Update the averages and trade on a crossing."""
        c = bar.close
        i = self._n
        self._n = i + 1
        ring, f, s = self._ring, self.fast, self.slow
        k = i % s
        if i >= f:
            self._sf += c - ring[(i - f) % s]
        else:
            self._sf += c
        if i >= s:
            self._ss += c - ring[k]
        else:
            self._ss += c
        ring[k] = c
        if i < s - 1:
            return
        diff = self._sf / f - self._ss / s
        prev = self._prev
        self._prev = diff
        if prev is None:
            return
        if prev < 0.0 < diff and not self._long:
            self._long = True
            self.signals += 1
            q = self.quantity if self.quantity is not None else int(ctx.cash // c)
            ctx.buy(bar.ticker, q)
        elif prev > 0.0 > diff and self._long:
            self._long = False
            self.signals += 1
            ctx.close(bar.ticker)
