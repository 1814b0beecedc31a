"""A small, picklable window runner over synthetic prices for the walk-forward tests.

Each candidate is a threshold rule on a signal series: long for the next bar when the
signal is above the threshold, flat otherwise, paying ``cost`` on each change of position.
The runner picks the candidate with the best Sharpe ratio on the train window's last
fifth (its validation bars) and tests every candidate out of sample.
"""

from __future__ import annotations

import math
from pathlib import Path

import attrs
import numpy as np
from numpy.typing import NDArray

from domain.validation.jobs import WindowJob, WindowResult

F64 = NDArray[np.float64]


def planted_edge(n: int, seed: int, edge: float) -> tuple[F64, F64]:
    """Return next-bar returns and a signal that reveals their sign ``edge`` of the time."""
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=n)
    noise = rng.normal(0.0, 0.01, size=n)
    returns = noise + edge * np.sign(signal) * 0.01
    return returns, signal


def _rule(returns: F64, signal: F64, threshold: float, cost: float) -> F64:
    pos = (signal > threshold).astype(np.float64)
    turns = np.abs(np.diff(np.concatenate([[0.0], pos])))
    return np.asarray(pos * returns - turns * cost, dtype=np.float64)


def _sharpe(r: F64) -> float:
    sd = float(r.std(ddof=1)) if r.size > 1 else 0.0
    return float(r.mean()) / sd if sd > 0 else 0.0


@attrs.frozen
class ThresholdRunner:
    """Runs one window of the threshold rules; optionally records calls in ``log``."""

    returns: tuple[float, ...]
    signal: tuple[float, ...]
    thresholds: tuple[float, ...]
    cost: float = 0.0005
    log: str | None = None
    fail_on: int | None = None

    def __call__(self, job: WindowJob) -> WindowResult:
        if self.log is not None:
            with Path(self.log).open("a") as f:
                f.write(f"{job.index}\n")
        if self.fail_on == job.index:
            raise RuntimeError(f"window {job.index} interrupted")
        r = np.asarray(self.returns)
        s = np.asarray(self.signal)
        a, b, c, d = job.bars
        val = slice(b - (b - a) // 5, b)
        cands = []
        for th in self.thresholds:
            is_r = _rule(r[val], s[val], th, self.cost)
            oos = _rule(r[c:d], s[c:d], th, self.cost)
            cands.append({
                "label": f"threshold {th:+.2f}",
                "params": {"threshold": th},
                "is_sharpe": _sharpe(is_r),
                "is_annual_return": float(np.mean(is_r) * 252),
                "oos_returns": [float(x) for x in oos],
            })
        best = int(np.argmax([x["is_sharpe"] for x in cands]))
        oos = np.asarray(cands[best]["oos_returns"])
        bh = r[c:d]
        rnd = _rule(r[c:d], np.random.default_rng(job.index).normal(size=d - c), 0.0, self.cost)
        total = float(np.prod(1 + oos) - 1)
        return WindowResult(
            index=job.index, train_start=job.train_start, train_end=job.train_end,
            test_start=job.test_start, test_end=job.test_end, chosen=best,
            metrics={"total_return": total, "sharpe": _sharpe(oos) * math.sqrt(252)},
            baselines={
                "buy_and_hold": {"total_return": float(np.prod(1 + bh) - 1)},
                "random": {"total_return": float(np.prod(1 + rnd) - 1)},
            },
            oos_returns=tuple(float(x) for x in oos),
            bh_returns=tuple(float(x) for x in bh),
            random_returns=tuple(float(x) for x in rnd),
            candidates=tuple(cands),
        )
