"""Baseline agents and an evaluation loop for :class:`adapters.rl.env.CatalystTradingEnv`."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Protocol

import attrs
import numpy as np
from numpy.typing import NDArray

from adapters.rl.env import CatalystTradingEnv, EnvConfig
from domain.market_data.features import TickerFeatures

__all__ = [
    "Agent",
    "BuyAndHoldAgent",
    "EpisodeResult",
    "RandomAgent",
    "evaluate",
    "max_drawdown",
    "sharpe_ratio",
]


class Agent(Protocol):
    """Anything that maps an observation to an action (SB3 models fit via a lambda)."""

    def reset(self) -> None:
        """Forget the previous episode."""
        ...

    def act(self, obs: NDArray[np.float32]) -> NDArray[np.float32]:
        """Return an action of shape ``(1,)`` in ``[-1, 1]``."""
        ...


class RandomAgent:
    """Uniform random actions in ``[-1, 1]`` from a seeded generator."""

    def __init__(self, seed: int = 0) -> None:
        self._rng = np.random.default_rng(seed)

    def reset(self) -> None:
        """Keep the generator running across episodes (reproducible for a seed)."""

    def act(self, obs: NDArray[np.float32]) -> NDArray[np.float32]:
        """Return a random action."""
        return self._rng.uniform(-1.0, 1.0, size=1).astype(np.float32)


class BuyAndHoldAgent:
    """Spend all cash on the first step, then hold."""

    def __init__(self) -> None:
        self._first = True

    def reset(self) -> None:
        """Buy again at the start of the next episode."""
        self._first = True

    def act(self, obs: NDArray[np.float32]) -> NDArray[np.float32]:
        """Return 1 on the first step and 0 afterwards."""
        a = 1.0 if self._first else 0.0
        self._first = False
        return np.array([a], dtype=np.float32)


def sharpe_ratio(values: NDArray[np.float64], periods_per_year: int = 252) -> float:
    """Return the annualised Sharpe ratio of the step returns of ``values`` (no risk-free).

    Uses the sample standard deviation; 0 when it is 0 or fewer than two returns exist.
    """
    r = np.diff(values) / values[:-1]
    if len(r) < 2:
        return 0.0
    sd = float(r.std(ddof=1))
    return 0.0 if sd == 0.0 else float(r.mean()) / sd * math.sqrt(periods_per_year)


def max_drawdown(values: NDArray[np.float64]) -> float:
    """Return the largest peak-to-trough fall of ``values`` as a fraction (<= 0)."""
    peak = np.maximum.accumulate(values)
    return float((values / peak - 1.0).min()) if len(values) else 0.0


@attrs.frozen
class EpisodeResult:
    """What one episode of one ticker produced."""

    ticker: str
    start: str
    end: str
    steps: int
    total_return: float
    sharpe: float
    max_drawdown: float
    trades: int
    final_value: float
    reward: float


def evaluate(
    panel: Mapping[str, TickerFeatures],
    make_agent: Callable[[], Agent],
    config: EnvConfig | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[EpisodeResult]:
    """Run ``make_agent()`` over every ticker of ``panel`` from its first bar to its last.

    Parameters
    ----------
    panel
        Ticker features, e.g. one split of the bundled sample.
    make_agent
        Builds the agent once; it is ``reset()`` before each ticker.
    config
        Environment settings; ``episode_length`` is ignored (each ticker runs to its end).
    progress
        Called with each ticker when done.

    Returns
    -------
    list of EpisodeResult
        One per ticker, in ticker order.
    """
    cfg = attrs.evolve(config or EnvConfig(), episode_length=None)
    env = CatalystTradingEnv(panel, cfg)
    agent = make_agent()
    out: list[EpisodeResult] = []
    for ticker in env.tickers:
        obs, info = env.reset(options={"ticker": ticker, "start": 0})
        agent.reset()
        values = [info["portfolio_value"]]
        start = env.current_date
        total_reward = 0.0
        done = False
        while not done:
            obs, reward, term, trunc, info = env.step(agent.act(obs))
            values.append(info["portfolio_value"])
            total_reward += reward
            done = term or trunc
        v = np.asarray(values, dtype=np.float64)
        out.append(
            EpisodeResult(
                ticker=ticker,
                start=start,
                end=env.current_date,
                steps=len(v) - 1,
                total_return=float(v[-1] / v[0] - 1.0),
                sharpe=sharpe_ratio(v, cfg.periods_per_year),
                max_drawdown=max_drawdown(v),
                trades=int(info["trades"]),
                final_value=float(v[-1]),
                reward=total_reward,
            )
        )
        if progress is not None:
            progress(ticker)
    return out
