"""Equity and drawdown charts of evaluated agents (the :class:`application.ports.EquityChart`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from domain.rl.episodes import EpisodeMetrics

__all__ = ["MatplotlibEquityChart", "equal_weight_curve"]


def equal_weight_curve(results: Sequence[EpisodeMetrics]) -> pd.Series:
    """Mean over tickers of value / initial value, by date (tickers present that day)."""
    cols = {
        r.ticker: pd.Series(np.asarray(r.values) / r.values[0], index=pd.to_datetime(r.dates))
        for r in results
    }
    return pd.DataFrame(cols).ffill().mean(axis=1)


class MatplotlibEquityChart:
    """Equal-weight equity over tickers (top) and its drawdown (bottom), one line per agent."""

    def write(
        self, results: Mapping[str, Sequence[EpisodeMetrics]], path: str, title: str
    ) -> None:
        """Write the chart as a PNG to ``path`` (parent folders created)."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(9, 6), sharex=True,
                                       gridspec_kw={"height_ratios": [3, 1]})
        for label, res in results.items():
            curve = equal_weight_curve(res)
            ax1.plot(curve.index, curve.to_numpy(), label=label)
            dd = curve / curve.cummax() - 1.0
            ax2.plot(dd.index, dd.to_numpy() * 100, label=label)
        ax1.set_title(title)
        ax1.set_ylabel("value / initial")
        ax1.legend()
        ax1.grid(alpha=0.3)
        ax2.set_ylabel("drawdown %")
        ax2.grid(alpha=0.3)
        fig.tight_layout()
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=110)
        plt.close(fig)
