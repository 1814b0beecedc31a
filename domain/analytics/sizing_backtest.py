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
from datetime import date, datetime, time
from decimal import ROUND_DOWN, Decimal
from zoneinfo import ZoneInfo

import attrs
import numpy as np
import numpy.typing as npt

from domain.alerts import Alert
from domain.indicators import atr as atr_indicator
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
    rvol: Decimal | None = None  # relative volume known at entry (VOLATILITY sizing)

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
class DailyBars:
    """One ticker's daily bars as arrays, oldest first (``dates`` aligned with the prices)."""

    dates: tuple[date, ...]
    open: npt.NDArray[np.float64]
    high: npt.NDArray[np.float64]
    low: npt.NDArray[np.float64]
    close: npt.NDArray[np.float64]
    volume: npt.NDArray[np.float64] | None = None


def _d(x: float) -> Decimal:
    return Decimal(repr(round(float(x), 6)))


_NY = ZoneInfo("America/New_York")


def _open_at(d: date) -> datetime:
    return datetime.combine(d, time(9, 30), _NY)


def trades_from_alerts(
    bars: dict[str, DailyBars],
    alerts: Iterable[Alert],
    *,
    hold_days: int = 5,
    stop_atr: float = 2.0,
    atr_period: int = 14,
    rvol_period: int = 20,
    min_score: float = 0.0,
    cost_pct: Decimal = Decimal("0.002"),
) -> list[TradeRecord]:
    """Turn catalyst alerts into size-free trades over daily bars (a simple, fixed strategy).

    Each alert is entered at the first 09:30 New York open at or after the time it became
    known (long on positive sentiment, short on negative), with confidence = its score and
    the ATR and the relative volume (the previous session's volume over the mean of the
    ``rvol_period`` sessions before it) known at the previous close. The trade leaves at a
    stop ``stop_atr`` ATRs away (filled at the stop, or at the open when the day gaps through
    it) or at the close of the ``hold_days``-th session. Nothing after the entry decides the
    entry (no look-ahead).
    """
    out: list[TradeRecord] = []
    atrs = {t: atr_indicator(b.high, b.low, b.close, atr_period) for t, b in bars.items()}
    for a in sorted(alerts, key=lambda x: (x.known_at, x.ticker)):
        b = bars.get(a.ticker)
        if b is None or a.score < min_score or a.sentiment == 0:
            continue
        i = next((k for k, d in enumerate(b.dates) if _open_at(d) >= a.known_at), None)
        if i is None or i == 0 or i + hold_days >= len(b.dates):
            continue
        a_prev = float(atrs[a.ticker][i - 1])
        if not math.isfinite(a_prev) or a_prev <= 0:
            continue
        rvol: Decimal | None = None
        if b.volume is not None and i > rvol_period:
            avg = float(np.mean(b.volume[i - 1 - rvol_period:i - 1]))
            if avg > 0 and math.isfinite(float(b.volume[i - 1])):
                rvol = _d(float(b.volume[i - 1]) / avg)
        long = a.sentiment > 0
        entry = float(b.open[i])
        stop = entry - stop_atr * a_prev if long else entry + stop_atr * a_prev
        exit_px, exit_i = float(b.close[i + hold_days - 1]), i + hold_days - 1
        for k in range(i, i + hold_days):
            hit = b.low[k] <= stop if long else b.high[k] >= stop
            if hit:
                gap = b.open[k] <= stop if long else b.open[k] >= stop
                exit_px = float(b.open[k]) if gap and k > i else stop
                exit_i = k
                break
        opened = datetime.combine(b.dates[i], datetime.min.time(), a.known_at.tzinfo)
        closed = datetime.combine(b.dates[exit_i], datetime.max.time(), a.known_at.tzinfo)
        out.append(TradeRecord(
            ticker=a.ticker, side=PositionSide.LONG if long else PositionSide.SHORT,
            entry_price=_d(entry), exit_price=_d(max(exit_px, 0.01)), opened_at=opened,
            closed_at=closed, confidence=a.score, atr=_d(a_prev), strategy=a.catalyst_type.value,
            cost_pct=cost_pct, rvol=rvol,
        ))
    return out


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
                                confidence=Decimal(repr(t.confidence)), atr=t.atr, rvol=t.rvol,
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
