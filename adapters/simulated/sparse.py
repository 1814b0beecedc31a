"""Event-skipping replay: pay only for bars on which something can happen.

With sparse signals (catalyst alerts) and resting orders (stops, targets, limits), most
bars can change nothing but the mark. :class:`SparseReplay` finds the next bar that can
matter with a vectorised search over the arrays: the next signal bar, the next day-order
expiry, or the first bar whose high/low crosses a working order's trigger (trailing stops
included, through a running maximum / minimum). That bar goes through the exchange's normal
per-bar rules (:meth:`SimulatedExchange.on_bar`), so fills are identical to a dense replay;
the bars skipped over get their equity filled in as ``cash + position x close`` in one
vectorised step, so the per-bar equity curve is still complete.

One ticker per run (the arrays of one instrument).
"""

from __future__ import annotations

from collections.abc import Callable
from math import isnan

import numpy as np

from adapters.simulated.exchange import SimulatedExchange
from adapters.simulated.order import (
    _LMT,
    _MKT,
    _STP,
    _STPLMT,
    _TRAIL,
    _Order,
)
from adapters.simulated.replay import BarView, ReplayClock, StrategyContext
from domain.events import OrderStatus
from domain.values import TimeInForce

__all__ = ["SparseReplay"]

_OPEN = (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)


