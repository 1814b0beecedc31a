"""The RL observation's market features, one bar at a time, equal bit for bit to the matrix.

:func:`domain.market_data.features.market_matrix` computes every row of a ticker at once.
A live agent needs only the newest row after each bar; recomputing the whole matrix costs a
pass over the full history per bar. :class:`IncrementalFeatures` does the same computation
in O(window) per bar and returns exactly the same ``float32`` values:

* the recursive indicators (EMA 50, MACD 12/26/9 and its signal, RSI 14 and ATR 14, which
  depend on every bar since the first) are carried as running state by :class:`EmaState` and
  :class:`WilderState`, which repeat the float operations of :mod:`domain.indicators`
  (``math.fsum`` seeds, then the same recurrence in the same order);
* everything else depends on a bounded window (60 bars at most: momentum and beta), so it
  is computed by the very same functions -- those
  :func:`~domain.market_data.features.indicator_columns` calls for RVOL, VWAP, SMA and beta,
  :func:`~domain.market_data.catalyst.catalyst_features` and
  :func:`~domain.market_data.features.market_matrix` -- over the last ``tail`` bars, with the
  recursive columns' last values taken from the carried state.

The parity tests compare the rows with the feature file of the bundled data, every bar of
every ticker, byte for byte.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from domain import indicators as ind
from domain.alerts import Alert
from domain.market_data.catalyst import Availability, catalyst_features
from domain.market_data.features import beta_on_common_dates, market_matrix

__all__ = ["EmaState", "IncrementalFeatures", "WilderState"]

_NAN = float("nan")
#: Bars the windowed features need: 60-bar momentum and beta need 61 closes; margin added.
DEFAULT_TAIL = 96


#: indicator_columns' columns, split by how they are rebuilt here (a test checks the split
#: covers them all)
RECURSIVE_COLUMNS = ("ema_50", "macd", "macd_signal", "macd_hist", "rsi", "atr")
WINDOWED_COLUMNS = ("rvol", "vwap", "sma_20", "beta")


class EmaState:
    """The EMA of :func:`domain.indicators.ema` (and of MACD), one value at a time.

    ``seed_end`` is the index of the first value: the plain mean (``math.fsum``) of the
    ``n`` values ending there; then ``prev = (x - prev) * k + prev`` with ``k = 2/(n+1)``.
    """

    __slots__ = ("_buf", "i", "k", "n", "prev", "seed_end")

    def __init__(self, n: int, seed_end: int) -> None:
        if n < 1 or seed_end < n - 1:
            raise ValueError(f"EMA: need n >= 1 and seed_end >= n - 1, got {n}, {seed_end}")
        self.n, self.seed_end = n, seed_end
        self.k = 2.0 / (n + 1.0)
        self.i = -1
        self.prev = _NAN
        self._buf: list[float] = []

    def push(self, x: float) -> float:
        """Add the next value; return the EMA at it (``NaN`` before ``seed_end``)."""
        self.i += 1
        if self.i < self.seed_end:
            self._buf.append(x)
            if len(self._buf) > self.n:
                del self._buf[0]
            return _NAN
        if self.i == self.seed_end:
            self._buf.append(x)
            self.prev = math.fsum(self._buf[-self.n:]) / self.n
            self._buf = []
            return self.prev
        self.prev = (x - self.prev) * self.k + self.prev
        return self.prev


class WilderState:
    """Wilder smoothing of :func:`domain.indicators._wilder`, one value at a time: seeded
    with the mean of values ``first .. first + n - 1``, then ``(prev * (n - 1) + x) / n``."""

    __slots__ = ("_buf", "first", "i", "n", "prev")

    def __init__(self, n: int, first: int) -> None:
        self.n, self.first = n, first
        self.i = -1
        self.prev = _NAN
        self._buf: list[float] = []

    def push(self, x: float) -> float:
        """Add the next value; return the smoothed value at it (``NaN`` before the seed)."""
        self.i += 1
        seed_end = self.first + self.n - 1
        if self.i < self.first:
            return _NAN
        if self.i < seed_end:
            self._buf.append(x)
            return _NAN
        if self.i == seed_end:
            self._buf.append(x)
            self.prev = math.fsum(self._buf) / self.n
            self._buf = []
            return self.prev
        self.prev = (self.prev * (self.n - 1) + x) / self.n
        return self.prev


class IncrementalFeatures:
    """One ticker's market features, row by row (see the module doc).

    Parameters
    ----------
    availability
        When an alert becomes usable (the feature file's setting).
    session_before
        Open and close (ns, UTC) of the session before the first bar, as the feature file
        gives :func:`~domain.market_data.catalyst.catalyst_features`.
    with_benchmark
        Whether benchmark closes are given (beta); without, beta is ``NaN`` (neutral 0).
    tail
        Bars the windowed features are computed over (>= 62).
    """

    def __init__(self, *, availability: Availability = Availability.OPEN,
                 session_before: tuple[int, int] | None = None, with_benchmark: bool = True,
                 tail: int = DEFAULT_TAIL) -> None:
        if tail < 62:
            raise ValueError(f"tail {tail}: expected >= 62 bars (60-bar windows)")
        self.availability = availability
        self.session_before = session_before
        self.with_benchmark = with_benchmark
        self.tail = tail
        self.open: list[float] = []
        self.high: list[float] = []
        self.low: list[float] = []
        self.close: list[float] = []
        self.volume: list[float] = []
        self.bench: list[float] = []
        self.open_ns: list[int] = []
        self.close_ns: list[int] = []
        self.alerts: list[Alert] = []
        self._bench_ok: list[int] = []  # indices of bars with a usable benchmark close
        self._ema50 = EmaState(50, 49)
        self._fast = EmaState(12, 25)
        self._slow = EmaState(26, 25)
        self._signal = EmaState(9, 8)
        self._gain = WilderState(14, 1)
        self._loss = WilderState(14, 1)
        self._atr = WilderState(14, 1)
        self._rec: dict[str, float] = {}

    def __len__(self) -> int:
        return len(self.close)

    def push_alert(self, alert: Alert) -> None:
        """Record an alert (it counts from the bar its availability allows)."""
        self.alerts.append(alert)

    def push(self, o: float, h: float, lo: float, c: float, v: float, bench: float,
             open_ns: int, close_ns: int) -> None:
        """Append one bar (its benchmark close, ``NaN`` if none, and its session bounds)."""
        i = len(self.close)
        prev_c = self.close[-1] if self.close else _NAN
        self.open.append(o)
        self.high.append(h)
        self.low.append(lo)
        self.close.append(c)
        self.volume.append(v)
        self.bench.append(bench)
        self.open_ns.append(open_ns)
        self.close_ns.append(close_ns)
        if math.isfinite(bench) and bench > 0.0:
            self._bench_ok.append(i)
        ema50 = self._ema50.push(c)
        ef, es = self._fast.push(c), self._slow.push(c)
        m_full = ef - es
        sig = self._signal.push(m_full) if i >= 25 else _NAN
        if i >= 33:
            m, s = m_full, sig
        else:
            m = s = _NAN
        d = c - prev_c if i else _NAN
        gain = self._gain.push(d if d > 0.0 else 0.0)
        loss = self._loss.push(-d if d < 0.0 else 0.0)
        if i < 14:
            rsi = _NAN
        else:
            total = gain + loss
            rsi = 100.0 * gain / total if total > 0.0 else 0.0
        tr = max(h, prev_c) - min(lo, prev_c) if i else _NAN
        atr = self._atr.push(tr)
        self._rec = {"ema_50": ema50, "macd": m, "macd_signal": s, "macd_hist": m - s,
                     "rsi": rsi, "atr": atr}

    def _start(self) -> int:
        n = len(self.close)
        start = max(0, n - self.tail)
        ok = self._bench_ok
        if self.with_benchmark and len(ok) >= 62:
            # beta needs the last 61 returns between bars that have a benchmark close
            start = min(start, ok[-62])
        return start

    def row(self) -> NDArray[np.float32]:
        """Return the last bar's 30 market features (``float32``)."""
        if not self.close:
            raise ValueError("no bar pushed yet")
        s = self._start()
        f64 = np.float64
        o, h, lo, c, v = (np.asarray(x[s:], dtype=f64) for x in
                          (self.open, self.high, self.low, self.close, self.volume))
        b = np.asarray(self.bench[s:], dtype=f64) if self.with_benchmark else None
        before = self.session_before if s == 0 else (self.open_ns[s - 1],
                                                     self.close_ns[s - 1])
        cat = catalyst_features(self.alerts, np.asarray(self.open_ns[s:], dtype=np.int64),
                                np.asarray(self.close_ns[s:], dtype=np.int64),
                                availability=self.availability, session_before=before)
        # the windowed indicators by the functions indicator_columns calls; the recursive ones
        # from the carried state (only the last row is read)
        n = len(c)
        raw: dict[str, NDArray[np.float64]] = {
            "rvol": ind.rvol(v, 20),
            "vwap": ind.vwap(h, lo, c, v, 20),
            "sma_20": ind.sma(c, 20),
            "beta": beta_on_common_dates(c, b, 60) if b is not None else np.full(n, np.nan),
        }
        for k, val in self._rec.items():
            col = np.full(n, np.nan)
            col[-1] = val
            raw[k] = col
        out: NDArray[np.float32] = market_matrix(o, h, lo, c, v, cat, b, raw)[-1].copy()
        return out
