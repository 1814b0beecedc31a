"""Replay the same trades under each sizing method and compare return, drawdown and Sharpe.

The trades (entry, exit, side, confidence, ATR, strategy) are fixed; only the size changes. Each
trade is sized when it opens, from the equity realised so far and, for Kelly, from the trades of
its strategy that had closed by then (no look-ahead). Capital already committed to open trades
is not available to new ones, so concurrent trades cannot exceed equity.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import ROUND_DOWN, Decimal

import attrs

from domain.position import ClosedPosition
from domain.risk.sizing import (
    SizingConfig,
    SizingMethod,
    TradeStats,
    size_position,
)
from domain.values import ZERO, PositionSide


@attrs.frozen(kw_only=True)
class TradeRecord:
    """One historical trade, independent of its size."""

    ticker: str
    side: PositionSide
    entry_price: Decimal
    exit_price: Decimal
    opened_at: datetime
    closed_at: datetime
    confidence: float = 1.0
    atr: Decimal | None = None
    strategy: str = "default"
    cost_pct: Decimal = ZERO  # round-trip costs as a fraction of the notional

    @property
    def return_pct(self) -> Decimal:
        """Return the trade's return on its notional, net of costs."""
        gross = self.side.sign * (self.exit_price / self.entry_price - 1)
        return gross - self.cost_pct

    @classmethod
    def from_closed(cls, c: ClosedPosition) -> TradeRecord:
        """Return the size-free record of a closed position."""
        cost = c.commission / (c.entry_price * c.quantity) if c.quantity and c.entry_price \
            else ZERO
        atr = Decimal(repr(c.atr)) if c.atr is not None else None
        return cls(ticker=c.ticker, side=c.side, entry_price=c.entry_price,
                   exit_price=c.exit_price, opened_at=c.opened_at, closed_at=c.closed_at,
                   confidence=c.signal_confidence if c.signal_confidence is not None else 1.0,
                   atr=atr, strategy=c.strategy or "default", cost_pct=cost)


@attrs.frozen
class MethodResult:
    """How one sizing method did over the replay."""

    method: SizingMethod
    trades_taken: int
    trades_skipped: int
    starting_equity: Decimal
    final_equity: Decimal
    max_drawdown: float
    sharpe: float
    avg_fraction: float
    equity_curve: tuple[tuple[date, float], ...]

    @property
    def total_return(self) -> float:
        """Return final / starting equity - 1."""
        return float(self.final_equity / self.starting_equity - 1)


@attrs.define
class _Open:
    trade: TradeRecord
    quantity: Decimal
    notional: Decimal


def _stats(closed: list[TradeRecord]) -> TradeStats:
    wins = [t.return_pct for t in closed if t.return_pct > 0]
    losses = [-t.return_pct for t in closed if t.return_pct <= 0]
    return TradeStats(
        trades=len(closed), wins=len(wins),
        avg_win_pct=sum(wins, ZERO) / len(wins) if wins else ZERO,
        avg_loss_pct=sum(losses, ZERO) / len(losses) if losses else ZERO,
    )


def replay(
    trades: Iterable[TradeRecord],
    method: SizingMethod,
    *,
    starting_equity: Decimal = Decimal(100_000),
    config: SizingConfig | None = None,
    periods_per_year: int = 252,
) -> MethodResult:
    """Replay ``trades`` sized by ``method`` and return its result.

    Events are processed in time order (a close before an open at the same instant); the
    equity curve is the realised equity at the end of each day with an event.
    """
    cfg = config or SizingConfig()
    ts = sorted(trades, key=lambda t: (t.opened_at, t.ticker))
    events: list[tuple[datetime, int, int]] = []
    for i, t in enumerate(ts):
        events.append((t.opened_at, 1, i))
        events.append((t.closed_at, 0, i))
    events.sort()
    equity = starting_equity
    committed = ZERO
    open_: dict[int, _Open] = {}
    closed_by_strategy: dict[str, list[TradeRecord]] = {}
    curve: dict[date, float] = {}
    taken = skipped = 0
    fractions: list[float] = []
    for when, kind, i in events:
        t = ts[i]
        if kind == 1:
            res = size_position(method, equity, t.entry_price, config=cfg,
                                confidence=Decimal(repr(t.confidence)), atr=t.atr,
                                stats=_stats(closed_by_strategy.get(t.strategy, [])))
            notional = min(res.notional, max(ZERO, equity - committed))
            qty = (notional / t.entry_price).to_integral_value(rounding=ROUND_DOWN) \
                if cfg.whole_shares else notional / t.entry_price
            if qty <= 0:
                skipped += 1
                continue
            notional = qty * t.entry_price
            committed += notional
            open_[i] = _Open(t, qty, notional)
            taken += 1
            fractions.append(float(notional / equity) if equity > 0 else 0.0)
        else:
            o = open_.pop(i, None)
            closed_by_strategy.setdefault(t.strategy, []).append(t)
            if o is None:
                continue
            committed -= o.notional
            equity += o.notional * t.return_pct
            curve[when.date()] = float(equity)
    points = sorted(curve.items())
    return MethodResult(
        method=method, trades_taken=taken, trades_skipped=skipped,
        starting_equity=starting_equity, final_equity=equity,
        max_drawdown=max_drawdown([float(starting_equity)] + [v for _, v in points]),
        sharpe=sharpe([float(starting_equity)] + [v for _, v in points], periods_per_year),
        avg_fraction=sum(fractions) / len(fractions) if fractions else 0.0,
        equity_curve=tuple(points),
    )


def compare(
    trades: Sequence[TradeRecord],
    methods: Iterable[SizingMethod] = tuple(SizingMethod),
    *,
    starting_equity: Decimal = Decimal(100_000),
    config: SizingConfig | None = None,
) -> list[MethodResult]:
    """Replay the same ``trades`` under each of ``methods``."""
    return [replay(trades, m, starting_equity=starting_equity, config=config) for m in methods]


def max_drawdown(curve: Sequence[float]) -> float:
    """Return the largest fall from a running peak, as a fraction (0 for a rising curve)."""
    peak = -math.inf
    worst = 0.0
    for v in curve:
        peak = max(peak, v)
        if peak > 0:
            worst = max(worst, (peak - v) / peak)
    return worst


def sharpe(curve: Sequence[float], periods_per_year: int = 252) -> float:
    """Return the annualised Sharpe ratio of the curve's period returns (0 when flat)."""
    rets = [b / a - 1 for a, b in itertools.pairwise(curve) if a > 0]
    if len(rets) < 2:
        return 0.0
    mean = sum(rets) / len(rets)
    var = sum((r - mean) ** 2 for r in rets) / (len(rets) - 1)
    sd = math.sqrt(var)
    return mean / sd * math.sqrt(periods_per_year) if sd > 1e-12 else 0.0


def table(results: Sequence[MethodResult]) -> list[dict[str, str]]:
    """Return rows for display: method, trades, return, max drawdown, Sharpe, average size."""
    return [
        {
            "method": r.method.value, "trades": str(r.trades_taken),
            "skipped": str(r.trades_skipped), "return": f"{r.total_return * 100:.2f}%",
            "max_drawdown": f"{r.max_drawdown * 100:.2f}%", "sharpe": f"{r.sharpe:.2f}",
            "avg_size": f"{r.avg_fraction * 100:.2f}%",
            "final_equity": f"${r.final_equity:,.2f}",
        }
        for r in results
    ]
