"""Technical indicators as vectorised NumPy on ``float64`` arrays.

Every function is *causal*: the value at index ``t`` depends on the inputs at indices
``0..t`` only, never on anything later. Values that are not defined yet (the warm-up) are
``NaN``. Inputs are one-dimensional arrays of equal length in time order; the functions
never modify their inputs.

Definitions follow TA-Lib (``talib``, default "compatibility" mode, unstable period 0)
where TA-Lib has the indicator, so the unit tests compare with it to 1e-9 relative on real
prices:

========  ============================================================  =================
name      definition                                                    first value at
========  ============================================================  =================
SMA n     mean of the last ``n`` values                                 ``n - 1``
EMA n     ``k = 2 / (n + 1)``, seeded with the SMA of the first ``n``    ``n - 1``
RSI n     Wilder: average gain / loss seeded with the simple mean of    ``n``
          the first ``n`` changes, then ``avg = (avg * (n-1) + x) / n``
ATR n     Wilder smoothing of the true range, seeded with the mean of   ``n``
          TR[1..n] (TR needs a previous close, so TR[0] is undefined)
MACD      ``EMA_fast - EMA_slow``; both EMAs are seeded at index        ``slow + signal
          ``slow - 1`` (TA-Lib's alignment); signal = EMA of MACD,       - 2``
          seeded with the SMA of its first ``signal`` values
========  ============================================================  =================

Indicators TA-Lib does not have, defined here:

* RVOL n: ``volume[t] / mean(volume[t-n .. t-1])``, the bar's volume relative to the mean
  of the ``n`` bars *before* it (the current bar is excluded so a spike is not diluted).
* VWAP n: rolling volume-weighted typical price over the last ``n`` bars,
  ``sum(tp * v) / sum(v)`` with ``tp = (high + low + close) / 3``. Daily bars have no
  intraday session to anchor a cumulative VWAP, so a rolling window is used.
* beta n: ``cov(r_a, r_b) / var(r_b)`` over the last ``n`` simple returns (population
  moments), the same as ``talib.BETA(benchmark, asset, n)``.
* rolling return volatility, max drawdown and Sharpe used by the RL features.

Recursive indicators (EMA, Wilder) run as a Python loop over plain floats: NumPy has no
causal IIR filter, and a loop over a few thousand floats costs well under a millisecond.

Why one module: a flat family of independent functions that share the input checks at its
top and the TA-Lib definitions table above; one indicator per module would scatter both.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "FloatArray",
    "atr",
    "beta",
    "ema",
    "macd",
    "max_drawdown",
    "pct_change",
    "rolling_mean",
    "rolling_sharpe",
    "rolling_std",
    "rsi",
    "rvol",
    "sma",
    "true_range",
    "vwap",
]

FloatArray = NDArray[np.float64]


def _arr(x: ArrayLike, name: str) -> FloatArray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {a.shape}")
    return a


def _period(n: int, name: str = "period") -> int:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {n!r}")
    return int(n)


def _same_length(*arrays: FloatArray) -> int:
    n = len(arrays[0])
    if any(len(a) != n for a in arrays):
        raise ValueError("input arrays must have the same length")
    return n


def _nan(n: int) -> FloatArray:
    return np.full(n, np.nan, dtype=np.float64)


def rolling_mean(x: ArrayLike, n: int) -> FloatArray:
    """Return the trailing mean of the last ``n`` values.

    Parameters
    ----------
    x
        Input series.
    n
        Window length in bars.

    Returns
    -------
    numpy.ndarray
        ``out[t] = mean(x[t-n+1 .. t])`` for ``t >= n - 1``, ``NaN`` before. A window
        containing ``NaN`` gives ``NaN``.
    """
    a = _arr(x, "x")
    n = _period(n)
    out = _nan(len(a))
    if len(a) >= n:
        out[n - 1 :] = sliding_window_view(a, n).mean(axis=1)
    return out


def sma(close: ArrayLike, n: int = 20) -> FloatArray:
    """Return the simple moving average (TA-Lib ``SMA``).

    Parameters
    ----------
    close
        Prices.
    n
        Window length; 20 in the RL features.

    Returns
    -------
    numpy.ndarray
        Mean of the last ``n`` prices, ``NaN`` for the first ``n - 1`` bars.
    """
    return rolling_mean(close, n)


def rolling_std(x: ArrayLike, n: int, ddof: int = 1) -> FloatArray:
    """Return the trailing standard deviation of the last ``n`` values.

    Parameters
    ----------
    x
        Input series.
    n
        Window length.
    ddof
        Delta degrees of freedom (1 = sample standard deviation, as pandas).

    Returns
    -------
    numpy.ndarray
        ``std(x[t-n+1 .. t], ddof)``; ``NaN`` during the warm-up or when ``n <= ddof``.
    """
    a = _arr(x, "x")
    n = _period(n)
    out = _nan(len(a))
    if len(a) >= n > ddof:
        out[n - 1 :] = sliding_window_view(a, n).std(axis=1, ddof=ddof)
    return out


def _ema_loop(a: FloatArray, n: int, seed_end: int, out: FloatArray) -> None:
    """Write an EMA of ``a`` into ``out`` seeded with mean(a[seed_end-n+1 .. seed_end])."""
    k = 2.0 / (n + 1.0)
    vals = a.tolist()
    prev = math.fsum(vals[seed_end - n + 1 : seed_end + 1]) / n
    out[seed_end] = prev
    res = out.tolist()
    for t in range(seed_end + 1, len(vals)):
        prev = (vals[t] - prev) * k + prev
        res[t] = prev
    out[:] = res


def ema(close: ArrayLike, n: int = 50) -> FloatArray:
    """Return the exponential moving average (TA-Lib ``EMA``).

    Parameters
    ----------
    close
        Prices.
    n
        Period; smoothing ``k = 2 / (n + 1)``. 50 in the RL features.

    Returns
    -------
    numpy.ndarray
        ``NaN`` for ``t < n - 1``; ``out[n-1]`` is the SMA of the first ``n`` values; then
        ``out[t] = out[t-1] + k * (close[t] - out[t-1])``.
    """
    a = _arr(close, "close")
    n = _period(n)
    out = _nan(len(a))
    if len(a) >= n:
        _ema_loop(a, n, n - 1, out)
    return out


def _wilder(x: FloatArray, n: int, first: int) -> FloatArray:
    """Wilder-smooth ``x``: seed = mean(x[first .. first+n-1]), then (prev*(n-1)+v)/n."""
    out = _nan(len(x))
    seed_end = first + n - 1
    if len(x) <= seed_end:
        return out
    vals = x.tolist()
    prev = math.fsum(vals[first : seed_end + 1]) / n
    res = out.tolist()
    res[seed_end] = prev
    for t in range(seed_end + 1, len(vals)):
        prev = (prev * (n - 1) + vals[t]) / n
        res[t] = prev
    return np.asarray(res, dtype=np.float64)


def rsi(close: ArrayLike, n: int = 14) -> FloatArray:
    """Return Wilder's relative strength index (TA-Lib ``RSI``), in 0..100.

    Parameters
    ----------
    close
        Prices.
    n
        Period (14).

    Returns
    -------
    numpy.ndarray
        ``100 * avg_gain / (avg_gain + avg_loss)`` from index ``n``; ``NaN`` before.
        When both averages are zero (a flat series) the value is 0, as in TA-Lib.
    """
    a = _arr(close, "close")
    n = _period(n)
    out = _nan(len(a))
    if len(a) <= n:
        return out
    d = np.empty_like(a)
    d[0] = np.nan
    d[1:] = np.diff(a)
    gain = _wilder(np.where(d > 0.0, d, 0.0), n, 1)
    loss = _wilder(np.where(d < 0.0, -d, 0.0), n, 1)
    total = gain + loss
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(total > 0.0, 100.0 * gain / total, 0.0)
    out[:n] = np.nan
    return out


def true_range(high: ArrayLike, low: ArrayLike, close: ArrayLike) -> FloatArray:
    """Return the true range (TA-Lib ``TRANGE``).

    Parameters
    ----------
    high, low, close
        Bar prices.

    Returns
    -------
    numpy.ndarray
        ``max(high, prev_close) - min(low, prev_close)`` from index 1; ``NaN`` at 0.
    """
    h, lo, c = _arr(high, "high"), _arr(low, "low"), _arr(close, "close")
    n = _same_length(h, lo, c)
    out = _nan(n)
    if n > 1:
        pc = c[:-1]
        out[1:] = np.maximum(h[1:], pc) - np.minimum(lo[1:], pc)
    return out


def atr(high: ArrayLike, low: ArrayLike, close: ArrayLike, n: int = 14) -> FloatArray:
    """Return Wilder's average true range (TA-Lib ``ATR``).

    Parameters
    ----------
    high, low, close
        Bar prices.
    n
        Period (14).

    Returns
    -------
    numpy.ndarray
        From index ``n``: seeded with ``mean(TR[1..n])`` then Wilder-smoothed.
    """
    n = _period(n)
    tr = true_range(high, low, close)
    return _wilder(tr, n, 1)


def macd(
    close: ArrayLike, fast: int = 12, slow: int = 26, signal: int = 9
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Return MACD, its signal line and the histogram (TA-Lib ``MACD``).

    Parameters
    ----------
    close
        Prices.
    fast, slow
        EMA periods (12, 26). If ``fast > slow`` they are swapped, as TA-Lib does.
    signal
        Period of the signal EMA (9).

    Returns
    -------
    tuple of numpy.ndarray
        ``(macd, signal, hist)``. Both price EMAs are seeded at index ``slow - 1`` (the fast
        one with the SMA of its last ``fast`` prices there), as TA-Lib aligns them; the
        signal is an EMA of MACD seeded with the SMA of MACD[slow-1 .. slow+signal-2].
        All three are ``NaN`` before index ``slow + signal - 2``, as in TA-Lib.
    """
    a = _arr(close, "close")
    fast, slow, signal = (
        _period(fast, "fast"),
        _period(slow, "slow"),
        _period(signal, "signal"),
    )
    if fast > slow:
        fast, slow = slow, fast
    n = len(a)
    m, s = _nan(n), _nan(n)
    first = slow + signal - 2
    if n <= first:
        return m, s, _nan(n)
    ef, es = _nan(n), _nan(n)
    _ema_loop(a, fast, slow - 1, ef)
    _ema_loop(a, slow, slow - 1, es)
    m_full = ef - es
    tail = _nan(n - (slow - 1))
    _ema_loop(m_full[slow - 1 :], signal, signal - 1, tail)
    s[slow - 1 :] = tail
    m[first:] = m_full[first:]
    s[:first] = np.nan
    return m, s, m - s


