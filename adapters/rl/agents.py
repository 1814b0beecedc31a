"""Agents for :class:`adapters.rl.env.CatalystTradingEnv`: SB3 models, ensembles, baselines.

* :class:`ModelAgent` wraps a Stable-Baselines3 model (deterministic ``predict``).
* :func:`load_agent` loads a registered model (``name`` or ``name@version``) -- refusing
  one trained for another environment config -- or an ensemble, recursively.
* :func:`run_episodes` runs an agent over every ticker of a panel, start to end, and
  reports the metrics of :mod:`adapters.rl.evaluate` (return, Sharpe, drawdown, trades)
  plus turnover and the equity curve.
"""

from __future__ import annotations

import hashlib
import json
import platform
from collections.abc import Callable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pandas as pd
from numpy.typing import NDArray

from adapters.rl.algorithms import ALGORITHMS, algorithm_class
from adapters.rl.env import CatalystTradingEnv, EnvConfig
from adapters.rl.evaluate import Agent
from application.ports import ModelRegistry
from domain.analytics import metrics as perf
from domain.costs import CostModel
from domain.market_data.features import OBSERVATION_FEATURES, TickerFeatures
from domain.rl.episodes import METRIC_KEYS, EpisodeMetrics, mean_metrics
from domain.rl.models import ModelVersion, check_env_config, parse_model_ref

__all__ = [
    "ALGORITHMS",
    "METRIC_KEYS",
    "EpisodeMetrics",
    "ModelAgent",
    "data_hash",
    "env_config_from_json",
    "env_config_json",
    "library_versions",
    "load_agent",
    "load_sb3_model",
    "mean_metrics",
    "run_episodes",
]

MODEL_FILE = "model.zip"
ENSEMBLE_FILE = "ensemble.json"


def env_config_json(config: EnvConfig) -> dict[str, Any]:
    """Return the env config as JSON, with the observation's feature names."""
    d = attrs.asdict(config)
    d["observation_features"] = list(OBSERVATION_FEATURES)
    return d


def env_config_from_json(d: Mapping[str, Any]) -> EnvConfig:
    """Inverse of :func:`env_config_json` (the feature names are dropped)."""
    kw = {k: v for k, v in d.items() if k != "observation_features"}
    kw["costs"] = CostModel(**kw.get("costs", {}))
    return EnvConfig(**kw)


def data_hash(frame: pd.DataFrame) -> str:
    """Return a SHA-256 of the feature frame's content (column names and every value)."""
    h = hashlib.sha256()
    h.update(json.dumps(list(map(str, frame.columns))).encode())
    h.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return "sha256:" + h.hexdigest()


def library_versions() -> dict[str, str]:
    """Return the versions that decide a trained model's numbers."""
    out = {"python": platform.python_version()}
    for dist in (
        "numpy",
        "torch",
        "stable-baselines3",
        "gymnasium",
        "optuna",
        "catalyst-trader",
    ):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "absent"
    return out


# --------------------------------------------------------------------------- agents


class ModelAgent:
    """A Stable-Baselines3 model as an :class:`adapters.rl.evaluate.Agent`."""

    def __init__(self, model: Any, deterministic: bool = True) -> None:
        self.model = model
        self.deterministic = deterministic

    def reset(self) -> None:
        """SB3 MLP policies keep no state between steps."""

    def act(self, obs: NDArray[np.float32]) -> NDArray[np.float32]:
        """Return the policy's action for ``obs``."""
        action, _ = self.model.predict(obs, deterministic=self.deterministic)
        return np.asarray(action, dtype=np.float32).reshape(1)


def load_sb3_model(algo: str, path: Path | str) -> Any:
    """Load an SB3 model file on the CPU."""
    return algorithm_class(algo).load(str(path), device="cpu")


