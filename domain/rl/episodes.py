"""One agent's episode over one ticker, and the mean of the episodes' metrics."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np

__all__ = ["METRIC_KEYS", "EpisodeMetrics", "mean_metrics"]

METRIC_KEYS = (
    "total_return",
    "annual_return",
    "annual_volatility",
    "sharpe",
    "sortino",
    "max_drawdown",
    "turnover",
    "trades",
)


@attrs.frozen
class EpisodeMetrics:
    """One ticker's episode: the evaluate module's metrics plus turnover and the curve."""

    ticker: str
    start: str
    end: str
    steps: int
    total_return: float
    annual_return: float
    annual_volatility: float
    sharpe: float
    sortino: float
    max_drawdown: float
    trades: int
    turnover: float
    final_value: float
    reward: float
    dates: tuple[str, ...] = attrs.field(repr=False, eq=False)
    values: tuple[float, ...] = attrs.field(repr=False, eq=False)

    def summary(self) -> dict[str, Any]:
        """Return the metrics without the curve (JSON-able)."""
        d = attrs.asdict(self)
        d.pop("dates")
        d.pop("values")
        return {k: _finite(v) for k, v in d.items()}


def mean_metrics(results: Sequence[EpisodeMetrics]) -> dict[str, float]:
    """Return the mean of each metric over tickers (non-finite values left out)."""
    out: dict[str, float] = {}
    for k in METRIC_KEYS:
        x = np.asarray([float(getattr(r, k)) for r in results], dtype=np.float64)
        x = x[np.isfinite(x)]
        out[k] = float(x.mean()) if x.size else 0.0
    return out


def _finite(v: Any) -> Any:
    if isinstance(v, float) and not np.isfinite(v):
        return None
    return v