def rvol(volume: ArrayLike, n: int = 20) -> FloatArray:
    """Return relative volume: this bar's volume over the mean of the ``n`` bars before it.

    Parameters
    ----------
    volume
        Bar volumes.
    n
        Number of *previous* bars in the baseline mean (20).

    Returns
    -------
    numpy.ndarray
        ``volume[t] / mean(volume[t-n .. t-1])`` from index ``n``; ``NaN`` before, and
        ``NaN`` where the baseline mean is zero.
    """
    v = _arr(volume, "volume")
    n = _period(n)
    out = _nan(len(v))
    if len(v) > n:
        base = sliding_window_view(v[:-1], n).mean(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[n:] = np.where(base > 0.0, v[n:] / base, np.nan)
    return out


def vwap(
    high: ArrayLike, low: ArrayLike, close: ArrayLike, volume: ArrayLike, n: int = 20
) -> FloatArray:
    """Return the rolling volume-weighted average typical price over ``n`` bars.

    Parameters
    ----------
    high, low, close, volume
        Bar prices and volume.
    n
        Window in bars (20). Daily bars have no session anchor, so the VWAP is rolling.

    Returns
    -------
    numpy.ndarray
        ``sum(tp * v) / sum(v)`` over ``t-n+1 .. t`` with ``tp = (h + l + c) / 3``;
        ``NaN`` during the warm-up and where the window's volume is zero.
    """
    h, lo, c, v = (
        _arr(high, "high"),
        _arr(low, "low"),
        _arr(close, "close"),
        _arr(volume, "volume"),
    )
    size = _same_length(h, lo, c, v)
    n = _period(n)
    out = _nan(size)
    if size >= n:
        tp = (h + lo + c) / 3.0
        pv = sliding_window_view(tp * v, n).sum(axis=1)
        vv = sliding_window_view(v, n).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[n - 1 :] = np.where(vv > 0.0, pv / vv, np.nan)
    return out


def pct_change(x: ArrayLike, k: int = 1) -> FloatArray:
    """Return the simple return over ``k`` bars, ``x[t] / x[t-k] - 1``.

    Parameters
    ----------
    x
        Prices.
    k
        Lag in bars.

    Returns
    -------
    numpy.ndarray
        ``NaN`` for ``t < k``.
    """
    a = _arr(x, "x")
    k = _period(k, "k")
    out = _nan(len(a))
    if len(a) > k:
        with np.errstate(invalid="ignore", divide="ignore"):
            out[k:] = a[k:] / a[:-k] - 1.0
    return out


def beta(asset_close: ArrayLike, bench_close: ArrayLike, n: int = 60) -> FloatArray:
    """Return the rolling beta of an asset against a benchmark.

    Parameters
    ----------
    asset_close, bench_close
        Prices of the asset and of the benchmark on the same dates.
    n
        Number of daily simple returns in the window (60).

    Returns
    -------
    numpy.ndarray
        ``cov(r_a, r_b) / var(r_b)`` with population moments over the returns ending at
        ``t`` (``talib.BETA(bench, asset, n)``); from index ``n``; ``NaN`` if the benchmark's
        variance is zero or the window holds a ``NaN``.
    """
    a, b = _arr(asset_close, "asset_close"), _arr(bench_close, "bench_close")
    size = _same_length(a, b)
    n = _period(n)
    out = _nan(size)
    if size <= n:
        return out
    ra = pct_change(a)[1:]
    rb = pct_change(b)[1:]
    wa = sliding_window_view(ra, n)
    wb = sliding_window_view(rb, n)
    ma = wa.mean(axis=1, keepdims=True)
    mb = wb.mean(axis=1, keepdims=True)
    cov = ((wa - ma) * (wb - mb)).mean(axis=1)
    var = ((wb - mb) ** 2).mean(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out[n:] = np.where(var > 0.0, cov / var, np.nan)
    return out


def max_drawdown(close: ArrayLike, n: int = 20) -> FloatArray:
    """Return the worst drawdown from a running peak within the last ``n + 1`` prices.

    Parameters
    ----------
    close
        Prices.
    n
        Look-back in bars: the window is ``close[t-n .. t]`` (``n`` returns).

    Returns
    -------
    numpy.ndarray
        ``min_j (close[j] / max(close[t-n .. j]) - 1)`` over the window, a value <= 0;
        ``NaN`` for ``t < n``.
    """
    a = _arr(close, "close")
    n = _period(n)
    out = _nan(len(a))
    if len(a) > n:
        w = sliding_window_view(a, n + 1)
        peak = np.maximum.accumulate(w, axis=1)
        out[n:] = (w / peak - 1.0).min(axis=1)
    return out


def rolling_sharpe(
    close: ArrayLike, n: int = 20, periods_per_year: int = 252
) -> FloatArray:
    """Return the annualised Sharpe ratio of the last ``n`` simple returns (no risk-free).

    Parameters
    ----------
    close
        Prices.
    n
        Number of returns in the window.
    periods_per_year
        Annualisation factor (252 trading days).

    Returns
    -------
    numpy.ndarray
        ``mean(r) / std(r, ddof=1) * sqrt(periods_per_year)``; 0 where the standard
        deviation is 0; ``NaN`` for ``t < n``.
    """
    r = pct_change(close)
    mu = rolling_mean(r, n)
    sd = rolling_std(r, n, ddof=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(sd > 0.0, mu / sd * math.sqrt(periods_per_year), 0.0)
    out[np.isnan(mu)] = np.nan
    return out
