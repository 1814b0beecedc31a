"""Use case: walk-forward validation with overfitting statistics.

The windows (:mod:`domain.validation.windows`) become :class:`WindowJob` values; a
:class:`application.ports.WindowExecutor` runs them through a
:class:`application.ports.WindowRunner` (which trains or selects candidates on the train
bars and tests the chosen one out of sample, next to buy-and-hold and random); each finished
window is saved in a :class:`application.ports.WalkForwardStore` at once, so a run that is
interrupted skips the finished windows when it is started again with the same settings.

The report stitches the out-of-sample windows, counts the windows that beat the baselines,
and computes the deflated Sharpe ratio over every trial run (each candidate of each window,
tuning trials included) and the probability of backtest overfitting over the candidates'
out-of-sample return matrix.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs
import numpy as np

from application.ports import WalkForwardStore, WindowExecutor, WindowRunner
from domain.validation.aggregate import WalkForwardSummary, stitch_equity, summarise
from domain.validation.jobs import WindowJob, WindowResult
from domain.validation.overfitting import (
    DeflatedSharpe,
    PboResult,
    deflated_sharpe_ratio,
    pbo_cscv,
    sharpe_moments,
)
from domain.validation.windows import Window

__all__ = [
    "WalkForwardReport",
    "plan_jobs",
    "run_key",
    "walk_forward",
]


def run_key(settings: Mapping[str, Any], data_hash: str) -> str:
    """Return the key that identifies a run: the settings and the data's content hash."""
    blob = json.dumps({"settings": settings, "data": data_hash}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def plan_jobs(
    dates: Sequence[dt.date], windows: Sequence[Window], settings: Mapping[str, Any]
) -> list[WindowJob]:
    """Return one job per window, with the dates of its first and last bars."""
    return [
        WindowJob(
            index=w.index,
            train_start=dates[w.train_start].isoformat(),
            train_end=dates[w.train_stop - 1].isoformat(),
            test_start=dates[w.test_start].isoformat(),
            test_end=dates[w.test_stop - 1].isoformat(),
            bars=(w.train_start, w.train_stop, w.test_start, w.test_stop),
            settings=dict(settings),
        )
        for w in windows
    ]


@attrs.frozen
class WalkForwardReport:
    """Everything a walk-forward run found."""

    run_key: str
    windows: tuple[WindowResult, ...]
    summary: WalkForwardSummary
    deflated_sharpe: DeflatedSharpe
    pbo: PboResult | None
    pbo_note: str
    n_trials: int
    resumed: int

    def equity(self) -> tuple[list[float], list[float]]:
        """Return the stitched out-of-sample equity and buy-and-hold's, both from 1."""
        oos = stitch_equity([w.oos_returns for w in self.windows])
        bh = stitch_equity([w.bh_returns for w in self.windows])
        return [float(x) for x in oos], [float(x) for x in bh]

    def scatter(self) -> list[list[float]]:
        """Return ``[in-sample Sharpe, out-of-sample Sharpe]`` (per period) per candidate."""
        pts: list[list[float]] = []
        for w in self.windows:
            for c in w.candidates:
                r = np.asarray(c.get("oos_returns", ()), dtype=np.float64)
                sd = float(r.std(ddof=1)) if r.size > 1 else 0.0
                oos = float(r.mean()) / sd if sd > 0 else 0.0
                pts.append([float(c.get("is_sharpe", math.nan)), oos])
        return pts

    def to_json(self) -> dict[str, Any]:
        """Return the report as JSON (keys ``windows``, ``aggregate``, ``deflated_sharpe``,
        ``pbo``, ...)."""
        out: dict[str, Any] = _clean({
            "run_key": self.run_key,
            "windows": [
                {
                    "index": w.index,
                    "train_start": w.train_start,
                    "train_end": w.train_end,
                    "test_start": w.test_start,
                    "test_end": w.test_end,
                    "metrics": dict(w.metrics),
                    "baselines": {k: dict(v) for k, v in w.baselines.items()},
                    "chosen": {
                        "label": w.chosen_candidate.get("label"),
                        "params": dict(w.chosen_candidate.get("params", {})),
                        "is_sharpe": w.chosen_candidate.get("is_sharpe"),
                        "is_annual_return": w.chosen_candidate.get("is_annual_return"),
                    },
                    "candidates": len(w.candidates),
                    "seconds": w.seconds,
                }
                for w in self.windows
            ],
            "aggregate": self.summary.to_json(),
            "deflated_sharpe": self.deflated_sharpe.to_json(),
            "pbo": None if self.pbo is None else self.pbo.to_json(),
            "pbo_note": self.pbo_note,
            "scatter": self.scatter(),
            "n_trials": self.n_trials,
            "resumed_windows": self.resumed,
        })
        return out


def _clean(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_clean(x) for x in v]
    return v


def walk_forward(
    runner: WindowRunner,
    executor: WindowExecutor,
    jobs: Sequence[WindowJob],
    store: WalkForwardStore,
    key: str,
    *,
    progress: Callable[[WindowResult], None] | None = None,
    periods_per_year: int = 252,
) -> WalkForwardReport:
    """Run the jobs not yet finished under ``key``, then aggregate every window.

    Raises
    ------
    ValueError
        No jobs.
    """
    if not jobs:
        raise ValueError("no walk-forward windows to run")
    done = {i: r for i, r in store.finished(key).items() if i < len(jobs)}
    todo = [j for j in jobs if j.index not in done]
    resumed = len(done)
    for result in executor.run(runner, todo):
        store.save_window(key, result)
        done[result.index] = result
        if progress is not None:
            progress(result)
    missing = [j.index for j in jobs if j.index not in done]
    if missing:
        raise RuntimeError(f"the executor returned no result for windows {missing}")
    results = tuple(done[j.index] for j in jobs)
    report = _report(key, results, resumed, periods_per_year)
    store.save_run(key, report.to_json())
    return report


def _report(
    key: str, results: tuple[WindowResult, ...], resumed: int, periods_per_year: int
) -> WalkForwardReport:
    summary = summarise([r.outcome() for r in results], periods_per_year)
    oos = np.concatenate([np.asarray(r.oos_returns, dtype=np.float64) for r in results])
    sr, skew, kurt, n_obs = sharpe_moments(oos)
    n_trials = sum(len(r.candidates) for r in results)
    variance = _trial_sharpe_variance(results)
    dsr = deflated_sharpe_ratio(
        sr if math.isfinite(sr) else 0.0, max(n_obs, 2), max(n_trials, 1), variance, skew, kurt
    )
    pbo, note = _pbo(results)
    return WalkForwardReport(key, results, summary, dsr, pbo, note, n_trials, resumed)


def _trial_sharpe_variance(results: Sequence[WindowResult]) -> float:
    """Variance of the trials' per-period Sharpe ratios, on the same footing as the OOS one.

    When every window tried the same number of candidates, each candidate's out-of-sample
    returns are stitched over all windows and its Sharpe ratio taken over that whole sample
    (the length of the tested strategy's own record); otherwise the candidates' Sharpe
    ratios on their train windows' validation bars are used.
    """
    m = _candidate_matrix(results)
    if m is not None:
        sd = m.std(axis=0, ddof=1)
        sharpes = np.where(sd > 0, m.mean(axis=0) / np.where(sd > 0, sd, 1.0), 0.0)
    else:
        sharpes = np.asarray(
            [float(c.get("is_sharpe", math.nan)) for r in results for c in r.candidates],
            dtype=np.float64,
        )
    finite = sharpes[np.isfinite(sharpes)]
    return float(finite.var(ddof=1)) if finite.size >= 2 else 0.0


def _candidate_matrix(results: Sequence[WindowResult]) -> Any:
    """The ``T x N`` matrix of the candidates' stitched OOS returns, or None."""
    counts = {len(r.candidates) for r in results}
    if len(counts) != 1:
        return None
    n = counts.pop()
    if n < 2:
        return None
    cols: list[list[float]] = [[] for _ in range(n)]
    for r in results:
        length = min(len(c.get("oos_returns", ())) for c in r.candidates)
        for k, c in enumerate(r.candidates):
            cols[k].extend(float(x) for x in list(c["oos_returns"])[:length])
    return np.nan_to_num(np.asarray(cols, dtype=np.float64).T, nan=0.0)


def _pbo(results: Sequence[WindowResult]) -> tuple[PboResult | None, str]:
    """PBO over the candidates' out-of-sample returns, stacked window after window."""
    counts = {len(r.candidates) for r in results}
    if len(counts) != 1:
        return None, "the windows tried different numbers of candidates"
    m = _candidate_matrix(results)
    if m is None:
        return None, "PBO needs two candidates or more per window (tune or use an ensemble)"
    t = m.shape[0]
    partitions = 16
    while partitions > 2 and t // partitions < 4:
        partitions -= 2
    if t // partitions < 2:
        return None, f"{t} out-of-sample bars are too few for PBO"
    return pbo_cscv(m, partitions), f"{partitions} partitions of {t // partitions} bars"
