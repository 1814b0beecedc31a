"""Trade plans: ATR-based stop and target (5 % / 10 % fallback), and the size of the entry.

Pure functions over prices; the executor feeds them the latest price, recent bars and the
account. Distances are kept as fractions of the entry so the plan can be re-anchored to the
actual fill price (a gap at the open must not put the stop on the wrong side).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal

import attrs
import numpy as np

from domain.indicators import atr as atr_series
from domain.market import Bar
from domain.risk.sizing import SizeResult, SizingConfig, SizingMethod, TradeStats, size_position
from domain.values import PositionSide, Side

__all__ = ["PlanConfig", "TradePlan", "latest_atr", "plan_trade", "size_entry"]

CENT = Decimal("0.01")


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
class TradePlan:
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


def levels(side: Side, entry: Decimal, stop_pct: Decimal, target_pct: Decimal
           ) -> tuple[Decimal, Decimal]:
    """Return (stop, target) at ``entry`` for fractional distances, rounded to cents."""
    s = side.sign
    stop = (entry * (1 - s * stop_pct)).quantize(CENT, ROUND_HALF_UP)
    target = (entry * (1 + s * target_pct)).quantize(CENT, ROUND_HALF_UP)
    return stop, target


def latest_atr(bars: Sequence[Bar], period: int = 14) -> Decimal | None:
    """Return the last Wilder ATR of ``bars`` (None with too few bars)."""
    if len(bars) <= period:
        return None
    h = np.fromiter((b.high for b in bars), np.float64, len(bars))
    lo = np.fromiter((b.low for b in bars), np.float64, len(bars))
    c = np.fromiter((b.close for b in bars), np.float64, len(bars))
    v = float(atr_series(h, lo, c, period)[-1])
    if not np.isfinite(v) or v <= 0:
        return None
    return Decimal(repr(round(v, 6)))


def plan_trade(side: Side, entry: Decimal, atr: Decimal | None,
               config: PlanConfig | None = None) -> TradePlan:
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
    stop, target = levels(side, entry, stop_pct, target_pct)
    return TradePlan(side, entry, stop, target, stop_pct, target_pct, atr, basis)


def size_entry(
    method: SizingMethod,
    equity: Decimal,
    price: Decimal,
    *,
    confidence: float,
    atr: Decimal | None,
    stats: TradeStats | None,
    config: SizingConfig | None = None,
) -> SizeResult:
    """Return the entry size (whole shares, capped) by ``method``."""
    return size_position(method, equity, price, config=config, confidence=Decimal(repr(confidence)),
                         atr=atr, stats=stats)


def position_side(side: Side) -> PositionSide:
    """Return the side of the position an entry on ``side`` opens."""
    return PositionSide.LONG if side is Side.BUY else PositionSide.SHORT
