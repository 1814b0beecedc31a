"""Trade planning rules: ATR-based stop and target (5 % / 10 % fallback), valid price ticks,
and the size of the entry.

Pure functions over prices; the executor feeds them the latest price, recent bars and the
account, and stores the outcome as a :class:`domain.trade_plan.EntryPlan`. Distances are
kept as fractions of the entry so the plan can be re-anchored to the actual fill price
(a gap at the open must not put the stop on the wrong side).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

import attrs
import numpy as np

from domain.indicators import atr as atr_series
from domain.market import Bar
from domain.risk.sizing import SizeResult, SizingConfig, SizingMethod, TradeStats, size_position
from domain.values import Side

__all__ = [
    "PlanConfig",
    "PlannedLevels",
    "latest_atr",
    "latest_atr_of",
    "levels",
    "plan_trade",
    "round_to_tick",
    "size_entry",
    "tick_size",
]

CENT = Decimal("0.01")
BASIS = Decimal("0.0001")


@attrs.frozen(kw_only=True)
class PlanConfig:
    """How stops and targets are placed.

    ``stop = entry -/+ stop_atr_multiple x ATR``, ``target = entry +/- target_atr_multiple x ATR``;
    without an ATR the fallback percentages apply. The stop distance is clamped into
    ``[min_stop_pct, max_stop_pct]`` (the risk policy's band) and the target keeps at least the
    reward/risk ratio of the multiples.
    """

    atr_period: int = 14
    stop_atr_multiple: Decimal = Decimal(2)
    target_atr_multiple: Decimal = Decimal(3)
    fallback_stop_pct: Decimal = Decimal("0.05")
    fallback_target_pct: Decimal = Decimal("0.10")
    min_stop_pct: Decimal = Decimal("0.02")
    max_stop_pct: Decimal = Decimal("0.20")


@attrs.frozen
class PlannedLevels:
    """Entry price, side, protective levels and their distances from the entry."""

    side: Side
    entry: Decimal
    stop_loss: Decimal
    take_profit: Decimal
    stop_pct: Decimal
    target_pct: Decimal
    atr: Decimal | None
    basis: str  # "atr" | "fallback"

    def levels_for(self, entry: Decimal) -> tuple[Decimal, Decimal]:
        """Return (stop, target) re-anchored at an actual entry price."""
        return levels(self.side, entry, self.stop_pct, self.target_pct)


def tick_size(price: Decimal) -> Decimal:
    """Return the price increment valid at ``price``: $0.01 at $1 and above, $0.0001 below
    (Alpaca's and the simulated exchange's ``enforce_tick_size`` rule)."""
    return CENT if price >= 1 else BASIS


def round_to_tick(price: Decimal, up: bool) -> Decimal:
    """Round ``price`` to a valid tick, up (ceiling) or down (floor).

    The tick is chosen at the unrounded price; the result is valid either way (a value just
    below $1 rounded up lands on 1.0000, which is also a whole cent).
    """
    tick = tick_size(price)
    return price.quantize(tick, ROUND_CEILING if up else ROUND_FLOOR)


def _distance(side: Side, entry: Decimal, stop: Decimal) -> Decimal:
    return side.sign * (entry - stop) / entry


def levels(side: Side, entry: Decimal, stop_pct: Decimal, target_pct: Decimal, *,
           min_stop_pct: Decimal | None = None, max_stop_pct: Decimal | None = None,
           ) -> tuple[Decimal, Decimal]:
    """Return (stop, target) at ``entry`` for fractional distances, on valid ticks.

    The stop is rounded *away* from the entry (down for a long, up for a short), so rounding
    never pulls it inside the minimum stop distance the unrounded plan met. When that would
    push it past ``max_stop_pct``, the tick towards the entry is used instead if it still lies
    in ``[min_stop_pct, max_stop_pct]``. The target is rounded *towards* the entry (the
    conservative side: never promise more than planned), unless that would put it on or
    behind the entry, where it is rounded away instead. Both therefore always lie strictly
    on their own side of the entry.
    """
    s = side.sign
    raw_stop = entry * (1 - s * stop_pct)
    stop = round_to_tick(raw_stop, up=s < 0)
    if max_stop_pct is not None and entry > 0 and _distance(side, entry, stop) > max_stop_pct:
        nearer = round_to_tick(raw_stop, up=s > 0)
        d = _distance(side, entry, nearer)
        if d <= max_stop_pct and (min_stop_pct is None or d >= min_stop_pct) and d > 0:
            stop = nearer
    raw_target = entry * (1 + s * target_pct)
    target = round_to_tick(raw_target, up=s < 0)
    if s * (target - entry) <= 0:
        target = round_to_tick(raw_target, up=s > 0)
    return stop, target


def latest_atr(bars: Sequence[Bar], period: int = 14) -> Decimal | None:
    """Return the last Wilder ATR of ``bars`` (None with too few bars)."""
    if len(bars) <= period:
        return None
    h = np.fromiter((b.high for b in bars), np.float64, len(bars))
    lo = np.fromiter((b.low for b in bars), np.float64, len(bars))
    c = np.fromiter((b.close for b in bars), np.float64, len(bars))
    return latest_atr_of(h, lo, c, period)


def latest_atr_of(high: Sequence[float] | np.ndarray, low: Sequence[float] | np.ndarray,
                  close: Sequence[float] | np.ndarray, period: int = 14) -> Decimal | None:
    """Return :func:`latest_atr` of bars given as their highs, lows and closes (oldest
    first)."""
    if len(close) <= period:
        return None
    h = np.asarray(high, dtype=np.float64)
    lo = np.asarray(low, dtype=np.float64)
    c = np.asarray(close, dtype=np.float64)
    v = float(atr_series(h, lo, c, period)[-1])
    if not np.isfinite(v) or v <= 0:
        return None
    return Decimal(repr(round(v, 6)))


def plan_trade(side: Side, entry: Decimal, atr: Decimal | None,
               config: PlanConfig | None = None) -> PlannedLevels:
    """Return the stop and target for an entry at ``entry``."""
    cfg = config or PlanConfig()
    if atr is not None and atr > 0 and entry > 0:
        stop_pct = cfg.stop_atr_multiple * atr / entry
        target_pct = cfg.target_atr_multiple * atr / entry
        basis = "atr"
    else:
        stop_pct, target_pct, basis = cfg.fallback_stop_pct, cfg.fallback_target_pct, "fallback"
    ratio = target_pct / stop_pct
    stop_pct = min(max(stop_pct, cfg.min_stop_pct), cfg.max_stop_pct)
    target_pct = max(target_pct, stop_pct * ratio)
    if side is Side.SELL:
        target_pct = min(target_pct, Decimal("0.95"))
    stop, target = levels(side, entry, stop_pct, target_pct, min_stop_pct=cfg.min_stop_pct,
                          max_stop_pct=cfg.max_stop_pct)
    return PlannedLevels(side, entry, stop, target, stop_pct, target_pct, atr, basis)


def size_entry(
    method: SizingMethod,
    equity: Decimal,
    price: Decimal,
    *,
    confidence: float,
    atr: Decimal | None,
    stats: TradeStats | None,
    config: SizingConfig | None = None,
    committed: Decimal = Decimal(0),
) -> SizeResult:
    """Return the entry size (whole shares, capped) by ``method``; ``committed`` is the value
    already held or working in entry orders on the same ticker and side (counted against the
    cap)."""
    return size_position(method, equity, price, config=config, confidence=Decimal(repr(confidence)),
                         atr=atr, stats=stats, committed=committed)

