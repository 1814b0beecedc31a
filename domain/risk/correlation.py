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
    table = _correlation_table([series[t] for t in names], min_obs)
    for i, a in enumerate(names):
        for j in range(i + 1, len(names)):
            b = names[j]
            c = (table[i][j] if table is not None
                 else pairwise_correlation(series[a], series[b], min_obs))
            if c is not None and c > threshold:
                ra, rb = find(a), find(b)
                if ra != rb:
                    parent[rb] = ra
    groups: dict[str, set[str]] = {}
    for t in uniq:
        groups.setdefault(find(t), set()).add(t)
    return {t: frozenset(groups[find(t)]) for t in uniq}


def _correlation_table(rows: Sequence[FloatArray], min_obs: int
                       ) -> list[list[float | None]] | None:
    """Every pair's :func:`pairwise_correlation` at once, when the series all have the same
    length and no missing value (the usual case: the whole overlap is every row); None
    otherwise.

    The arithmetic is the pairwise function's, element by element and each sum along a row
    (numpy sums a row the same way whether it is alone or one row of a matrix), so the values
    are the same to the bit.
    """
    if len(rows) < 2:
        return None
    n = rows[0].shape[0]
    if n < min_obs or any(r.shape[0] != n for r in rows):
        return None
    m = np.vstack(rows)
    if not np.isfinite(m).all():
        return None
    centred = m - m.mean(axis=1)[:, None]
    sq = (centred * centred).sum(axis=1)
    cross = (centred[:, None, :] * centred[None, :, :]).sum(axis=2)
    with np.errstate(invalid="ignore", over="ignore"):
        den = np.sqrt(sq[:, None] * sq[None, :])
    k = len(rows)
    out: list[list[float | None]] = [[None] * k for _ in range(k)]
    for i in range(k):
        for j in range(i + 1, k):
            d = float(den[i, j])
            if not d <= 1e-18:  # as the pairwise function: a NaN falls through
                out[i][j] = float(cross[i, j] / den[i, j])
    return out
