"""Aggregation of walk-forward windows: the stitched out-of-sample curve and summary figures.

Each window contributes its out-of-sample per-period returns; chaining them gives the equity
curve a strategy re-trained at each window would have produced. The summary adds the share
of windows that beat buy-and-hold (and random), the walk-forward efficiency (annualised
out-of-sample return over annualised in-sample return, Pardo's definition) and, for each
chosen parameter, its values per window and their spread.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import numpy as np
from numpy.typing import NDArray

from domain.analytics import metrics as perf

__all__ = [
    "WalkForwardSummary",
    "WindowOutcome",
    "parameter_stability",
    "stitch_equity",
    "summarise",
    "walk_forward_efficiency",
]

F64 = NDArray[np.float64]


@attrs.frozen(kw_only=True)
class WindowOutcome:
    """What one window produced, as plain numbers.

    ``oos_returns`` are the strategy's per-period out-of-sample returns; ``bh_returns`` and
    ``random_returns`` those of buy-and-hold and the random baseline over the same bars.
    ``is_annual_return`` is the chosen candidate's annualised in-sample return.
    ``params`` are the chosen parameters (hyper-parameters or rule settings).
    """

    index: int
    oos_returns: tuple[float, ...]
    bh_returns: tuple[float, ...]
    random_returns: tuple[float, ...] = ()
    is_annual_return: float = math.nan
    params: Mapping[str, Any] = attrs.field(factory=dict)


def stitch_equity(returns_per_window: Sequence[Sequence[float]], start: float = 1.0) -> F64:
    """Return the equity curve of the windows' returns chained in order (``start`` first)."""
    parts = [np.asarray(w, dtype=np.float64) for w in returns_per_window]
    r = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float64)
    r = np.nan_to_num(r, nan=0.0)
    return np.asarray(start * np.concatenate([[1.0], np.cumprod(1.0 + r)]), dtype=np.float64)


def walk_forward_efficiency(oos_annual: Sequence[float], is_annual: Sequence[float]) -> float:
    """Return mean annualised OOS return over mean annualised IS return (NaN if IS <= 0)."""
    o = np.asarray(oos_annual, dtype=np.float64)
    i = np.asarray(is_annual, dtype=np.float64)
    keep = np.isfinite(o) & np.isfinite(i)
    if not keep.any():
        return math.nan
    denom = float(i[keep].mean())
    if denom <= 0:
        return math.nan
    return float(o[keep].mean()) / denom


def parameter_stability(params: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Return, per parameter, its value in each window and its spread.

    Numeric parameters get ``mean``, ``std`` and the coefficient of variation ``cv``
    (std / |mean|); others get the number of distinct values and the most common one's share.
    """
    keys = sorted({k for p in params for k in p})
    out: dict[str, dict[str, Any]] = {}
    for k in keys:
        values = [p.get(k) for p in params]
        entry: dict[str, Any] = {"values": values}
        nums = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
        if nums and len(nums) == len(values):
            a = np.asarray(nums, dtype=np.float64)
            mean = float(a.mean())
            std = float(a.std(ddof=0))
            entry.update(mean=mean, std=std, cv=(std / abs(mean)) if mean else math.nan)
        else:
            texts = [repr(v) for v in values]
            top = max(set(texts), key=texts.count)
            entry.update(distinct=len(set(texts)), mode_share=texts.count(top) / len(texts))
        out[k] = entry
    return out


@attrs.frozen
class WalkForwardSummary:
    """The aggregate figures of a walk-forward run."""

    windows: int
    oos_total_return: float
    oos_annual_return: float
    oos_sharpe: float
    oos_max_drawdown: float
    bh_total_return: float
    bh_sharpe: float
    share_beating_buy_and_hold: float
    share_beating_random: float
    walk_forward_efficiency: float
    parameter_stability: dict[str, dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        """Return the summary as JSON (non-finite numbers as null)."""
        return {k: _clean(v) for k, v in attrs.asdict(self).items()}


def _clean(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_clean(x) for x in v]
    return v


def _total(r: Sequence[float] | F64) -> float:
    a = np.nan_to_num(np.asarray(r, dtype=np.float64), nan=0.0)
    return float(np.prod(1.0 + a) - 1.0)


def summarise(outcomes: Sequence[WindowOutcome], periods_per_year: int = 252) -> WalkForwardSummary:
    """Return the aggregate figures of ``outcomes`` (in window order).

    A window beats a baseline when its out-of-sample total return is strictly higher.
    """
    if not outcomes:
        raise ValueError("no windows to summarise")
    ordered = sorted(outcomes, key=lambda o: o.index)
    oos = np.concatenate([np.asarray(o.oos_returns, dtype=np.float64) for o in ordered])
    bh = np.concatenate([np.asarray(o.bh_returns, dtype=np.float64) for o in ordered])
    beats_bh = [_total(o.oos_returns) > _total(o.bh_returns) for o in ordered]
    with_random = [o for o in ordered if o.random_returns]
    beats_rnd = [_total(o.oos_returns) > _total(o.random_returns) for o in with_random]
    oos_annual = [perf.annual_return(np.asarray(o.oos_returns), periods_per_year) for o in ordered]
    sharpe = perf.sharpe_ratio(oos, periods_per_year)
    bh_sharpe = perf.sharpe_ratio(bh, periods_per_year)
    return WalkForwardSummary(
        windows=len(ordered),
        oos_total_return=_total(oos),
        oos_annual_return=perf.annual_return(oos, periods_per_year),
        oos_sharpe=sharpe,
        oos_max_drawdown=perf.max_drawdown(oos),
        bh_total_return=_total(bh),
        bh_sharpe=bh_sharpe,
        share_beating_buy_and_hold=float(np.mean(beats_bh)),
        share_beating_random=float(np.mean(beats_rnd)) if beats_rnd else math.nan,
        walk_forward_efficiency=walk_forward_efficiency(
            oos_annual, [o.is_annual_return for o in ordered]
        ),
        parameter_stability=parameter_stability([o.params for o in ordered]),
    )
