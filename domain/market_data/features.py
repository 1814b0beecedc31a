"""The RL observation: the tickets' 33 features, computed once per ticker as a matrix.

The observation has 33 features in five groups (the tickets' Story 3.1 layout):

* account (3), filled by the environment at each step: cash / initial balance, position
  value / initial balance, portfolio value / initial balance;
* price (4): ``open / close`` (replaces the tickets' ``close / close``, which is always 1),
  ``high / close``, ``low / close``, ``log(volume + 1) / 20``;
* indicators (8): RVOL 20, RSI 14 / 100, MACD / close, MACD signal / close, VWAP 20 / close,
  ATR 14 / close, SMA 20 / close, EMA 50 / close;
* catalyst (8): score, sentiment, is_earnings, is_merger, is_fda, is_offering, is_insider,
  news velocity / 10;
* history (10): simple return over 1, 5, 10 and 20 bars; volatility of the last 20 daily
  returns (sample std); max drawdown over the last 20 bars; annualised Sharpe of the last 20
  returns; beta 60 against the benchmark; volume trend ``mean(v, 5) / mean(v, 20) - 1``;
  price momentum = the 60-bar return (the tickets' momentum repeated ``return_20d``).

Row ``t`` of the market matrix uses bars ``0..t`` only (see :mod:`domain.indicators`).
Before an indicator's warm-up ends its value is ``NaN`` in the raw columns and a neutral
default in the matrix (RVOL 1, RSI 0.5, ratios to close 1, everything else 0); the
environment starts episodes at :data:`WARMUP_BARS` or later so that agents never see them.
"""

from __future__ import annotations

import attrs
import numpy as np
from numpy.typing import NDArray

from domain import indicators as ind
from domain.market_data.catalyst import CatalystFeatures

__all__ = [
    "ACCOUNT_FEATURES",
    "INDICATOR_COLUMNS",
    "MARKET_FEATURES",
    "OBSERVATION_FEATURES",
    "WARMUP_BARS",
    "TickerFeatures",
    "beta_on_common_dates",
    "indicator_columns",
    "market_matrix",
]

F64 = NDArray[np.float64]
F32 = NDArray[np.float32]

ACCOUNT_FEATURES = ("cash_ratio", "position_ratio", "portfolio_ratio")
MARKET_FEATURES = (
    # price (4)
    "open_close",
    "high_close",
    "low_close",
    "log_volume",
    # indicators (8)
    "rvol",
    "rsi",
    "macd_close",
    "macd_signal_close",
    "vwap_close",
    "atr_close",
    "sma_20_close",
    "ema_50_close",
    # catalyst (8)
    "catalyst_score",
    "sentiment",
    "is_earnings",
    "is_merger",
    "is_fda",
    "is_offering",
    "is_insider",
    "news_velocity",
    # history (10)
    "return_1d",
    "return_5d",
    "return_10d",
    "return_20d",
    "volatility_20d",
    "max_drawdown_20d",
    "sharpe_20d",
    "beta",
    "volume_trend",
    "price_momentum",
)
OBSERVATION_FEATURES = ACCOUNT_FEATURES + MARKET_FEATURES

#: Raw indicator columns (unnormalised) that :func:`indicator_columns` returns.
INDICATOR_COLUMNS = (
    "rvol",
    "rsi",
    "macd",
    "macd_signal",
    "macd_hist",
    "vwap",
    "atr",
    "sma_20",
    "ema_50",
    "beta",
)

#: First bar index at which every feature is defined (beta 60 and momentum 60 need 61 bars).
WARMUP_BARS = 60

_NEUTRAL = {
    "rvol": 1.0,
    "rsi": 0.5,
    "vwap_close": 1.0,
    "sma_20_close": 1.0,
    "ema_50_close": 1.0,
}


