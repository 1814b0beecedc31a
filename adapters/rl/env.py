"""``CatalystTradingEnv``: a leak-free, seeded, O(1)-per-step trading environment.

One episode trades one ticker, long only, in fractional shares:

* the observation at bar ``t`` is the 33 features of :mod:`domain.market_data.features`: three
  account ratios written at each step plus row ``t`` of a ``float32`` matrix precomputed
  once from bars ``0..t`` only;
* the action ``a`` in ``[-1, 1]`` is decided at bar ``t``'s close; ``a > 0`` spends the
  fraction ``a`` of the cash (commission included), ``a < 0`` sells the fraction ``-a`` of
  the shares held, ``0`` holds;
* the order fills at the *next* bar's open by default (``fill_at="next_open"``), or at
  the next close, or -- the tickets' optimistic rule, for comparison only -- at the close
  the agent just saw (``fill_at="close"``); slippage and commission come from
  :mod:`domain.costs`, the same functions the simulated exchange uses;
* the portfolio is then marked at bar ``t + 1``'s close, and the reward is the tickets'
  Sharpe reward: the annualised Sharpe ratio of the last ``reward_window`` (20) step
  returns (population standard deviation, 0 when it is 0), minus ``trade_penalty`` (0.01)
  when ``|a| > trade_threshold`` (0.1) and a trade was made, plus ``hold_bonus`` (0.005)
  when ``|a| < trade_threshold`` and shares are held; times ``reward_scaling``.

``step()`` indexes precomputed arrays and does O(1) arithmetic on Python floats (a
rolling window of returns kept as running sums); no pandas, no NumPy call on a small array
except the one copy of the observation row.

Why one module: one Gymnasium environment whose ``reset``/``step`` share precomputed arrays
and running sums; splitting the reward, fill and observation code apart would put the hot
step behind extra calls.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal, SupportsFloat

import attrs
import gymnasium as gym
import numpy as np
from gymnasium import spaces
from numpy.typing import NDArray

from domain.costs import DEFAULT_COSTS, CostModel, commission, slipped_price
from domain.fill_rules import market_price
from domain.market_data.features import (
    ACCOUNT_FEATURES,
    OBSERVATION_FEATURES,
    TickerFeatures,
)

__all__ = ["CatalystTradingEnv", "EnvConfig", "FillAt"]

FillAt = Literal["next_open", "next_close", "close"]
_N_ACCOUNT = len(ACCOUNT_FEATURES)
_N_OBS = len(OBSERVATION_FEATURES)
# Below this the window's return variance counts as zero (running sums leave ~1e-20 dust).
_VAR_EPS = 1e-18
# Re-add the window from scratch this often so running-sum rounding cannot accumulate.
_RESUM_EVERY = 512


def _fill_price(side: int, ref: float, slip_bps: float, hi: float | None, lo: float | None) -> float:
    # The simulated exchange's rule: slip against the taker, stay inside the bar's range,
    # quote to 1/100 cent (adapters.simulated.exchange fills the same way).
    if hi is not None and lo is not None:
        return round(market_price(side, ref, hi, lo, slip_bps), 4)
    return round(slipped_price(side, ref, slip_bps), 4)


@attrs.frozen
class EnvConfig:
    """Settings of :class:`CatalystTradingEnv`; the defaults are the tickets'.

    Parameters
    ----------
    initial_balance
        Starting cash.
    costs
        Commission and slippage; :data:`domain.costs.DEFAULT_COSTS` (0.1 % and 0.05 %), the
        same default as ``catalyst backtest`` and ``catalyst run``.
    fill_at
        ``next_open`` (default), ``next_close`` or ``close`` (the bar just observed).
    reward_window
        Step returns in the Sharpe reward (20).
    trade_penalty, hold_bonus, trade_threshold
        The tickets' churn terms: -0.01 for a trade with ``|a| > 0.1``, +0.005 for
        ``|a| < 0.1`` while holding shares.
    reward_scaling
        Multiplies the reward. The tickets used 100, which makes the annualised Sharpe
        term reach the thousands; 1 keeps value targets small for PPO/SAC.
    periods_per_year
        Annualisation of the Sharpe reward (252 daily bars).
    episode_length
        Steps per episode; ``None`` runs the chosen ticker from its first bar to its last.
    random_start
        With ``episode_length``, start at a random bar (seeded); else at bar 0.
    ticker_weighting
        ``uniform`` or ``length`` (tickers drawn in proportion to their bar count).
    """

    initial_balance: float = 100_000.0
    costs: CostModel = DEFAULT_COSTS
    fill_at: FillAt = "next_open"
    reward_window: int = 20
    trade_penalty: float = 0.01
    hold_bonus: float = 0.005
    trade_threshold: float = 0.1
    reward_scaling: float = 1.0
    periods_per_year: int = 252
    episode_length: int | None = None
    random_start: bool = True
    ticker_weighting: Literal["uniform", "length"] = "uniform"

    def __attrs_post_init__(self) -> None:
        if not self.initial_balance > 0:
            raise ValueError("initial_balance must be > 0")
        if self.fill_at not in ("next_open", "next_close", "close"):
            raise ValueError(
                f"fill_at must be next_open, next_close or close, not {self.fill_at!r}"
            )
        if self.reward_window < 2:
            raise ValueError("reward_window must be >= 2")
        if self.episode_length is not None and self.episode_length < 1:
            raise ValueError("episode_length must be >= 1 or None")


class _Series:
    """One ticker's arrays in the forms the hot path wants."""

    __slots__ = ("close", "dates", "feats", "high", "low", "n", "open", "ticker")

    def __init__(self, tf: TickerFeatures) -> None:
        self.ticker = tf.ticker
        self.n = len(tf)
        self.open: list[float] = tf.open.tolist()
        self.close: list[float] = tf.close.tolist()
        self.high: list[float] | None = None if tf.high is None else tf.high.tolist()
        self.low: list[float] | None = None if tf.low is None else tf.low.tolist()
        self.dates = tf.dates
        m = np.zeros((self.n, _N_OBS), dtype=np.float32)
        m[:, _N_ACCOUNT:] = tf.features
        self.feats = m