def load_agent(
    registry: ModelRegistry, ref: str, env_config: EnvConfig | None = None
) -> tuple[Agent, ModelVersion]:
    """Load ``name`` or ``name@version`` from ``registry`` as an agent.

    Parameters
    ----------
    registry
        Where the model is registered.
    ref
        ``name`` (production, else latest) or ``name@version``.
    env_config
        The environment it will act in; ``None`` means the one it was trained for.

    Raises
    ------
    domain.rl.models.IncompatibleEnvConfigError
        If ``env_config`` differs from the training config (the message names the fields).
    domain.rl.models.ModelNotFoundError
        If no such model or version is registered.
    """
    name, version = parse_model_ref(ref)
    mv = registry.get(name, version)
    if env_config is not None:
        check_env_config(mv, env_config_json(env_config), defaults=env_config_json(EnvConfig()))
    if mv.algo == "ensemble":
        from adapters.rl.ensemble import EnsembleAgent

        spec = json.loads((Path(mv.path) / ENSEMBLE_FILE).read_text())
        members = []
        for m in spec["members"]:
            agent, _ = load_agent(registry, m["ref"], env_config)
            members.append(agent)
        return EnsembleAgent(members, [float(m["weight"]) for m in spec["members"]]), mv
    return ModelAgent(load_sb3_model(mv.algo, Path(mv.path) / MODEL_FILE)), mv


# ------------------------------------------------------------------------ episodes


def run_episodes(
    panel: Mapping[str, TickerFeatures],
    agent: Agent,
    config: EnvConfig | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[EpisodeMetrics]:
    """Run ``agent`` over every ticker of ``panel`` from its first bar to its last.

    The metrics are the trading report's (:mod:`domain.analytics.metrics`: simple daily
    returns, 252 periods, zero risk-free rate, sample standard deviation), so RL and paper
    results read the same way; they equal :func:`adapters.rl.evaluate.evaluate`'s return,
    Sharpe and drawdown. A Sharpe ratio without variation (an agent that never trades) is
    reported as 0, as the evaluate module does, instead of the report's NaN. ``turnover``
    is the traded notional divided by the mean portfolio value (1.0 = the whole portfolio
    traded once).
    """
    cfg = attrs.evolve(config or EnvConfig(), episode_length=None)
    env = CatalystTradingEnv(panel, cfg)
    out: list[EpisodeMetrics] = []
    for ticker in env.tickers:
        obs, info = env.reset(options={"ticker": ticker, "start": 0})
        agent.reset()
        values = [float(info["portfolio_value"])]
        dates = [env.current_date]
        start = env.current_date
        total_reward = 0.0
        traded = 0.0
        shares = 0.0
        done = False
        while not done:
            obs, reward, term, trunc, info = env.step(agent.act(obs))
            values.append(float(info["portfolio_value"]))
            dates.append(env.current_date)
            if "fill_price" in info:
                traded += abs(info["shares"] - shares) * float(info["fill_price"])
            shares = float(info["shares"])
            total_reward += float(reward)
            done = term or trunc
        v = np.asarray(values, dtype=np.float64)
        r = perf.returns_from_equity(v)
        sharpe = perf.sharpe_ratio(r, cfg.periods_per_year)
        out.append(
            EpisodeMetrics(
                ticker=ticker,
                start=start,
                end=env.current_date,
                steps=len(v) - 1,
                total_return=float(v[-1] / v[0] - 1.0),
                annual_return=perf.annual_return(r, cfg.periods_per_year),
                annual_volatility=perf.annual_volatility(r, cfg.periods_per_year),
                sharpe=0.0 if np.isnan(sharpe) else sharpe,
                sortino=perf.sortino_ratio(r, cfg.periods_per_year),
                max_drawdown=perf.max_drawdown(r),
                trades=int(info["trades"]),
                turnover=float(traded / v.mean()),
                final_value=float(v[-1]),
                reward=total_reward,
                dates=tuple(dates),
                values=tuple(float(x) for x in v),
            )
        )
        if progress is not None:
            progress(ticker)
    return out
