"""Example strategies for the bar-strategy API (also used by the benchmark)."""

from __future__ import annotations

from math import fsum

from adapters.simulated.replay import BarView, StrategyContext

__all__ = ["SmaCross"]

# the running sums are rebuilt exactly every 4096 bars: each update rounds the difference of
# the averages by at most about 2.5 x 2.2e-16 x the largest price (the window size cancels in
# sum / period), so 4096 updates stay near 2.3e-12 of it, far below the tie tolerance
_RESYNC_MASK = 4096 - 1
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
    tie (difference 0) neither crosses nor resets the side: the crossing comes on the bar
    where the averages part to the other side, and none comes if they part back. The
    averages are kept as running sums (O(1) per bar); a difference so small that their
    rounding could matter is recomputed exactly, so a tie is a tie and its sign never
    depends on the history of the sums.

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
        # the largest |price| seen bounds the running sums' rounding error
        self._amin = self._amax = self._tol = 0.0
        self._nzd = 0.0  # the last non-zero difference (backtrader's NonZeroDifference)
        self._long = False
        self.signals = 0

    def _exact(self, i: int) -> tuple[float, float]:
        """Return the window sums of bar ``i`` exactly rounded (``math.fsum``)."""
        ring, f, s = self._ring, self.fast, self.slow
        return fsum(ring[j % s] for j in range(i - f + 1, i + 1)), fsum(ring)

    def on_bar(self, bar: BarView, ctx: StrategyContext) -> None:
        """Update the averages and trade on a crossing."""
        c = bar.close
        i = self._n
        self._n = i + 1
        ring, s = self._ring, self.slow
        k = i % s
        if not self._amin <= c <= self._amax:
            self._widen(c)
        if i < s:  # warming up: no crossing before the slow window is full
            f = self.fast
            self._sf += c - ring[(i - f) % s] if i >= f else c
            self._ss += c
            ring[k] = c
            if i == s - 1:  # the first difference only seeds the last non-zero one
                sf, ss = self._exact(i)
                self._nzd = sf / f - ss / s
            return
        sf = self._sf + (c - ring[(i - self.fast) % s])
        ss = self._ss + (c - ring[k])
        ring[k] = c
        if not i & _RESYNC_MASK:
            sf, ss = self._exact(i)
        self._sf, self._ss = sf, ss
        diff = sf / self.fast - ss / s
        tol = self._tol
        if -tol <= diff <= tol:  # near a tie: decide on the exact averages
            sf, ss = self._exact(i)
            diff = sf / self.fast - ss / s
        nzd = self._nzd
        if diff > 0.0:
            self._nzd = diff
            if nzd < 0.0 and not self._long:
                self._long = True
                self.signals += 1
                q = self.quantity if self.quantity is not None else int(ctx.cash // c)
                ctx.buy(bar.ticker, q, **self._kw)
        elif diff < 0.0:
            self._nzd = diff
            if nzd > 0.0 and self._long:
                self._long = False
                self.signals += 1
                ctx.close(bar.ticker, **self._kw)

    def _widen(self, c: float) -> None:
        a = abs(c)
        self._amin, self._amax, self._tol = -a, a, _TIE_TOL * a