class CatalystTradingEnv(gym.Env[NDArray[np.float32], NDArray[np.float32]]):
    """Gymnasium environment over a panel of precomputed ticker features.

    Parameters
    ----------
    panel
        One :class:`TickerFeatures` or a mapping ticker -> features (e.g.
        :func:`adapters.data.features.feature_panel` of one split). Every ticker needs two
        bars or more.
    config
        :class:`EnvConfig`; defaults are the tickets'.
    render_mode
        ``None``, ``"human"`` (prints) or ``"ansi"`` (returns a string).

    Notes
    -----
    ``reset(options={"ticker": "AAPL", "start": 0})`` pins the episode's ticker and first
    bar. ``info`` carries ``ticker``, ``t`` (bar index), ``portfolio_value``, ``cash``,
    ``shares``, ``trades``, ``total_return``, and after a trade ``fill_price`` and
    ``commission``.
    """

    metadata = {"render_modes": ["human", "ansi"]}  # noqa: RUF012 - gymnasium's API

    def __init__(
        self,
        panel: TickerFeatures | Mapping[str, TickerFeatures],
        config: EnvConfig | None = None,
        render_mode: str | None = None,
    ) -> None:
        super().__init__()
        items = (
            {panel.ticker: panel} if isinstance(panel, TickerFeatures) else dict(panel)
        )
        if not items:
            raise ValueError("the panel is empty")
        short = [t for t, f in items.items() if len(f) < 2]
        if short:
            raise ValueError(f"tickers with fewer than 2 bars cannot trade: {short}")
        self.config = config or EnvConfig()
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be one of {self.metadata['render_modes']}"
            )
        self.render_mode = render_mode
        self._series = [_Series(items[t]) for t in sorted(items)]
        self.tickers = tuple(s.ticker for s in self._series)
        lengths = np.array([s.n for s in self._series], dtype=np.float64)
        self._weights = (
            lengths / lengths.sum()
            if self.config.ticker_weighting == "length"
            else None
        )
        self.observation_space = spaces.Box(
            -np.inf, np.inf, shape=(_N_OBS,), dtype=np.float32
        )
        self.action_space = spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
        self.feature_names = OBSERVATION_FEATURES
        c = self.config
        self._init = float(c.initial_balance)
        self._bps = c.costs.commission_bps
        self._rate = c.costs.commission_bps * 1e-4
        self._per_share = c.costs.commission_per_share
        self._per_order = c.costs.commission_per_order
        self._min_comm = c.costs.min_commission
        self._slip = c.costs.base_slippage_bps
        # volatility-scaled slippage depends on the fill bar's range (0: not that model)
        self._volf = c.costs.volatility_factor if c.costs.slippage_model == "volatility" else 0.0
        self._fill_offset = 0 if c.fill_at == "close" else 1
        self._fill_on_open = c.fill_at == "next_open"
        self._ann = math.sqrt(c.periods_per_year)
        self._w = c.reward_window
        self._cur = self._series[0]
        self._reset_state(0)

    # ----------------------------------------------------------------- state

    def _reset_state(self, start: int) -> None:
        s = self._cur
        self._t = start
        self._start = start
        last = s.n - 1
        ep = self.config.episode_length
        self._stop = last if ep is None else min(last, start + ep)
        self._cash = self._init
        self._shares = 0.0
        self._value = self._init
        self._trades = 0
        self._steps = 0
        self._buf = [0.0] * self._w
        self._idx = 0
        self._count = 0
        self._s1 = 0.0
        self._s2 = 0.0
        self._open = s.open
        self._close = s.close
        self._high = s.high
        self._low = s.low
        self._feats = s.feats

    def _obs(self) -> NDArray[np.float32]:
        t = self._t
        obs = self._feats[t].copy()
        init = self._init
        pos = self._shares * self._close[t]
        obs[0] = self._cash / init
        obs[1] = pos / init
        obs[2] = self._value / init
        return obs  # type: ignore[no-any-return]

    def _info(self) -> dict[str, Any]:
        return {
            "ticker": self._cur.ticker,
            "t": self._t,
            "portfolio_value": self._value,
            "cash": self._cash,
            "shares": self._shares,
            "trades": self._trades,
            "total_return": self._value / self._init - 1.0,
        }

    # ------------------------------------------------------------------- API

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[NDArray[np.float32], dict[str, Any]]:
        """Start an episode: pick a ticker and a first bar (seeded), reset the account.

        Parameters
        ----------
        seed
            Seeds the episode sampler (gymnasium semantics: once, then it continues).
        options
            ``{"ticker": str, "start": int}`` to pin either.

        Returns
        -------
        tuple
            The first observation and the info dict.
        """
        super().reset(seed=seed)
        opts = options or {}
        if "ticker" in opts:
            want = str(opts["ticker"]).upper()
            if want not in self.tickers:
                raise ValueError(f"ticker {want!r} is not in the panel {self.tickers}")
            self._cur = self._series[self.tickers.index(want)]
        elif len(self._series) > 1:
            i = int(self.np_random.choice(len(self._series), p=self._weights))
            self._cur = self._series[i]
        else:
            self._cur = self._series[0]
        n = self._cur.n
        ep = self.config.episode_length
        if "start" in opts:
            start = int(opts["start"])
            if not 0 <= start < n - 1:
                raise ValueError(
                    f"start must be in [0, {n - 2}] for {self._cur.ticker}"
                )
        elif ep is not None and self.config.random_start and n - 1 > ep:
            start = int(self.np_random.integers(0, n - 1 - ep + 1))
        else:
            start = 0
        self._reset_state(start)
        return self._obs(), self._info()

    def step(
        self, action: NDArray[np.floating[Any]] | SupportsFloat
    ) -> tuple[NDArray[np.float32], float, bool, bool, dict[str, Any]]:
        """Trade at the next fill price, mark to the next close, and score the step.

        Parameters
        ----------
        action
            Array of shape ``(1,)`` (or a float) in ``[-1, 1]``; values outside are
            clipped.

        Returns
        -------
        tuple
            ``(observation, reward, terminated, truncated, info)``. ``terminated`` is True
            at the ticker's last bar (no next bar to trade at); ``truncated`` when
            ``episode_length`` steps were taken.
        """
        t = self._t
        if t >= self._stop:
            raise RuntimeError("the episode is over: call reset()")
        a = float(action[0]) if isinstance(action, np.ndarray) else float(action)
        if math.isnan(a):
            raise ValueError("action is NaN")
        if a > 1.0:
            a = 1.0
        elif a < -1.0:
            a = -1.0

        nxt = t + 1
        fill_bar = t + self._fill_offset
        ref = self._open[fill_bar] if self._fill_on_open else self._close[fill_bar]
        hi = lo = None
        slip = self._slip
        if self._high is not None and self._low is not None:
            hi, lo = self._high[fill_bar], self._low[fill_bar]
            if self._volf:
                slip = self.config.costs.slippage_bps_for_bar(self._open[fill_bar], hi, lo)
        traded = False
        info_fill: float | None = None
        fee = 0.0
        if a > 0.0 and self._cash > 0.0:
            px = _fill_price(1, ref, slip, hi, lo)
            budget = a * self._cash - self._per_order
            qty = (
                budget / (px * (1.0 + self._rate) + self._per_share)
                if budget > 0.0
                else 0.0
            )
            if qty > 0.0:
                fee = commission(
                    qty, px, self._bps, self._per_share, self._per_order, self._min_comm
                )
                cost = qty * px + fee
                if cost <= self._cash * (1.0 + 1e-12):
                    self._shares += qty
                    self._cash = max(0.0, self._cash - cost)
                    traded = True
                    info_fill = px
        elif a < 0.0 and self._shares > 0.0:
            px = _fill_price(-1, ref, slip, hi, lo)
            qty = -a * self._shares
            fee = commission(
                qty, px, self._bps, self._per_share, self._per_order, self._min_comm
            )
            self._shares = 0.0 if a == -1.0 else self._shares - qty
            self._cash += qty * px - fee
            traded = True
            info_fill = px
        if traded:
            self._trades += 1

        prev = self._value
        value = self._cash + self._shares * self._close[nxt]
        self._value = value
        r = value / prev - 1.0 if prev > 0.0 else 0.0

        # Rolling window of step returns as running sums (O(1)).
        w = self._w
        buf = self._buf
        i = self._idx
        if self._count == w:
            old = buf[i]
            self._s1 -= old
            self._s2 -= old * old
        else:
            self._count += 1
        buf[i] = r
        self._idx = (i + 1) % w
        self._s1 += r
        self._s2 += r * r
        self._steps += 1
        if self._steps % _RESUM_EVERY == 0:
            live = buf if self._count == w else buf[: self._count]
            self._s1 = math.fsum(live)
            self._s2 = math.fsum(x * x for x in live)

        n = self._count
        sharpe = 0.0
        if n >= 2:
            mean = self._s1 / n
            var = self._s2 / n - mean * mean
            if var > _VAR_EPS:
                sharpe = mean / math.sqrt(var) * self._ann
        cfg = self.config
        reward = sharpe
        if traded and abs(a) > cfg.trade_threshold:
            reward -= cfg.trade_penalty
        elif abs(a) < cfg.trade_threshold and self._shares > 0.0:
            reward += cfg.hold_bonus
        reward *= cfg.reward_scaling

        self._t = nxt
        terminated = nxt >= self._cur.n - 1
        truncated = not terminated and nxt >= self._stop
        info = self._info()
        if traded:
            info["fill_price"] = info_fill
            info["commission"] = fee
        if self.render_mode == "human":
            print(self._render_text())
        return self._obs(), reward, terminated, truncated, info

    # --------------------------------------------------------------- extras

    @property
    def current_ticker(self) -> str:
        """Return the ticker of the running episode."""
        return self._cur.ticker

    @property
    def current_date(self) -> str:
        """Return the exchange date of the current bar (ISO)."""
        return str(self._cur.dates[self._t])[:10]

    @property
    def bar_index(self) -> int:
        """Return the index of the current bar in the ticker's panel."""
        return self._t

    def _render_text(self) -> str:
        return (
            f"{self._cur.ticker} {self.current_date} value={self._value:,.2f} "
            f"cash={self._cash:,.2f} shares={self._shares:.4f} trades={self._trades}"
        )

    def render(self) -> str | None:
        """Return (``ansi``) or print (``human``) a one-line account summary."""
        text = self._render_text()
        if self.render_mode == "ansi":
            return text
        if self.render_mode == "human":
            print(text)
        return None
