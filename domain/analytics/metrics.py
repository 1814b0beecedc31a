"""Performance metrics: pure functions over daily returns and closed trades.

Conventions follow empyrical (and are cross-checked against empyrical-reloaded in the tests):
simple daily returns, 252 periods a year, zero risk-free rate, sample standard deviation
(``ddof=1``) for Sharpe, root-mean-square of the negative returns for Sortino's downside risk,
and max drawdown as a non-positive fraction of the running peak.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal

import numpy as np
import numpy.typing as npt

from domain.position import ClosedPosition

__all__ = [
    "ANNUALIZATION",
    "annual_return",
    "annual_volatility",
    "cumulative_return",
    "max_drawdown",
    "returns_from_equity",
    "sharpe_ratio",
    "sortino_ratio",
    "summary",
    "trade_stats",
]

ANNUALIZATION = 252
FloatArray = npt.NDArray[np.float64]


def _arr(x: Sequence[float] | FloatArray) -> FloatArray:
    a = np.asarray(x, dtype=np.float64)
    return a[np.isfinite(a)]


def returns_from_equity(equity: Sequence[float] | FloatArray) -> FloatArray:
    """Return simple period returns of an equity curve (one fewer than points)."""
    e = np.asarray(equity, dtype=np.float64)
    if e.size < 2:
        return np.zeros(0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        r = e[1:] / e[:-1] - 1.0
    return np.where(np.isfinite(r), r, 0.0)


def cumulative_return(returns: Sequence[float] | FloatArray) -> float:
    """Return the compounded return."""
    r = _arr(returns)
    return float(np.prod(1.0 + r) - 1.0) if r.size else 0.0


def annual_return(returns: Sequence[float] | FloatArray, periods: int = ANNUALIZATION) -> float:
    """Return the compound annual growth rate."""
    r = _arr(returns)
    if r.size == 0:
        return math.nan
    ending = float(np.prod(1.0 + r))
    if ending <= 0:
        return -1.0
    return _compound(ending, periods / r.size)


def _compound(ending: float, exponent: float) -> float:
    """``ending ** exponent - 1``; inf when it overflows (a tenfold day compounds past 1e308)."""
    try:
        return float(ending ** exponent - 1.0)
    except OverflowError:
        return math.inf


def annual_volatility(returns: Sequence[float] | FloatArray, periods: int = ANNUALIZATION
                      ) -> float:
    """Return the annualised standard deviation (``ddof=1``)."""
    r = _arr(returns)
    if r.size < 2:
        return math.nan
    return float(np.std(r, ddof=1) * math.sqrt(periods))


def sharpe_ratio(returns: Sequence[float] | FloatArray, periods: int = ANNUALIZATION) -> float:
    """Return the annualised Sharpe ratio (risk-free 0); NaN without variation."""
    r = _arr(returns)
    if r.size < 2:
        return math.nan
    sd = float(np.std(r, ddof=1))
    if sd == 0:
        return math.nan
    return float(np.mean(r) / sd * math.sqrt(periods))


def sortino_ratio(returns: Sequence[float] | FloatArray, periods: int = ANNUALIZATION) -> float:
    """Return the annualised Sortino ratio (target 0); inf without a losing period."""
    r = _arr(returns)
    if r.size < 2:
        return math.nan
    downside = np.minimum(r, 0.0)
    dd = float(np.sqrt(np.mean(downside**2)) * math.sqrt(periods))
    if dd == 0:
        return math.inf if np.mean(r) > 0 else math.nan
    return float(np.mean(r) * periods / dd)


def max_drawdown(returns: Sequence[float] | FloatArray) -> float:
    """Return the largest fall from a running peak, as a fraction <= 0."""
    r = _arr(returns)
    if r.size == 0:
        return 0.0
    wealth = np.concatenate([[1.0], np.cumprod(1.0 + r)])
    peak = np.maximum.accumulate(wealth)
    return float(np.min(wealth / peak - 1.0))


def trade_stats(closed: Sequence[ClosedPosition]) -> dict[str, object]:
    """Return win rate, profit factor, expectancy, average hold and best/worst ticker."""
    n = len(closed)
    pnl = [c.realized_pnl for c in closed]
    wins = [p for p in pnl if p > 0]
    losses = [p for p in pnl if p <= 0]
    gross_win = sum(wins, Decimal(0))
    gross_loss = -sum(losses, Decimal(0))
    by_ticker: dict[str, Decimal] = {}
    for c in closed:
        by_ticker[c.ticker] = by_ticker.get(c.ticker, Decimal(0)) + c.realized_pnl
    best = max(sorted(by_ticker.items()), key=lambda kv: kv[1]) if by_ticker else None
    worst = min(sorted(by_ticker.items()), key=lambda kv: kv[1]) if by_ticker else None
    reasons: dict[str, int] = {}
    for c in closed:
        reasons[c.exit_reason.value] = reasons.get(c.exit_reason.value, 0) + 1
    return {
        "trades": n,
        "wins": len(wins),
        "losses": len(losses),
        "win_rate": len(wins) / n if n else None,
        "profit_factor": (float(gross_win / gross_loss) if gross_loss > 0
                          else (math.inf if gross_win > 0 else None)),
        "expectancy": float(sum(pnl, Decimal(0)) / n) if n else None,
        "realized_pnl": float(sum(pnl, Decimal(0))),
        "avg_win": float(gross_win / len(wins)) if wins else None,
        "avg_loss": float(-gross_loss / len(losses)) if losses else None,
        "avg_hold_days": (sum(c.hold_duration_seconds for c in closed) / n / 86400.0
                          if n else None),
        "best_ticker": best[0] if best else None,
        "best_ticker_pnl": float(best[1]) if best else None,
        "worst_ticker": worst[0] if worst else None,
        "worst_ticker_pnl": float(worst[1]) if worst else None,
        "exit_reasons": reasons,
    }


def summary(equity: Sequence[float] | FloatArray, closed: Sequence[ClosedPosition],
            periods: int = ANNUALIZATION) -> dict[str, object]:
    """Return every metric for one period: returns-based and trade-based."""
    if len(equity) == 2:
        one = _summary_one_return(float(equity[0]), float(equity[1]), closed, periods)
        if one is not None:
            return one
    return _summary_array(equity, closed, periods)


def _summary_array(equity: Sequence[float] | FloatArray, closed: Sequence[ClosedPosition],
                   periods: int) -> dict[str, object]:
    e = np.asarray(equity, dtype=np.float64)
    r = returns_from_equity(e)
    out: dict[str, object] = {
        "start_equity": float(e[0]) if e.size else None,
        "end_equity": float(e[-1]) if e.size else None,
        "pnl": float(e[-1] - e[0]) if e.size else 0.0,
        "total_return": cumulative_return(r),
        "annual_return": annual_return(r, periods),
        "annual_volatility": annual_volatility(r, periods),
        "sharpe": sharpe_ratio(r, periods),
        "sortino": sortino_ratio(r, periods),
        "max_drawdown": max_drawdown(r),
        "days": int(e.size),
    }
    out.update(trade_stats(closed))
    return {k: _clean(v) for k, v in out.items()}


def _summary_one_return(e0: float, e1: float, closed: Sequence[ClosedPosition], periods: int
                        ) -> dict[str, object] | None:
    """:func:`summary` of a two-point curve (one return: a day), in plain float arithmetic.

    The same IEEE operations as the array path on one element, so the same values; a tracker
    stores one of these for every day of a run. None when the return is not finite (a zero
    or non-finite start), which the array path handles.
    """
    if e0 == 0.0 or not (math.isfinite(e0) and math.isfinite(e1)):
        return None
    r = e1 / e0 - 1.0
    if not math.isfinite(r):
        return None
    ending = 1.0 + r
    wealth_peak = ending if ending > 1.0 else 1.0
    out: dict[str, object] = {
        "start_equity": e0,
        "end_equity": e1,
        "pnl": e1 - e0,
        "total_return": ending - 1.0,
        "annual_return": -1.0 if ending <= 0 else _compound(ending, periods / 1),
        "annual_volatility": math.nan,
        "sharpe": math.nan,
        "sortino": math.nan,
        "max_drawdown": min(0.0, ending / wealth_peak - 1.0),
        "days": 2,
    }
    out.update(trade_stats(closed))
    return {k: _clean(v) for k, v in out.items()}


def _clean(v: object) -> object:
    """Make a metric JSON-safe: NaN -> None, inf stays a string."""
    if isinstance(v, float):
        if math.isnan(v):
            return None
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return round(v, 10)
    return v
