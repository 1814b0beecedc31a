"""The all-pairs correlation table equals the pairwise function to the bit."""

from __future__ import annotations

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from domain.risk.correlation import _correlation_table, correlation_clusters, pairwise_correlation

_VALUES = st.floats(min_value=-0.5, max_value=0.5, allow_nan=False, width=64)


@st.composite
def _panels(draw: st.DrawFn) -> np.ndarray:
    k = draw(st.integers(2, 9))
    n = draw(st.integers(1, 70))
    m = draw(arrays(np.float64, (k, n), elements=_VALUES))
    if draw(st.booleans()):  # a constant row, and a row copied (correlation 1)
        m[draw(st.integers(0, k - 1))] = m[0, 0]
        m[k - 1] = m[0]
    return m


@settings(max_examples=200)
@given(_panels(), st.integers(2, 30))
@example(np.zeros((3, 10)), 5)
def test_table_when_rows_finite_and_equal_length_then_bitwise_pairwise(
        m: np.ndarray, min_obs: int) -> None:
    rows = list(m)
    table = _correlation_table(rows, min_obs)
    if m.shape[1] < min_obs:
        assert table is None
        return
    assert table is not None
    for i in range(len(rows)):
        for j in range(i + 1, len(rows)):
            assert table[i][j] == pairwise_correlation(rows[i], rows[j], min_obs), (i, j)


def test_table_when_a_value_is_missing_or_lengths_differ_then_none() -> None:
    a = np.linspace(-0.01, 0.01, 30)
    assert _correlation_table([a, a[::-1].copy(), np.where(a > 0, np.nan, a)], 5) is None
    assert _correlation_table([a, a[:-1]], 5) is None


@settings(max_examples=100)
@given(_panels(), st.floats(-0.9, 0.99), st.booleans())
def test_clusters_when_table_or_pairwise_then_same(m: np.ndarray, threshold: float,
                                                   ragged: bool) -> None:
    names = [f"T{i}" for i in range(m.shape[0])]
    returns = {t: m[i] for i, t in enumerate(names)}
    if ragged:  # one shorter series: the pairwise path
        returns[names[0]] = m[0][1:]
    got = correlation_clusters(returns, names, threshold, 60, 5)
    # the reference: single linkage over the pairwise function
    parent = {t: t for t in names}

    def find(t: str) -> str:
        while parent[t] != t:
            t = parent[t]
        return t

    for i, a in enumerate(names):
        for b in names[i + 1:]:
            c = pairwise_correlation(returns[a][-60:], returns[b][-60:], 5)
            if c is not None and c > threshold and find(a) != find(b):
                parent[find(b)] = find(a)
    want = {t: frozenset(u for u in names if find(u) == find(t)) for t in names}
    assert got == want