def beta_on_common_dates(close: F64, bench_close: F64, n: int = 60) -> F64:
    """Return the rolling beta, skipping bars where the benchmark has no close.

    Parameters
    ----------
    close
        The ticker's closes.
    bench_close
        The benchmark's closes on the same dates, ``NaN`` where it has no bar.

    Returns
    -------
    numpy.ndarray
        Beta over the last ``n`` returns measured between dates both series have (so both
        returns of a pair span the same interval); a bar without a benchmark close carries
        the beta of the last bar that had one (it uses no later data). ``NaN`` until ``n``
        such returns exist.
    """
    c = np.asarray(close, dtype=np.float64)
    b = np.asarray(bench_close, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(b) & (b > 0.0)
    if bool(ok.all()):
        return ind.beta(c, b, n)
    idx = np.flatnonzero(ok)
    out = np.full(len(c), np.nan)
    if len(idx) == 0:
        return out
    common = ind.beta(c[idx], b[idx], n)
    last = np.searchsorted(idx, np.arange(len(c)), side="right") - 1
    has = last >= 0
    out[has] = common[last[has]]
    return out


def indicator_columns(
    high: F64, low: F64, close: F64, volume: F64, bench_close: F64 | None
) -> dict[str, F64]:
    """Return the raw indicators of one ticker.

    Parameters
    ----------
    high, low, close, volume
        The ticker's bars.
    bench_close
        The benchmark's closes on the same dates (``NaN`` where it has no bar, see
        :func:`beta_on_common_dates`), or ``None`` (beta is then ``NaN``).

    Returns
    -------
    dict of str to numpy.ndarray
        The :data:`INDICATOR_COLUMNS`: RVOL 20, RSI 14, MACD 12/26/9 with signal and
        histogram, VWAP 20, ATR 14, SMA 20, EMA 50, beta 60.
    """
    m, s, hist = ind.macd(close, 12, 26, 9)
    b = (
        beta_on_common_dates(close, bench_close, 60)
        if bench_close is not None
        else np.full(len(close), np.nan)
    )
    return {
        "rvol": ind.rvol(volume, 20),
        "rsi": ind.rsi(close, 14),
        "macd": m,
        "macd_signal": s,
        "macd_hist": hist,
        "vwap": ind.vwap(high, low, close, volume, 20),
        "atr": ind.atr(high, low, close, 14),
        "sma_20": ind.sma(close, 20),
        "ema_50": ind.ema(close, 50),
        "beta": b,
    }


def market_matrix(
    open_: F64,
    high: F64,
    low: F64,
    close: F64,
    volume: F64,
    catalyst: CatalystFeatures,
    bench_close: F64 | None = None,
    indicators: dict[str, F64] | None = None,
) -> F32:
    """Return the 30 market features of every bar as a ``float32`` matrix.

    Parameters
    ----------
    open_, high, low, close, volume
        The ticker's bars (``float64``).
    catalyst
        Its per-bar catalyst features (:func:`domain.market_data.catalyst_features`).
    bench_close
        Benchmark closes on the same dates for beta, or ``None``.
    indicators
        Precomputed :func:`indicator_columns`, to avoid computing them twice.

    Returns
    -------
    numpy.ndarray
        Shape ``(n, 30)``, columns in :data:`MARKET_FEATURES` order, all finite.
    """
    n = len(close)
    raw = (
        indicators
        if indicators is not None
        else indicator_columns(high, low, close, volume, bench_close)
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        cols: dict[str, F64] = {
            "open_close": open_ / close,
            "high_close": high / close,
            "low_close": low / close,
            "log_volume": np.log(volume + 1.0) / 20.0,
            "rvol": raw["rvol"],
            "rsi": raw["rsi"] / 100.0,
            "macd_close": raw["macd"] / close,
            "macd_signal_close": raw["macd_signal"] / close,
            "vwap_close": raw["vwap"] / close,
            "atr_close": raw["atr"] / close,
            "sma_20_close": raw["sma_20"] / close,
            "ema_50_close": raw["ema_50"] / close,
            "catalyst_score": catalyst.catalyst_score,
            "sentiment": catalyst.sentiment,
            "is_earnings": catalyst.is_earnings,
            "is_merger": catalyst.is_merger,
            "is_fda": catalyst.is_fda,
            "is_offering": catalyst.is_offering,
            "is_insider": catalyst.is_insider,
            "news_velocity": catalyst.news_velocity / 10.0,
            "return_1d": ind.pct_change(close, 1),
            "return_5d": ind.pct_change(close, 5),
            "return_10d": ind.pct_change(close, 10),
            "return_20d": ind.pct_change(close, 20),
            "volatility_20d": ind.rolling_std(ind.pct_change(close, 1), 20, ddof=1),
            "max_drawdown_20d": ind.max_drawdown(close, 20),
            "sharpe_20d": ind.rolling_sharpe(close, 20),
            "beta": raw["beta"],
            "volume_trend": ind.rolling_mean(volume, 5) / ind.rolling_mean(volume, 20)
            - 1.0,
            "price_momentum": ind.pct_change(close, 60),
        }
    out = np.empty((n, len(MARKET_FEATURES)), dtype=np.float32)
    for j, name in enumerate(MARKET_FEATURES):
        col = cols[name]
        col = np.where(np.isfinite(col), col, _NEUTRAL.get(name, 0.0))
        out[:, j] = col
    return out


@attrs.frozen(eq=False)
class TickerFeatures:
    """What the environment needs of one ticker: fill prices and the market matrix.

    Parameters
    ----------
    ticker
        Symbol.
    dates
        Exchange dates (``datetime64[D]``).
    open, close
        Fill and valuation prices (``float64``).
    features
        ``float32`` matrix of shape ``(n, 30)`` in :data:`MARKET_FEATURES` order.
    high, low
        The bars' range (``float64``); when given, fill prices after slippage are held
        inside it, as the simulated exchange holds them (a market never trades outside).
    """

    ticker: str
    dates: NDArray[np.datetime64]
    open: F64
    close: F64
    features: F32
    high: F64 | None = None
    low: F64 | None = None

    def __attrs_post_init__(self) -> None:
        n = len(self.dates)
        if not (len(self.open) == len(self.close) == self.features.shape[0] == n):
            raise ValueError(
                f"{self.ticker}: dates, prices and features differ in length"
            )
        if self.features.shape[1] != len(MARKET_FEATURES):
            raise ValueError(
                f"{self.ticker}: expected {len(MARKET_FEATURES)} market features, "
                f"got {self.features.shape[1]}"
            )
        if (self.high is None) != (self.low is None) or (
            self.high is not None and self.low is not None
            and not len(self.high) == len(self.low) == n
        ):
            raise ValueError(f"{self.ticker}: high and low must both be given, one per bar")
        if not (np.all(self.open > 0) and np.all(self.close > 0)):
            raise ValueError(
                f"{self.ticker}: prices must be positive (run data validate)"
            )

    def __len__(self) -> int:
        return len(self.dates)

    def slice(self, start: int, stop: int) -> TickerFeatures:
        """Return bars ``start .. stop - 1`` (features already computed stay as they are)."""
        return TickerFeatures(
            self.ticker,
            self.dates[start:stop],
            self.open[start:stop],
            self.close[start:stop],
            self.features[start:stop],
            None if self.high is None else self.high[start:stop],
            None if self.low is None else self.low[start:stop],
        )
