"""Overfitting statistics: the deflated Sharpe ratio and the probability of backtest overfitting.

* :func:`deflated_sharpe_ratio` -- Bailey, D. H. and López de Prado, M. (2014), "The Deflated
  Sharpe Ratio: Correcting for Selection Bias, Backtest Overfitting and Non-Normality",
  *Journal of Portfolio Management* 40(5), 94-107. The probability that the true Sharpe
  ratio of the selected strategy exceeds the Sharpe ratio the best of ``n_trials``
  skill-less trials would show by luck (equations 2 and 3 of the paper).
* :func:`pbo_cscv` -- Bailey, D. H., Borwein, J., López de Prado, M. and Zhu, Q. J. (2015),
  "The Probability of Backtest Overfitting", *Journal of Computational Finance* 20(4). The
  share of combinatorially symmetric cross-validation splits in which the candidate that
  is best in sample ranks below the median out of sample.

Sharpe ratios here are per observation (not annualised); :func:`per_period_sharpe` converts.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import attrs
import numpy as np
from numpy.typing import NDArray

__all__ = [
    "EULER_GAMMA",
    "DeflatedSharpe",
    "PboResult",
    "deflated_sharpe_ratio",
    "expected_max_sharpe",
    "norm_cdf",
    "norm_ppf",
    "pbo_cscv",
    "per_period_sharpe",
    "probabilistic_sharpe_ratio",
    "sharpe_moments",
]

EULER_GAMMA = 0.5772156649015329

F64 = NDArray[np.float64]


def norm_cdf(x: float) -> float:
    """Return the standard normal distribution function at ``x``."""
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def norm_ppf(p: float) -> float:
    """Return the standard normal quantile of ``p`` (Acklam's rational approximation,
    polished by two Newton steps on :func:`norm_cdf`; error below 1e-12)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"probability must be in (0, 1), got {p}")
    a = (-3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02,
         1.383577518672690e02, -3.066479806614716e01, 2.506628277459239e00)
    b = (-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02,
         6.680131188771972e01, -1.328068155288572e01)
    c = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00,
         -2.549732539343734e00, 4.374664141464968e00, 2.938163982698783e00)
    d = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00,
         3.754408661907416e00)
    lo = 0.02425
    if p < lo:
        q = math.sqrt(-2 * math.log(p))
        x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / (
            (((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
    elif p > 1 - lo:
        q = math.sqrt(-2 * math.log(1 - p))
        x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / (
            (((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
    else:
        q = p - 0.5
        r = q * q
        x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q / (
            ((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
    for _ in range(2):
        pdf = math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
        if pdf > 0:
            x -= (norm_cdf(x) - p) / pdf
    return x


def per_period_sharpe(annual: float, periods_per_year: int = 252) -> float:
    """Return the per-observation Sharpe ratio of an annualised one."""
    return annual / math.sqrt(periods_per_year)


def sharpe_moments(returns: Sequence[float] | F64) -> tuple[float, float, float, int]:
    """Return the per-period Sharpe ratio, skewness, kurtosis (3 for a normal) and count."""
    r = np.asarray(returns, dtype=np.float64)
    r = r[np.isfinite(r)]
    n = int(r.size)
    if n < 2:
        return math.nan, 0.0, 3.0, n
    mu = float(r.mean())
    sd = float(r.std(ddof=1))
    if sd == 0.0:
        return math.nan, 0.0, 3.0, n
    z = (r - mu) / float(r.std(ddof=0))
    return mu / sd, float((z**3).mean()), float((z**4).mean()), n


def expected_max_sharpe(n_trials: int, sharpe_variance: float) -> float:
    """Return the expected maximum Sharpe of ``n_trials`` skill-less trials (paper eq. 3).

    ``sqrt(V) * ((1 - gamma) * Z^-1(1 - 1/N) + gamma * Z^-1(1 - 1/(N e)))``, with ``V``
    the variance of the trials' Sharpe ratios and ``gamma`` the Euler-Mascheroni constant.
    One trial has no selection bias: the benchmark is 0.
    """
    if n_trials < 1:
        raise ValueError(f"n_trials must be >= 1, got {n_trials}")
    if sharpe_variance < 0 or math.isnan(sharpe_variance):
        raise ValueError(f"sharpe_variance must be >= 0, got {sharpe_variance}")
    if n_trials == 1:
        return 0.0
    g = EULER_GAMMA
    return math.sqrt(sharpe_variance) * (
        (1 - g) * norm_ppf(1 - 1 / n_trials) + g * norm_ppf(1 - 1 / (n_trials * math.e))
    )


def probabilistic_sharpe_ratio(
    sharpe: float, benchmark: float, n_obs: int, skew: float = 0.0, kurtosis: float = 3.0
) -> float:
    """Return P(true Sharpe > ``benchmark``) given an observed per-period ``sharpe`` (eq. 2).

    ``Z[(SR - SR*) sqrt(T - 1) / sqrt(1 - skew SR + (kurtosis - 1) / 4 SR^2)]``.
    """
    if n_obs < 2:
        raise ValueError(f"n_obs must be >= 2, got {n_obs}")
    denom = 1 - skew * sharpe + (kurtosis - 1) / 4 * sharpe**2
    if denom <= 0 or math.isnan(sharpe):
        return math.nan
    return norm_cdf((sharpe - benchmark) * math.sqrt(n_obs - 1) / math.sqrt(denom))


@attrs.frozen
class DeflatedSharpe:
    """The deflated Sharpe ratio and what went into it (per-period Sharpe ratios)."""

    dsr: float
    sharpe: float
    benchmark: float
    n_trials: int
    n_obs: int
    skew: float
    kurtosis: float
    sharpe_variance: float

    def significant(self, level: float = 0.95) -> bool:
        """Return True when the DSR reaches ``level``."""
        return not math.isnan(self.dsr) and self.dsr >= level

    def to_json(self) -> dict[str, float | int | bool | None]:
        """Return the statistic as JSON (NaN as null)."""
        d = attrs.asdict(self)
        out: dict[str, float | int | bool | None] = {
            k: (None if isinstance(v, float) and not math.isfinite(v) else v)
            for k, v in d.items()
        }
        out["significant"] = self.significant()
        return out


def deflated_sharpe_ratio(
    sharpe: float,
    n_obs: int,
    n_trials: int,
    sharpe_variance: float,
    skew: float = 0.0,
    kurtosis: float = 3.0,
) -> DeflatedSharpe:
    """Return the DSR of the selected strategy's per-period ``sharpe`` among ``n_trials``.

    Parameters
    ----------
    sharpe
        Per-observation Sharpe ratio of the selected strategy.
    n_obs
        Its number of return observations.
    n_trials
        Every trial run to select it (tuning trials included).
    sharpe_variance
        Variance of the trials' per-period Sharpe ratios.
    skew, kurtosis
        Of the selected strategy's returns (kurtosis 3 for a normal distribution).
    """
    bench = expected_max_sharpe(n_trials, sharpe_variance)
    dsr = probabilistic_sharpe_ratio(sharpe, bench, n_obs, skew, kurtosis)
    return DeflatedSharpe(dsr, sharpe, bench, n_trials, n_obs, skew, kurtosis, sharpe_variance)


@attrs.frozen
class PboResult:
    """PBO, the logits of the out-of-sample relative ranks, and the split count.

    ``is_best`` and ``oos_of_best`` hold, per split, the in-sample Sharpe ratio of the
    candidate that was best in sample and its out-of-sample Sharpe ratio (the pairs of the
    paper's performance degradation); :meth:`probability_of_loss` is the share of splits in
    which that candidate lost out of sample.
    """

    pbo: float
    logits: tuple[float, ...]
    splits: int
    partitions: int
    candidates: int
    is_best: tuple[float, ...] = ()
    oos_of_best: tuple[float, ...] = ()

    def probability_of_loss(self) -> float:
        """Share of splits whose in-sample best has an out-of-sample Sharpe ratio below 0."""
        if not self.oos_of_best:
            return math.nan
        return sum(1 for x in self.oos_of_best if x < 0) / len(self.oos_of_best)

    def to_json(self) -> dict[str, object]:
        """Return the result as JSON."""
        p_loss = self.probability_of_loss()
        return {
            "pbo": self.pbo,
            "splits": self.splits,
            "partitions": self.partitions,
            "candidates": self.candidates,
            "probability_of_loss": p_loss if math.isfinite(p_loss) else None,
            "logits": [x if math.isfinite(x) else None for x in self.logits],
        }


def _block_sharpe(m: F64) -> F64:
    """Return each column's Sharpe ratio (mean over sample standard deviation) of ``m``."""
    mu = m.mean(axis=0)
    sd = m.std(axis=0, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(sd > 0, mu / np.where(sd > 0, sd, 1.0), 0.0)
    return np.asarray(s, dtype=np.float64)


def pbo_cscv(returns: F64 | Sequence[Sequence[float]], partitions: int = 16) -> PboResult:
    """Return the probability of backtest overfitting of the candidates in ``returns``.

    The ``T x N`` matrix (one column of per-period returns per candidate) is cut into
    ``partitions`` (``S``, even) row blocks of equal size (the last ``T mod S`` rows are
    dropped). For each of the ``C(S, S/2)`` ways to pick half the blocks as the in-sample
    set (the rest out of sample), the candidate with the best in-sample Sharpe ratio is
    found, its out-of-sample relative rank ``w`` = rank / (N + 1) computed (rank 1 = worst,
    ties averaged) and its logit ``log(w / (1 - w))`` recorded. PBO is the share of splits
    with a logit at or below 0, i.e. the in-sample best at or below the out-of-sample median.

    Raises
    ------
    ValueError
        Fewer than two candidates, an odd or too small ``partitions``, or too few rows.
    """
    m = np.asarray(returns, dtype=np.float64)
    if m.ndim != 2 or m.shape[1] < 2:
        raise ValueError(f"returns must be a T x N matrix with N >= 2 candidates, got {m.shape}")
    if partitions < 2 or partitions % 2:
        raise ValueError(f"partitions must be an even number >= 2, got {partitions}")
    t, n = m.shape
    size = t // partitions
    if size < 2:
        raise ValueError(
            f"{t} rows are too few for {partitions} partitions of at least 2 rows each"
        )
    m = np.nan_to_num(m[: size * partitions], nan=0.0)
    blocks = [m[i * size : (i + 1) * size] for i in range(partitions)]
    logits: list[float] = []
    is_best: list[float] = []
    oos_of_best: list[float] = []
    for chosen in itertools.combinations(range(partitions), partitions // 2):
        rest = [i for i in range(partitions) if i not in chosen]
        is_perf = _block_sharpe(np.vstack([blocks[i] for i in chosen]))
        oos_perf = _block_sharpe(np.vstack([blocks[i] for i in rest]))
        best = int(np.argmax(is_perf))
        rank = _average_rank(oos_perf)[best]
        w = rank / (n + 1)
        logits.append(math.log(w / (1 - w)))
        is_best.append(float(is_perf[best]))
        oos_of_best.append(float(oos_perf[best]))
    arr = np.asarray(logits)
    return PboResult(
        float((arr <= 0).mean()), tuple(logits), len(logits), partitions, n,
        tuple(is_best), tuple(oos_of_best),
    )


def _average_rank(x: F64) -> F64:
    """Return 1-based ascending ranks of ``x``, ties given their average rank."""
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x), dtype=np.float64)
    ranks[order] = np.arange(1, len(x) + 1, dtype=np.float64)
    for v in np.unique(x):
        tie = x == v
        if tie.sum() > 1:
            ranks[tie] = ranks[tie].mean()
    return ranks
