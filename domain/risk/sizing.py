"""Position sizing: fixed fraction, confidence-scaled, volatility (ATR) adjusted, fractional Kelly.

Kelly uses the win rate and payoff ratio tracked per strategy over closed positions, only after a
minimum sample, halved by default and capped; every method is capped by ``max_pct`` of equity.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_DOWN, Decimal
from enum import StrEnum
from typing import Any

import attrs

from domain.errors import InvalidInput
from domain.position import ClosedPosition
from domain.values import ZERO, dec, positive


class SizingMethod(StrEnum):
    """How much to buy."""

    FIXED = "fixed"
    CONFIDENCE = "confidence"
    VOLATILITY = "volatility"
    KELLY = "kelly"


def _fraction(v: Any, field: str) -> Decimal:
    d = dec(v, field)
    if not ZERO < d <= 1:
        raise InvalidInput(field, v, "a fraction in (0, 1]")
    return d


def _unit_dec(v: Any, field: str) -> Decimal:
    d = dec(v, field)
    if not ZERO <= d <= 1:
        raise InvalidInput(field, v, "a number in [0, 1]")
    return d


def _min_trades(_: object, __: object, v: int) -> None:
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise InvalidInput("kelly_min_trades", v, "an integer >= 1")


def _conv_fixed_pct(v: Any) -> Decimal:
    return _fraction(v, "fixed_pct")


def _conv_confidence_pct(v: Any) -> Decimal:
    return _fraction(v, "confidence_pct")


def _conv_min_confidence(v: Any) -> Decimal:
    return _unit_dec(v, "min_confidence")


def _conv_risk_per_trade_pct(v: Any) -> Decimal:
    return _fraction(v, "risk_per_trade_pct")


def _conv_atr_multiple(v: Any) -> Decimal:
    return positive(v, "atr_multiple")


def _conv_rvol_floor(v: Any) -> Decimal:
    return _fraction(v, "rvol_floor")


def _conv_kelly_fraction(v: Any) -> Decimal:
    return _fraction(v, "kelly_fraction")


def _conv_kelly_cap(v: Any) -> Decimal:
    return _fraction(v, "kelly_cap")


def _conv_max_pct(v: Any) -> Decimal:
    return _fraction(v, "max_pct")


@attrs.frozen(kw_only=True)
class SizingConfig:
    """Parameters of every sizing method.

    Parameters
    ----------
    fixed_pct
        Fraction of equity per trade for FIXED, and the fallback of the other methods.
    confidence_pct
        Fraction of equity at confidence 1 for CONFIDENCE (scaled linearly by confidence).
    min_confidence
        Below this confidence CONFIDENCE sizes zero.
    risk_per_trade_pct, atr_multiple
        VOLATILITY risks ``risk_per_trade_pct`` of equity over a move of ``atr_multiple`` ATRs.
    rvol_floor
        VOLATILITY also scales by relative volume (RVOL, today's volume over its average) when
        one is given: thin trading (RVOL < 1) shrinks the size in proportion, down to this
        floor; heavy volume never enlarges it.
    kelly_fraction, kelly_cap, kelly_min_trades
        Fractional Kelly (half by default), its cap, and the closed trades needed before it applies.
    max_pct
        Hard cap of every method, as a fraction of equity.
    whole_shares
        Round quantities down to whole shares.
    """

    fixed_pct: Decimal = attrs.field(default=Decimal("0.05"), converter=_conv_fixed_pct)
    confidence_pct: Decimal = attrs.field(default=Decimal("0.10"), converter=_conv_confidence_pct)
    min_confidence: Decimal = attrs.field(default=Decimal("0.5"), converter=_conv_min_confidence)
    risk_per_trade_pct: Decimal = attrs.field(default=Decimal("0.01"), converter=_conv_risk_per_trade_pct)
    atr_multiple: Decimal = attrs.field(default=Decimal(2), converter=_conv_atr_multiple)
    rvol_floor: Decimal = attrs.field(default=Decimal("0.5"), converter=_conv_rvol_floor)
    kelly_fraction: Decimal = attrs.field(default=Decimal("0.5"), converter=_conv_kelly_fraction)
    kelly_cap: Decimal = attrs.field(default=Decimal("0.10"), converter=_conv_kelly_cap)
    kelly_min_trades: int = attrs.field(default=30, validator=_min_trades)
    max_pct: Decimal = attrs.field(default=Decimal("0.10"), converter=_conv_max_pct)
    whole_shares: bool = True


@attrs.frozen
class TradeStats:
    """Win rate and payoff of a strategy's closed trades (returns on cost basis, net of costs)."""

    trades: int
    wins: int
    avg_win_pct: Decimal  # mean return of winners (> 0)
    avg_loss_pct: Decimal  # mean |return| of losers (>= 0)

    @property
    def losses(self) -> int:
        """Return the number of trades that did not win."""
        return self.trades - self.wins

    @property
    def win_rate(self) -> Decimal:
        """Return wins / trades (0 with no trades)."""
        return Decimal(self.wins) / Decimal(self.trades) if self.trades else ZERO

    @property
    def payoff(self) -> Decimal | None:
        """Return average win / average loss (None when there is no loss to divide by)."""
        if self.avg_loss_pct <= 0:
            return None
        return self.avg_win_pct / self.avg_loss_pct

    @property
    def kelly(self) -> Decimal:
        """Return the full Kelly fraction ``p - (1 - p) / b`` (may be negative: no edge)."""
        p = self.win_rate
        b = self.payoff
        if self.trades == 0:
            return ZERO
        if b is None:  # no losing trade yet: the formula's limit is p
            return p if self.avg_win_pct > 0 else ZERO
        if b == 0:
            return Decimal(-1)
        return p - (1 - p) / b

    @classmethod
    def from_closed(cls, closed: Iterable[ClosedPosition]) -> TradeStats:
        """Return the statistics of ``closed`` (a win is a trade with positive net P&L)."""
        n = wins = 0
        win_sum = loss_sum = ZERO
        for c in closed:
            n += 1
            r = c.realized_pnl_pct
            if c.realized_pnl > 0:
                wins += 1
                win_sum += r
            else:
                loss_sum += abs(r)
        losses = n - wins
        return cls(
            trades=n, wins=wins,
            avg_win_pct=win_sum / wins if wins else ZERO,
            avg_loss_pct=loss_sum / losses if losses else ZERO,
        )


def stats_by_strategy(closed: Iterable[ClosedPosition]) -> dict[str, TradeStats]:
    """Return :class:`TradeStats` per strategy name (``"default"`` for unnamed ones)."""
    groups: dict[str, list[ClosedPosition]] = {}
    for c in closed:
        groups.setdefault(c.strategy or "default", []).append(c)
    return {k: TradeStats.from_closed(v) for k, v in groups.items()}


@attrs.frozen
class SizeResult:
    """What a sizing method decided: the fraction of equity, the quantity and why."""

    method: SizingMethod  # what was asked for
    used: SizingMethod  # what was applied (Kelly falls back to fixed before its sample)
    fraction: Decimal
    quantity: Decimal
    price: Decimal
    reason: str

    @property
    def notional(self) -> Decimal:
        """Return quantity times price."""
        return self.quantity * self.price


def size_position(
    method: SizingMethod | str,
    equity: Decimal,
    price: Decimal,
    *,
    config: SizingConfig | None = None,
    confidence: float | Decimal = 1,
    atr: Decimal | float | None = None,
    stats: TradeStats | None = None,
    rvol: Decimal | float | None = None,
    committed: Decimal = ZERO,
) -> SizeResult:
    """Return how much to buy at ``price`` with ``equity`` under ``method``.

    Parameters
    ----------
    method
        FIXED, CONFIDENCE, VOLATILITY or KELLY.
    equity, price
        Account equity and the expected entry price (both > 0 to size anything).
    config
        Sizing parameters (defaults if None).
    confidence
        Signal confidence in [0, 1] (CONFIDENCE).
    atr
        Average true range in price units (VOLATILITY; falls back to FIXED without it).
    stats
        The strategy's closed-trade statistics (KELLY; falls back to FIXED below the sample).
    rvol
        Relative volume (VOLATILITY): below 1 the size shrinks in proportion, to ``rvol_floor``.
    committed
        Value already committed to the same ticker and side (held, or in entry orders
        accepted but not yet filled); it counts against ``max_pct``, so entries released
        before any of them fills cannot together exceed the cap.

    Returns
    -------
    SizeResult
        Never more than ``max_pct`` of equity including ``committed``; quantity rounded down.
    """
    cfg = config or SizingConfig()
    m = SizingMethod(str(method).lower()) if not isinstance(method, SizingMethod) else method
    equity = dec(equity, "equity")
    price = positive(price, "price")
    conf = dec(confidence, "confidence")
    if not ZERO <= conf <= 1:
        raise InvalidInput("confidence", confidence, "a number in [0, 1]")
    used = m
    thin: Decimal | None = None
    if m is SizingMethod.FIXED:
        frac, why = cfg.fixed_pct, f"fixed {cfg.fixed_pct * 100:.2f}% of equity"
    elif m is SizingMethod.CONFIDENCE:
        if conf < cfg.min_confidence:
            frac, why = ZERO, f"confidence {conf} below minimum {cfg.min_confidence}"
        else:
            frac = cfg.confidence_pct * conf
            why = f"confidence {conf} x {cfg.confidence_pct * 100:.2f}%"
    elif m is SizingMethod.VOLATILITY:
        a = dec(atr, "atr") if atr is not None else None
        if a is None or a <= 0:
            used, frac = SizingMethod.FIXED, cfg.fixed_pct
            why = f"no ATR: fixed {cfg.fixed_pct * 100:.2f}%"
        else:
            qty_risk = cfg.risk_per_trade_pct / (cfg.atr_multiple * a)  # shares per $ equity
            frac = qty_risk * price
            why = (f"risk {cfg.risk_per_trade_pct * 100:.2f}% of equity over "
                   f"{cfg.atr_multiple} x ATR {a}")
            rv = dec(rvol, "rvol") if rvol is not None else None
            if rv is not None and rv < 1:
                thin = max(rv, cfg.rvol_floor)
    else:
        if stats is None or stats.trades < cfg.kelly_min_trades:
            have = stats.trades if stats is not None else 0
            used, frac = SizingMethod.FIXED, cfg.fixed_pct
            why = (f"kelly needs {cfg.kelly_min_trades} closed trades, has {have}: "
                   f"fixed {cfg.fixed_pct * 100:.2f}%")
        else:
            k = stats.kelly
            if k <= 0:
                frac, why = ZERO, f"kelly {k:.4f} <= 0: no edge, no trade"
            else:
                frac = min(k * cfg.kelly_fraction, cfg.kelly_cap)
                why = (f"kelly {k:.4f} (win rate {stats.win_rate:.3f}, payoff "
                       f"{stats.payoff if stats.payoff is not None else 'inf'}) x "
                       f"{cfg.kelly_fraction}, cap {cfg.kelly_cap}")
    if frac > cfg.max_pct:
        frac, why = cfg.max_pct, why + f"; capped at {cfg.max_pct * 100:.2f}%"
    if thin is not None:  # after the cap, so thin volume shrinks even a capped size
        frac, why = frac * thin, why + f"; RVOL {rvol} < 1 scales by {thin}"
    committed = dec(committed, "committed")
    if committed < 0:
        raise InvalidInput("committed", committed, "a value >= 0")
    if committed > 0 and equity > 0:
        room = max(ZERO, cfg.max_pct - committed / equity)
        if frac > room:
            frac = room
            why += (f"; {committed:.2f} already committed to the ticker leaves "
                    f"{room * 100:.2f}% of equity under the {cfg.max_pct * 100:.2f}% cap")
    if equity <= 0:
        frac, why = ZERO, "no equity"
    raw = frac * equity / price
    step = Decimal(1) if cfg.whole_shares else Decimal("0.000001")
    qty = raw.quantize(step, rounding=ROUND_DOWN) if raw > 0 else ZERO
    return SizeResult(m, used, frac, qty, price, why)
