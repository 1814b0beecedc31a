"""Indicators against TA-Lib on real prices, and causality properties."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from adapters.data.ohlcv import load_ohlcv
from adapters.data.sample import sample_paths
from domain import indicators as ind

talib = pytest.importorskip("talib")

RTOL = 1e-9


@pytest.fixture(scope="module")
def prices() -> pd.DataFrame:
    return load_ohlcv(sample_paths().prices)


def _bars(df: pd.DataFrame, ticker: str) -> dict[str, np.ndarray]:
    g = df[df["ticker"] == ticker]
    return {
        c: g[c].to_numpy(np.float64) for c in ("open", "high", "low", "close", "volume")
    }


def _same(ours: np.ndarray, ref: np.ndarray, scale: float = 1.0) -> None:
    """Equal NaN warm-up and values equal to RTOL relative after it."""
    assert np.array_equal(np.isnan(ours), np.isnan(ref)), "warm-up lengths differ"
    m = ~np.isnan(ref)
    assert m.sum() > 100
    np.testing.assert_allclose(ours[m], ref[m], rtol=RTOL, atol=1e-12 * scale)


TICKERS = ["AAPL", "GOOG", "JPM", "XOM"]


@pytest.mark.parametrize("ticker", TICKERS)
def test_sma_20_when_real_prices_then_equals_talib(
    prices: pd.DataFrame, ticker: str
) -> None:
    b = _bars(prices, ticker)
    _same(ind.sma(b["close"], 20), talib.SMA(b["close"], 20))


@pytest.mark.parametrize("ticker", TICKERS)
def test_ema_50_when_real_prices_then_equals_talib(
    prices: pd.DataFrame, ticker: str
) -> None:
    b = _bars(prices, ticker)
    _same(ind.ema(b["close"], 50), talib.EMA(b["close"], 50))


@pytest.mark.parametrize("ticker", TICKERS)
def test_rsi_14_when_real_prices_then_equals_talib(
    prices: pd.DataFrame, ticker: str
) -> None:
    b = _bars(prices, ticker)
    _same(ind.rsi(b["close"], 14), talib.RSI(b["close"], 14))


@pytest.mark.parametrize("ticker", TICKERS)
def test_atr_14_when_real_prices_then_equals_talib(
    prices: pd.DataFrame, ticker: str
) -> None:
    b = _bars(prices, ticker)
    _same(
        ind.atr(b["high"], b["low"], b["close"], 14),
        talib.ATR(b["high"], b["low"], b["close"], 14),
    )
    _same(
        ind.true_range(b["high"], b["low"], b["close"]),
        talib.TRANGE(b["high"], b["low"], b["close"]),
    )


@pytest.mark.parametrize("ticker", TICKERS)
def test_macd_when_real_prices_then_equals_talib_macd_signal_hist(
    prices: pd.DataFrame, ticker: str
) -> None:
    b = _bars(prices, ticker)
    ours = ind.macd(b["close"], 12, 26, 9)
    ref = talib.MACD(b["close"], 12, 26, 9)
    scale = float(np.nanmax(b["close"]))
    for o, r in zip(ours, ref, strict=True):
        _same(o, r, scale)


@pytest.mark.parametrize("ticker", ["AAPL", "GOOG"])
def test_beta_60_when_real_prices_then_equals_talib_beta(
    prices: pd.DataFrame, ticker: str
) -> None:
    a = prices[prices["ticker"] == ticker].set_index("date")["close"]
    m = prices[prices["ticker"] == "MSFT"].set_index("date")["close"].reindex(a.index)
    x, y = a.to_numpy(np.float64), m.to_numpy(np.float64)
    # TA-Lib's BETA(x, y) regresses the returns of y on those of x.
    _same(ind.beta(x, y, 60), talib.BETA(y, x, 60))


@pytest.mark.parametrize("n", [5, 20])
def test_rolling_std_when_ddof0_then_equals_talib_stddev(
    prices: pd.DataFrame, n: int
) -> None:
    c = _bars(prices, "KO")["close"]
    _same(ind.rolling_std(c, n, ddof=0), talib.STDDEV(c, n, 1.0))


def test_vwap_and_rvol_when_real_prices_then_equal_pandas_rolling(
    prices: pd.DataFrame,
) -> None:
    g = prices[prices["ticker"] == "AMZN"]
    tp = (g["high"] + g["low"] + g["close"]) / 3
    ref_vwap = (tp * g["volume"]).rolling(20).sum() / g["volume"].rolling(20).sum()
    ref_rvol = g["volume"] / g["volume"].rolling(20).mean().shift(1)
    b = _bars(prices, "AMZN")
    _same(
        ind.vwap(b["high"], b["low"], b["close"], b["volume"], 20), ref_vwap.to_numpy()
    )
    _same(ind.rvol(b["volume"], 20), ref_rvol.to_numpy())


def test_history_features_when_real_prices_then_equal_pandas(
    prices: pd.DataFrame,
) -> None:
    c = prices[prices["ticker"] == "JNJ"]["close"].reset_index(drop=True)
    r = c.pct_change()
    _same(ind.rolling_std(r.to_numpy(), 20, ddof=1), r.rolling(20).std().to_numpy())
    sharpe = (r.rolling(20).mean() / r.rolling(20).std() * np.sqrt(252)).to_numpy()
    _same(ind.rolling_sharpe(c.to_numpy(), 20), sharpe)
    win = c.rolling(21)
    mdd = win.apply(lambda w: float((w / np.maximum.accumulate(w) - 1).min()), raw=True)
    _same(ind.max_drawdown(c.to_numpy(), 20), mdd.to_numpy())
    _same(ind.pct_change(c.to_numpy(), 5), c.pct_change(5).to_numpy())


def test_rsi_when_prices_only_rise_then_100_and_flat_then_0() -> None:
    up = np.arange(1.0, 40.0)
    assert np.allclose(ind.rsi(up, 14)[14:], 100.0)
    assert np.allclose(ind.rsi(np.full(40, 5.0), 14)[14:], 0.0)


def test_indicators_when_series_shorter_than_period_then_all_nan() -> None:
    x = np.array([1.0, 2.0, 3.0])
    for out in (
        ind.sma(x, 5),
        ind.ema(x, 5),
        ind.rsi(x, 5),
        ind.rvol(x, 5),
        *ind.macd(x),
    ):
        assert out.shape == (3,)
        assert np.isnan(out).all()


def test_indicators_when_bad_period_or_shape_then_value_error() -> None:
    with pytest.raises(ValueError):
        ind.sma(np.ones(5), 0)
    with pytest.raises(ValueError):
        ind.sma(np.ones((2, 2)), 2)
    with pytest.raises(ValueError):
        ind.atr(np.ones(5), np.ones(4), np.ones(5))


# --------------------------------------------------------------------- no look-ahead

_price = st.floats(min_value=1.0, max_value=1000.0, allow_nan=False)


@st.composite
def _ohlcv(draw: st.DrawFn) -> tuple[np.ndarray, ...]:
    n = draw(st.integers(min_value=1, max_value=140))
    close = draw(arrays(np.float64, n, elements=_price))
    up = draw(arrays(np.float64, n, elements=st.floats(0.0, 0.1)))
    dn = draw(arrays(np.float64, n, elements=st.floats(0.0, 0.1)))
    vol = draw(arrays(np.float64, n, elements=st.floats(0.0, 1e7)))
    return close * (1 + up), close * (1 - dn), close, vol


def _all_indicators(
    h: np.ndarray, lo: np.ndarray, c: np.ndarray, v: np.ndarray
) -> list[np.ndarray]:
    bench = np.sqrt(c) + 1.0
    return [
        ind.sma(c, 20),
        ind.ema(c, 50),
        ind.rsi(c, 14),
        ind.atr(h, lo, c, 14),
        *ind.macd(c, 12, 26, 9),
        ind.rvol(v, 20),
        ind.vwap(h, lo, c, v, 20),
        ind.beta(c, bench, 60),
        ind.max_drawdown(c, 20),
        ind.rolling_sharpe(c, 20),
        ind.rolling_std(ind.pct_change(c), 20),
        ind.pct_change(c, 10),
    ]


@settings(max_examples=60, deadline=None)
@given(data=_ohlcv(), cut=st.floats(0.0, 1.0), seed=st.integers(0, 2**32 - 1))
def test_indicators_when_data_after_t_changes_then_values_up_to_t_unchanged(
    data: tuple[np.ndarray, ...], cut: float, seed: int
) -> None:
    h, lo, c, v = data
    n = len(c)
    t = int(cut * (n - 1))
    rng = np.random.default_rng(seed)
    h2, lo2, c2, v2 = (x.copy() for x in (h, lo, c, v))
    k = n - t - 1
    if k:
        c2[t + 1 :] = rng.uniform(1.0, 2000.0, k)
        h2[t + 1 :] = c2[t + 1 :] * 1.05
        lo2[t + 1 :] = c2[t + 1 :] * 0.95
        v2[t + 1 :] = rng.uniform(0.0, 1e8, k)
    for a, b in zip(
        _all_indicators(h, lo, c, v), _all_indicators(h2, lo2, c2, v2), strict=True
    ):
        np.testing.assert_array_equal(a[: t + 1], b[: t + 1])


@settings(max_examples=40, deadline=None)
@given(data=_ohlcv())
def test_indicators_when_computed_on_prefix_then_equal_full_series_prefix(
    data: tuple[np.ndarray, ...],
) -> None:
    h, lo, c, v = data
    t = len(c) // 2 + 1
    full = _all_indicators(h, lo, c, v)
    pref = _all_indicators(h[:t], lo[:t], c[:t], v[:t])
    for a, b in zip(full, pref, strict=True):
        np.testing.assert_array_equal(a[:t], b)


def _inputs_not_mutated(fn: Callable[..., object], *args: np.ndarray) -> None:
    before = [a.copy() for a in args]
    fn(*args)
    for a, b in zip(args, before, strict=True):
        np.testing.assert_array_equal(a, b)


def test_indicators_when_called_then_inputs_unchanged(prices: pd.DataFrame) -> None:
    b = _bars(prices, "AAPL")
    _inputs_not_mutated(ind.atr, b["high"], b["low"], b["close"])
    _inputs_not_mutated(ind.macd, b["close"])
    _inputs_not_mutated(ind.vwap, b["high"], b["low"], b["close"], b["volume"])