class SparseReplay:
    """Replay one ticker's bars, skipping to the next bar where anything can happen.

    Parameters
    ----------
    exchange
        The exchange; its clock should be a :class:`ReplayClock` (it is moved at events).
    ticker, ts, open_, high, low, close, volume
        The bars (``ts``: int64 ns bar end times, ascending).
    """

    def __init__(self, exchange: SimulatedExchange, ticker: str, ts: np.ndarray,
                 open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray,
                 volume: np.ndarray) -> None:
        self.exchange = exchange
        self.ticker = ticker
        self.ts = np.asarray(ts, np.int64)
        self.o = np.asarray(open_, np.float64)
        self.h = np.asarray(high, np.float64)
        self.lo = np.asarray(low, np.float64)
        self.c = np.asarray(close, np.float64)
        self.v = np.asarray(volume, np.float64)
        self.events_processed = 0

    # --------------------------------------------------------------------------------
    def _hit(self, od: _Order, a: int, b: int, wm_a: float) -> int:
        """Return the first index in [a, b) where ``od`` can trade, or b."""
        if b <= a:
            return b
        if od.code == _MKT or od.tif in (TimeInForce.OPG, TimeInForce.CLS, TimeInForce.IOC,
                                         TimeInForce.FOK):
            return a
        if od.code == _LMT or (od.code == _STPLMT and od.triggered):
            cond = self.lo[a:b] < od.limit if od.sign > 0 else self.h[a:b] > od.limit
        elif od.code in (_STP, _STPLMT):
            cond = self.h[a:b] >= od.stop if od.sign > 0 else self.lo[a:b] <= od.stop
        else:
            cond = self._trail_cond(od, a, b, wm_a)
        k = int(np.argmax(cond))
        return a + k if cond[k] else b

    def _trail_cond(self, od: _Order, a: int, b: int, wm_a: float) -> np.ndarray:
        # the dense rule: the open moves the watermark, the stop is checked, then the high
        if od.sign < 0:
            before = np.maximum.accumulate(np.concatenate(([wm_a], self.h[a:b - 1])))
            wm = np.maximum(before, self.o[a:b])
            level = wm * (1.0 - od.trail_pct * 0.01) if od.trail_pct > 0 else wm - od.trail_abs
            return self.lo[a:b] <= level
        before = np.minimum.accumulate(np.concatenate(([wm_a], self.lo[a:b - 1])))
        wm = np.minimum(before, self.o[a:b])
        level = wm * (1.0 + od.trail_pct * 0.01) if od.trail_pct > 0 else wm + od.trail_abs
        return self.h[a:b] >= level

    def _wm0(self, od: _Order, a: int) -> float:
        return od.wm if not isnan(od.wm) else (od.ref if od.ref > 0.0 else float(self.o[a]))

    def _roll_wm(self, od: _Order, wm: float, a: int, b: int) -> float:
        if b <= a:
            return wm
        if od.sign < 0:
            return max(wm, float(self.h[a:b].max()))
        return min(wm, float(self.lo[a:b].min()))

    def _next_event(self, start: int, stop: int) -> int:
        """Return the first bar index >= start (< stop) where an order can trade."""
        ex = self.exchange
        work = [od for od in ex._working.get(self.ticker, ()) if od.status in _OPEN]
        nxt = stop
        if work:
            wms = [self._wm0(od, start) if od.code == _TRAIL else 0.0 for od in work]
            window = 256
            a = start
            while a < stop and nxt == stop:
                b = min(stop, a + window)
                for od, wm in zip(work, wms, strict=True):
                    j = self._hit(od, a, b, wm)
                    if j < nxt:
                        nxt = j
                        b = j  # later orders only need to look before it
                if nxt == stop:
                    wms = [self._roll_wm(od, wm, a, b) if od.code == _TRAIL else wm
                           for od, wm in zip(work, wms, strict=True)]
                    a = b
                    window *= 4
        exp = ex.next_expiry_ns
        if exp < 2**62:
            j = int(np.searchsorted(self.ts, exp, side="left"))
            if j < nxt:
                nxt = max(j, start)
        for od in work:  # skipped bars still move trailing watermarks
            if od.code == _TRAIL and nxt > start:
                od.wm = self._roll_wm(od, self._wm0(od, start), start, nxt)
        return nxt

    # --------------------------------------------------------------------------------
    def run(self, signal_bars: np.ndarray,
            on_signal: Callable[[BarView, StrategyContext], object],
            name: str = "sparse") -> np.ndarray:
        """Replay all bars; call ``on_signal(bar, ctx)`` after each bar in ``signal_bars``.

        Return the per-bar equity curve (float64, one value per bar).
        """
        ex = self.exchange
        n = len(self.ts)
        eq = np.empty(n, dtype=np.float64)
        sig = np.unique(np.asarray(signal_bars, dtype=np.int64))
        sig = sig[(sig >= 0) & (sig < n)]
        si = 0
        ctx = StrategyContext(ex, name)
        view = BarView()
        clock = ex.clock
        set_ns = clock.set_ns if isinstance(clock, ReplayClock) else None
        t = self.ticker
        ts, o, h, lo, c, v = self.ts, self.o, self.h, self.lo, self.c, self.v
        cur = 0
        while cur < n:
            nsig = int(sig[si]) if si < len(sig) else n
            # search only up to the next signal bar: trailing watermarks roll to ``nxt``
            nxt = self._next_event(cur, min(nsig, n))
            if nxt > cur:  # bars [cur, nxt) can change nothing but the mark
                q = ex.pos_f.get(t, 0.0)
                eq[cur:nxt] = ex.cash_f + q * c[cur:nxt] if q else ex.cash_f
                j = nxt - 1
                ex._last[t] = (int(ts[j]), float(o[j]), float(h[j]), float(lo[j]),
                               float(c[j]), float(v[j]))
            if nxt >= n:
                break
            tj = int(ts[nxt])
            if set_ns is not None:
                set_ns(tj)
            ex.on_bar(t, tj, float(o[nxt]), float(h[nxt]), float(lo[nxt]), float(c[nxt]),
                      float(v[nxt]))
            ex.end_step(tj)
            self.events_processed += 1
            if nxt == nsig:
                si += 1
                view.ticker, view.ts_ns, view.index = t, tj, nxt
                view.open, view.high, view.low = float(o[nxt]), float(h[nxt]), float(lo[nxt])
                view.close, view.volume = float(c[nxt]), float(v[nxt])
                on_signal(view, ctx)
            eq[nxt] = ex.equity_f()
            cur = nxt + 1
        return eq
