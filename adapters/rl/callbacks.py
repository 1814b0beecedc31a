"""Stable-Baselines3 callbacks: validation with trading metrics, early stopping, progress.

:class:`ValidationCallback` replaces SB3's ``EvalCallback`` + ``StopTrainingOnNoModel
Improvement`` with the same logic on *our* score: once ``eval_freq`` environment steps have
passed it waits for the next rollout to start (the point right after SB3 updated the policy),
runs the policy deterministically over every ticker of the validation split, logs the mean
Sharpe, return, drawdown and turnover to TensorBoard (``validation/*``), keeps the best model
by validation Sharpe on disk, stops training after ``patience`` validations of updated
policies without improvement (once ``min_evals`` such validations were made), and calls
``on_eval`` (Optuna's pruning hook) with the step and the metrics.

A policy that no update changed since the last validation is not validated again: scoring it
twice would only use up patience. Each validation records ``updates``, the number of policy
updates behind it (0: the initial policy).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from rich.progress import Progress, TaskID
from stable_baselines3.common.callbacks import BaseCallback

from adapters.rl.agents import ModelAgent, mean_metrics, run_episodes
from adapters.rl.env import EnvConfig
from domain.market_data.features import TickerFeatures

__all__ = ["RichProgressCallback", "ValidationCallback"]


class ValidationCallback(BaseCallback):
    """Evaluate on validation data, keep the best model, stop early, report to a hook."""

    def __init__(
        self,
        panel: Mapping[str, TickerFeatures],
        env_config: EnvConfig,
        eval_freq: int,
        best_path: Path,
        patience: int = 5,
        min_evals: int = 3,
        on_eval: Callable[[int, dict[str, float]], None] | None = None,
    ) -> None:
        super().__init__(verbose=0)
        self.panel = panel
        self.env_config = env_config
        self.eval_freq = max(1, eval_freq)
        self.best_path = Path(best_path)
        self.patience = patience
        self.min_evals = min_evals
        self.on_eval = on_eval
        self.best_sharpe = -np.inf
        self.best_metrics: dict[str, float] = {}
        self.best_step = 0
        self.best_updates = 0
        self.evaluations: list[dict[str, float]] = []
        self.stopped_early = False
        self._since_best = 0
        self._counted = 0
        self._last_updates: int | None = None
        self._next = self.eval_freq
        self._episode_returns: list[float] = []
        self._continue = True

    def _on_step(self) -> bool:
        for info, done in zip(self.locals.get("infos", []), self.locals.get("dones", []),
                              strict=False):
            if done and "total_return" in info:
                self._episode_returns.append(float(info["total_return"]))
        return self._continue

    def _on_rollout_start(self) -> None:
        # SB3 starts a rollout right after its last policy update: the moment to validate.
        if self.num_timesteps < self._next:
            return
        while self._next <= self.num_timesteps:
            self._next += self.eval_freq
        self._continue = self.evaluate_now()

    def _updates(self) -> int:
        return int(getattr(self.model, "_n_updates", 0))

    def evaluate_now(self) -> bool:
        """Run one validation pass unless the policy is unchanged; return False to stop."""
        updates = self._updates()
        if self._last_updates is not None and updates == self._last_updates:
            return True
        self._last_updates = updates
        if self._episode_returns:
            self.logger.record("trading/train_episode_return", float(np.mean(self._episode_returns)))
            self._episode_returns.clear()
        m = mean_metrics(run_episodes(self.panel, ModelAgent(self.model), self.env_config))
        m["step"] = float(self.num_timesteps)
        m["updates"] = float(updates)
        self.evaluations.append(m)
        for k in ("sharpe", "total_return", "max_drawdown", "turnover", "trades"):
            self.logger.record(f"validation/{k}", m[k])
        if m["sharpe"] > self.best_sharpe:
            self.best_sharpe = m["sharpe"]
            self.best_metrics = m
            self.best_step = self.num_timesteps
            self.best_updates = updates
            self._since_best = 0
            self.model.save(str(self.best_path))
        elif updates > 0:
            self._since_best += 1
        if updates > 0:
            self._counted += 1
        self.logger.record("validation/best_sharpe", self.best_sharpe)
        self.logger.dump(self.num_timesteps)
        if self.on_eval is not None:
            self.on_eval(self.num_timesteps, m)
        if self._counted >= self.min_evals and self._since_best >= self.patience:
            self.stopped_early = True
            return False
        return True


class RichProgressCallback(BaseCallback):
    """Advance a Rich progress task with the environment steps done."""

    def __init__(self, progress: Progress, task: TaskID, validation: ValidationCallback | None):
        super().__init__(verbose=0)
        self.progress = progress
        self.task = task
        self.validation = validation
        self._last = 0

    def _on_step(self) -> bool:
        done = self.num_timesteps - self._last
        if done >= 64:
            desc: dict[str, Any] = {}
            v = self.validation
            if v is not None and v.evaluations:
                desc["description"] = (
                    f"val Sharpe {v.evaluations[-1]['sharpe']:+.2f} (best {v.best_sharpe:+.2f})"
                )
            self.progress.update(self.task, advance=done, **desc)
            self._last = self.num_timesteps
        return True
