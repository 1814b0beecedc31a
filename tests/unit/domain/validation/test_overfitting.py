"""Deflated Sharpe ratio and PBO against worked examples and planted / absent edges."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.validation.overfitting import (
    deflated_sharpe_ratio,
    expected_max_sharpe,
    norm_cdf,
    norm_ppf,
    pbo_cscv,
    per_period_sharpe,
    sharpe_moments,
)


def test_deflated_sharpe_matches_the_papers_numerical_example() -> None:
    # Bailey, D. H. and López de Prado, M. (2014), "The Deflated Sharpe Ratio: Correcting
    # for Selection Bias, Backtest Overfitting and Non-Normality", Journal of Portfolio
    # Management 40(5), section "A numerical example": N = 100 trials, the best with an
    # annualised Sharpe of 2.5 over T = 1,250 daily observations (250 a year), skewness -3,
    # kurtosis 10, and an annualised variance of the trials' Sharpe ratios of 0.5. The paper
    # finds E[max SR] = 0.1132 (non-annualised) and DSR = 0.9004: not significant at 95 %.
    sr = per_period_sharpe(2.5, 250)
    d = deflated_sharpe_ratio(sr, 1250, 100, 0.5 / 250, skew=-3.0, kurtosis=10.0)
    assert sr == pytest.approx(0.1581, abs=1e-4)
    assert d.benchmark == pytest.approx(0.1132, abs=1e-4)
    assert d.dsr == pytest.approx(0.9004, abs=5e-4)
    assert not d.significant()


def test_one_trial_has_no_selection_bias() -> None:
    assert expected_max_sharpe(1, 0.3) == 0.0
    assert expected_max_sharpe(10, 0.0) == 0.0
    assert expected_max_sharpe(1000, 0.01) > expected_max_sharpe(10, 0.01) > 0


@given(st.floats(1e-9, 1 - 1e-9))
def test_norm_ppf_inverts_norm_cdf(p: float) -> None:
    assert norm_cdf(norm_ppf(p)) == pytest.approx(p, rel=1e-9, abs=1e-12)


def test_pbo_worked_example() -> None:
    # The procedure of Bailey, Borwein, López de Prado and Zhu (2015), "The Probability of
    # Backtest Overfitting", Journal of Computational Finance 20(4), section 2 (CSCV), on a
    # matrix small enough to do by hand: S = 4 blocks of 2 rows, N = 3 candidates.
    # A earns in blocks 1-2 and loses in 3-4, B the reverse, C earns a little everywhere.
    a = [3, 1, 3, 1, -1, -3, -1, -3]
    b = [-1, -3, -1, -3, 3, 1, 3, 1]
    c = [1, 0] * 4
    m = np.array([a, b, c], dtype=np.float64).T / 100
    res = pbo_cscv(m, partitions=4)
    # In sample {1,2}: A is best (Sharpe 1.73) and worst out of sample: w = 1/4, logit ln 1/3.
    # In sample {3,4}: B likewise. The four mixed splits: A and B have Sharpe 0, C (0.87)
    # is best and stays best out of sample: w = 3/4, logit ln 3. PBO = 2 of 6 = 1/3.
    assert res.splits == 6
    assert sorted(res.logits) == pytest.approx([math.log(1 / 3)] * 2 + [math.log(3)] * 4)
    assert res.pbo == pytest.approx(1 / 3)


def test_pbo_of_pure_noise_is_about_one_half_and_dsr_not_significant() -> None:
    rng = np.random.default_rng(7)
    pbos = []
    for _ in range(5):
        m = rng.normal(0.0, 0.01, size=(1000, 100))
        pbos.append(pbo_cscv(m, partitions=10).pbo)
    assert 0.4 <= float(np.mean(pbos)) <= 0.7
    # The best of the 100 noise candidates looks good in sample but does not deflate well.
    m = rng.normal(0.0, 0.01, size=(1000, 100))
    sharpes = m.mean(axis=0) / m.std(axis=0, ddof=1)
    best = int(np.argmax(sharpes))
    sr, skew, kurt, n = sharpe_moments(m[:, best])
    d = deflated_sharpe_ratio(sr, n, 100, float(sharpes.var(ddof=1)), skew, kurt)
    assert sr * math.sqrt(252) > 1.0  # an annualised Sharpe above 1 by luck alone
    assert not d.significant()


def test_pbo_of_a_planted_edge_is_low_and_dsr_significant() -> None:
    rng = np.random.default_rng(11)
    m = rng.normal(0.0, 0.01, size=(1000, 50))
    m[:, :5] += 0.002  # five candidates with a real per-period edge (annualised Sharpe ~3)
    res = pbo_cscv(m, partitions=10)
    assert res.pbo < 0.1
    sharpes = m.mean(axis=0) / m.std(axis=0, ddof=1)
    sr, skew, kurt, n = sharpe_moments(m[:, int(np.argmax(sharpes))])
    assert deflated_sharpe_ratio(sr, n, 50, float(sharpes.var(ddof=1)), skew, kurt).significant()


def test_pbo_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError, match="N >= 2"):
        pbo_cscv(np.zeros((100, 1)))
    with pytest.raises(ValueError, match="partitions must be an even number"):
        pbo_cscv(np.zeros((100, 3)), partitions=5)
    with pytest.raises(ValueError, match="too few"):
        pbo_cscv(np.zeros((10, 3)), partitions=16)
