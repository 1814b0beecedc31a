"""Correlation clusters: tickers that move together count against one cap."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from domain.risk.inputs import FloatArray


def pairwise_correlation(a: FloatArray, b: FloatArray, min_obs: int) -> float | None:
    """Return the Pearson correlation of the trailing overlap of ``a`` and ``b``.

    The series are aligned at their ends (the last element is the same day for both). Pairs
    with fewer than ``min_obs`` finite overlapping observations, or a constant series, give None.
    """
    n = min(a.shape[0], b.shape[0])
    if n < min_obs:
        return None
    x, y = a[-n:], b[-n:]
    ok = np.isfinite(x) & np.isfinite(y)
    if int(ok.sum()) < min_obs:
        return None
    x, y = x[ok], y[ok]
    x = x - x.mean()
    y = y - y.mean()
    den = float(np.sqrt((x * x).sum() * (y * y).sum()))
    if den <= 1e-18:
        return None
    return float((x * y).sum() / den)


def correlation_clusters(
    returns: Mapping[str, FloatArray],
    tickers: Sequence[str],
    threshold: float,
    lookback: int,
    min_obs: int,
) -> dict[str, frozenset[str]]:
    """Return, for each ticker, the cluster it belongs to (itself included).

    Two tickers are linked when the correlation of their last ``lookback`` daily returns
    exceeds ``threshold``; clusters are the connected components (single linkage), so a chain
    A~B, B~C puts all three under one cap. A ticker without enough history is its own cluster.

    Parameters
    ----------
    returns
        Trailing daily returns per ticker, aligned at the end.
    tickers
        The tickers to cluster (held ones plus the order's).
    threshold, lookback, min_obs
        Link threshold, window length and smallest overlap that counts.
    """
    uniq = list(dict.fromkeys(tickers))
    parent = {t: t for t in uniq}

    def find(t: str) -> str:
        while parent[t] != t:
            parent[t] = parent[parent[t]]
            t = parent[t]
        return t

    series = {t: returns[t][-lookback:] for t in uniq if t in returns}
    names = list(series)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            c = pairwise_correlation(series[a], series[b], min_obs)
            if c is not None and c > threshold:
                ra, rb = find(a), find(b)
                if ra != rb:
                    parent[rb] = ra
    groups: dict[str, set[str]] = {}
    for t in uniq:
        groups.setdefault(find(t), set()).add(t)
    return {t: frozenset(groups[find(t)]) for t in uniq}
