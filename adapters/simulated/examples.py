"""Example strategies for the bar-strategy API (also used by the benchmark)."""

from __future__ import annotations

from math import fsum

from adapters.simulated.replay import BarView, StrategyContext

__all__ = ["SmaCross"]

# the running sums are rebuilt exactly this often (bars), so their rounding error stays far
# below the tie tolerance however long the run
_RESYNC = 4096
# a running difference within this fraction of the largest price seen is recomputed exactly
_TIE_TOL = 1e-9


class SmaCross:
    """Long-only SMA(fast)/SMA(slow) crossover, crossing exactly like backtrader's CrossOver.

    Buys ``quantity`` shares (all-in when None) at the next open after the fast average
    crosses above the slow one and closes the position after it crosses below. One instance
    per ticker (:class:`~adapters.simulated.replay.PerTicker` makes one for each).

    Crossings follow backtrader's ``CrossOver`` exactly: the averages are ``fsum(window) /
    period`` (backtrader's ``Average``); a crossing up needs the last *non-zero* difference
    fast - slow to be negative and the current one positive (down: mirrored), so an exact
    tie (difference 0) neither crosses nor resets the side, and the bar after it crosses if
    the averages part the other way. The averages are kept as running sums (O(1) per bar);
    a difference so small that their rounding could matter is recomputed exactly, so a tie
    is a tie and its sign never depends on the history of the sums.

    ``time_in_force`` is passed to the orders (the exchange's default, ``day``, when None;
    ``"gtc"`` lets a market order wait for the ticker's next bar across a missing session,
    as backtrader's default orders do).
    """

    def __init__(self, fast: int = 10, slow: int = 30, quantity: float | None = 100,
                 time_in_force: str | None = None) -> None:
        if not 0 < fast < slow:
            raise ValueError(f"invalid windows: fast {fast}, slow {slow}; expected 0 < fast < slow")
        self.fast, self.slow, self.quantity = fast, slow, quantity
        self._kw = {"time_in_force": time_in_force} if time_in_force is not None else {}
        self._ring = [0.0] * slow
        self._n = 0
        self._sf = 0.0
        self._ss = 0.0
        self._amax = 0.0
        self._nzd = 0.0  # the last non-zero difference (backtrader's NonZeroDifference)
        self._long = False
        self.signals = 0

    def _exact(self, i: int) -> tuple[float, float]:
        ring, f, s = self._ring, self.fast, self.slow
        sf = fsum(ring[j % s] for j in range(i - f + 1, i + 1))
        return sf, fsum(ring)

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
        a = c if c >= 0.0 else -c
        if a > self._amax:
            self._amax = a
        if i < s - 1:
            return
        if i % _RESYNC == 0:
            self._sf, self._ss = self._exact(i)
        diff = self._sf / f - self._ss / s
        if -_TIE_TOL * self._amax <= diff <= _TIE_TOL * self._amax:
            sf, ss = self._exact(i)
            diff = sf / f - ss / s
        nzd = self._nzd
        if diff:
            self._nzd = diff
        if i == s - 1:  # the first difference only seeds the last non-zero one
            self._nzd = diff
            return
        if diff > 0.0 and nzd < 0.0 and not self._long:
            self._long = True
            self.signals += 1
            q = self.quantity if self.quantity is not None else int(ctx.cash // c)
            ctx.buy(bar.ticker, q, **self._kw)
        elif diff < 0.0 and nzd > 0.0 and self._long:
            self._long = False
            self.signals += 1
            ctx.close(bar.ticker, **self._kw)
