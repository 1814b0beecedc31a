"""Fill rules of the simulated exchange: at what price an order trades inside one bar.

Plain-float functions on purpose (they run on the hot path of replay and of the RL env);
the simulated exchange converts their results to ``Decimal`` when it emits a fill. Every
function returns ``None`` when the order does not trade in the bar, else a price that the
market traded: always inside ``[low, high]``.

Rules (``side`` is +1 for a buy, -1 for a sell):

- market: the bar's open, moved against the taker by the slippage, clamped to the bar.
- limit: a buy fills when the bar trades *below* its limit (touching is not enough: the
  queue ahead of us takes the touch), at ``min(open, limit)``; a sell mirrors it. A limit
  never fills better than the market traded nor worse than its limit.
- stop: a buy stop triggers when ``high >= stop``; it fills at ``max(open, stop)`` (a gap
  fills at the open, never at the stop the market jumped over) plus slippage, clamped.
- stop-limit: triggers like a stop, then behaves as a limit for the rest of the bar only
  when the trigger price itself satisfies the limit; otherwise it rests as a limit.
- trailing stop: the stop trails the best price seen; inside a bar the open updates the
  watermark first, the stop is checked against the low (high for a buy), and only then
  the bar's high (low) moves the watermark for the next bar: the conservative path.
"""

from __future__ import annotations

from math import floor


def clamp(price: float, low: float, high: float) -> float:
    """Return ``price`` limited to ``[low, high]``."""
    if price < low:
        return low
    if price > high:
        return high
    return price


def market_price(side: int, open_: float, high: float, low: float, slippage_bps: float) -> float:
    """Return the fill price of a market order at the bar's open after slippage."""
    return clamp(open_ * (1.0 + side * slippage_bps * 1e-4), low, high)


def limit_price(side: int, limit: float, open_: float, high: float, low: float) -> float | None:
    """Return the fill price of a resting limit order in this bar, or None."""
    if side > 0:
        if open_ <= limit and low < limit:
            return open_
        if low < limit:
            return limit
        return None
    if open_ >= limit and high > limit:
        return open_
    if high > limit:
        return limit
    return None


def stop_trigger(side: int, stop: float, open_: float, high: float, low: float) -> float | None:
    """Return the price at which a stop triggers in this bar (before slippage), or None."""
    if side > 0:
        if high >= stop:
            return open_ if open_ >= stop else stop
        return None
    if low <= stop:
        return open_ if open_ <= stop else stop
    return None


def stop_price(side: int, stop: float, open_: float, high: float, low: float,
               slippage_bps: float) -> float | None:
    """Return the fill price of a stop (market) order in this bar, or None."""
    p = stop_trigger(side, stop, open_, high, low)
    if p is None:
        return None
    return clamp(p * (1.0 + side * slippage_bps * 1e-4), low, high)


def stop_limit_price(side: int, stop: float, limit: float, open_: float, high: float,
                     low: float) -> tuple[bool, float | None]:
    """Return ``(triggered, fill price or None)`` of a stop-limit order in this bar."""
    p = stop_trigger(side, stop, open_, high, low)
    if p is None:
        return False, None
    if side > 0:
        return True, (p if p <= limit else None)
    return True, (p if p >= limit else None)


def trailing_level(side: int, watermark: float, trail_abs: float, trail_pct: float) -> float:
    """Return the stop level of a trailing stop for ``watermark`` (best price seen)."""
    if trail_pct > 0.0:
        return watermark * (1.0 + side * trail_pct * 0.01)
    return watermark + side * trail_abs


def trailing_step(side: int, watermark: float, trail_abs: float, trail_pct: float,
                  open_: float, high: float, low: float,
                  slippage_bps: float) -> tuple[float, float | None]:
    """Advance a trailing stop by one bar; return ``(new watermark, fill price or None)``.

    A sell trailing stop (protecting a long) trails the highest price; a buy trailing stop
    (protecting a short) trails the lowest.
    """
    if side < 0:
        wm = open_ if open_ > watermark else watermark
        level = trailing_level(side, wm, trail_abs, trail_pct)
        px = stop_price(side, level, open_, high, low, slippage_bps)
        return (high if high > wm else wm), px
    wm = open_ if open_ < watermark else watermark
    level = trailing_level(side, wm, trail_abs, trail_pct)
    px = stop_price(side, level, open_, high, low, slippage_bps)
    return (low if low < wm else wm), px


def participation_cap(volume: float, rate: float | None) -> float:
    """Return the most shares one order may take from a bar (``inf`` when uncapped)."""
    if rate is None or rate <= 0.0:
        return float("inf")
    return floor(volume * rate)
