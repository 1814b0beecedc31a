# mypy: ignore-errors
# (pandas-stubs cannot type row.get arithmetic; this file copies the tickets' style on purpose)
"""A baseline environment written in the tickets' style (Story 3.1, ``trading_env.py``).

It keeps the sketch's structure -- a pandas frame, ``df.loc`` on every step, pandas
``pct_change``/``cummax``/``mean``/``std`` over ``df.loc`` slices to build the history
features -- but uses the project's feature definitions, fill rule (next open) and fixed
reward so that its observations and rewards equal :class:`adapters.rl.env.
CatalystTradingEnv`'s: the benchmark then measures only the cost of the style.

Input: the rows of one ticker of the feature file (``catalyst data build``), warm-up
included; the episode starts at ``start_step`` (60, the end of the warm-up).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pandas as pd
from gymnasium import spaces


class TicketStyleEnv(gym.Env):  # type: ignore[type-arg]
    """The tickets' ``CatalystTradingEnv`` shape: per-step pandas work."""

    metadata = {"render_modes": []}  # noqa: RUF012

    def __init__(
        self,
        df: pd.DataFrame,
        initial_balance: float = 100_000.0,
        commission_pct: float = 0.001,
        slippage_pct: float = 0.0005,
        lookback_window: int = 20,
        start_step: int = 60,
        reward_scaling: float = 1.0,
    ) -> None:
        super().__init__()
        self.df = df.reset_index(drop=True)
        self.initial_balance = initial_balance
        self.commission_pct = commission_pct
        self.slippage_pct = slippage_pct
        self.lookback_window = lookback_window
        self.start_step = start_step
        self.reward_scaling = reward_scaling
        self.observation_space = spaces.Box(
            -np.inf, np.inf, shape=(33,), dtype=np.float32
        )
        self.action_space = spaces.Box(-1, 1, shape=(1,), dtype=np.float32)
        self.reset()

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self.current_step = self.start_step
        self.cash_balance = self.initial_balance
        self.shares_held = 0.0
        self.portfolio_value = self.initial_balance
        self.total_trades = 0
        self.portfolio_history = [self.initial_balance]
        self.return_history: list[float] = []
        return self._get_observation(), self._get_info()

    def step(
        self, action: np.ndarray
    ) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        a = float(np.clip(action[0], -1, 1))
        nxt = self.df.loc[self.current_step + 1]
        traded = self._execute_action(
            a, float(nxt["open"]), float(nxt["low"]), float(nxt["high"])
        )
        self.current_step += 1
        current_price = self.df.loc[self.current_step, "close"]
        self.portfolio_value = self.cash_balance + self.shares_held * current_price
        self.portfolio_history.append(self.portfolio_value)
        ret = (
            self.portfolio_value - self.portfolio_history[-2]
        ) / self.portfolio_history[-2]
        self.return_history.append(ret)
        reward = self._calculate_reward(a, traded)
        done = self.current_step >= len(self.df) - 1
        return self._get_observation(), reward, done, False, self._get_info()

    def _execute_action(self, action: float, ref: float, low: float, high: float) -> bool:
        # the simulated exchange's fill rule: slipped, inside the bar's range, 4 decimals
        if action > 0 and self.cash_balance > 0:
            price = round(min(max(ref * (1 + self.slippage_pct), low), high), 4)
            shares = action * self.cash_balance / (price * (1 + self.commission_pct))
            cost = shares * price
            self.shares_held += shares
            self.cash_balance = max(
                0.0, self.cash_balance - cost - cost * self.commission_pct
            )
            self.total_trades += 1
            return True
        if action < 0 and self.shares_held > 0:
            price = round(min(max(ref * (1 - self.slippage_pct), low), high), 4)
            shares = abs(action) * self.shares_held
            proceeds = shares * price
            self.shares_held = 0.0 if action == -1 else self.shares_held - shares
            self.cash_balance += proceeds - proceeds * self.commission_pct
            self.total_trades += 1
            return True
        return False

    def _calculate_reward(self, action: float, traded: bool) -> float:
        recent = self.return_history[-self.lookback_window :]
        sharpe = 0.0
        if len(recent) >= 2:
            std = np.std(recent)
            if std > 1e-9:
                sharpe = float(np.mean(recent) / std * np.sqrt(252))
        reward = sharpe
        if traded and abs(action) > 0.1:
            reward -= 0.01
        elif abs(action) < 0.1 and self.shares_held > 0:
            reward += 0.005
        return reward * self.reward_scaling

    def _get_observation(self) -> np.ndarray:
        row = self.df.loc[self.current_step]
        price = row["close"]
        account = [
            self.cash_balance / self.initial_balance,
            self.shares_held * price / self.initial_balance,
            self.portfolio_value / self.initial_balance,
        ]
        price_state = [
            row["open"] / price,
            row["high"] / price,
            row["low"] / price,
            np.log(row["volume"] + 1) / 20,
        ]
        indicators = [
            row.get("rvol", 1.0),
            row.get("rsi", 50.0) / 100.0,
            row.get("macd", 0.0) / price,
            row.get("macd_signal", 0.0) / price,
            row.get("vwap", price) / price,
            row.get("atr", 0.0) / price,
            row.get("sma_20", price) / price,
            row.get("ema_50", price) / price,
        ]
        catalyst = [
            row.get("catalyst_score", 0.0),
            row.get("sentiment", 0.0),
            float(row.get("is_earnings", 0.0)),
            float(row.get("is_merger", 0.0)),
            float(row.get("is_fda", 0.0)),
            float(row.get("is_offering", 0.0)),
            float(row.get("is_insider", 0.0)),
            row.get("news_velocity", 0.0) / 10.0,
        ]
        history = [
            self._get_return(1),
            self._get_return(5),
            self._get_return(10),
            self._get_return(20),
            self._get_volatility(20),
            self._get_max_drawdown(20),
            self._get_sharpe(20),
            row.get("beta", 0.0),
            self._get_volume_trend(),
            self._get_return(60),
        ]
        return np.array(
            account + price_state + indicators + catalyst + history, dtype=np.float32
        )

    def _get_return(self, lookback: int) -> float:
        if self.current_step < lookback:
            return 0.0
        now = self.df.loc[self.current_step, "close"]
        past = self.df.loc[self.current_step - lookback, "close"]
        return (now - past) / past

    def _window_returns(self, lookback: int) -> pd.Series:
        prices = self.df.loc[self.current_step - lookback : self.current_step, "close"]
        return prices.pct_change().dropna()

    def _get_volatility(self, lookback: int) -> float:
        return float(self._window_returns(lookback).std())

    def _get_max_drawdown(self, lookback: int) -> float:
        prices = self.df.loc[self.current_step - lookback : self.current_step, "close"]
        return float(((prices - prices.cummax()) / prices.cummax()).min())

    def _get_sharpe(self, lookback: int) -> float:
        r = self._window_returns(lookback)
        std = r.std()
        return float(r.mean() / std * np.sqrt(252)) if std > 0 else 0.0

    def _get_volume_trend(self) -> float:
        recent = self.df.loc[self.current_step - 4 : self.current_step, "volume"].mean()
        avg = self.df.loc[self.current_step - 19 : self.current_step, "volume"].mean()
        return (recent - avg) / avg if avg > 0 else 0.0

    def _get_info(self) -> dict[str, Any]:
        return {
            "step": self.current_step,
            "portfolio_value": self.portfolio_value,
            "cash_balance": self.cash_balance,
            "shares_held": self.shares_held,
            "total_trades": self.total_trades,
        }
