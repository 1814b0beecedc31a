"""Train PPO, SAC or A2C on :class:`adapters.rl.env.CatalystTradingEnv`.

:func:`train` runs Stable-Baselines3 on the training split with validation on the
validation split (:class:`adapters.rl.callbacks.ValidationCallback`: best model kept, early
stopping, TensorBoard trading metrics). :class:`Sb3Trainer` is the
:class:`application.ports.Trainer` port over it; the use case that judges and registers the
result is :func:`application.training.train_and_register`.

Vectorised environments: ``vec_env="auto"`` uses ``DummyVecEnv`` (environments stepped in
the training process). The env steps at ~250 k steps/s, so an SB3 update is >95 % policy
and gradient work; ``SubprocVecEnv`` adds an inter-process round trip (~100 us) to each
step that costs more than the env itself (measured in ``docs/rl.md``). ``vec_env="subproc"``
is there for expensive envs (e.g. a future intraday env) and runs one process per env.
"""

from __future__ import annotations

import random
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

import attrs
import gymnasium as gym
import pandas as pd
import torch
from rich.progress import Progress
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.utils import set_random_seed
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnv

from adapters.data.features import feature_panel
from adapters.rl.agents import (
    MODEL_FILE,
    data_hash,
    env_config_json,
    library_versions,
    mean_metrics,
    run_episodes,
)
from adapters.rl.algorithms import algorithm_class, resolve_hyperparams, sb3_kwargs
from adapters.rl.callbacks import RichProgressCallback, ValidationCallback
from adapters.rl.env import CatalystTradingEnv, EnvConfig
from adapters.rl.evaluate import BuyAndHoldAgent, RandomAgent
from domain.market_data.features import TickerFeatures
from domain.rl.models import feature_stats_json
from domain.rl.training import TrainingRun, update_cadence, validation_interval

__all__ = [
    "Sb3Trainer",
    "TrainConfig",
    "TrainResult",
    "make_vec_env",
    "train",
]

VecEnvKind = Literal["auto", "dummy", "subproc"]

@attrs.frozen
class TrainConfig:
    """How to train one model.

    Parameters
    ----------
    algo
        ``ppo``, ``sac`` or ``a2c``.
    timesteps
        Environment steps to train for (at most; early stopping may end sooner).
    seed
        Seeds Python, NumPy, torch, the envs and the action space.
    hyperparams
        Overrides of :data:`adapters.rl.algorithms.DEFAULT_HYPERPARAMS`.
    env_config
        Training environment (252-step episodes from random starts by default).
    n_envs
        Parallel environments (``None``: 2 for PPO/A2C, 1 for SAC).
    vec_env
        ``auto`` (= ``dummy``), ``dummy`` or ``subproc``.
    eval_freq
        Validate about every this many environment steps (``None``:
        ``max(timesteps // 10, 256)``), rounded up to a multiple of the algorithm's update
        cadence (:func:`domain.rl.training.update_cadence`) so that each validation scores
        an updated policy.
    patience, min_evals
        Early stopping: stop after ``patience`` validations of updated policies without a
        better validation Sharpe, once ``min_evals`` such validations were made.
    torch_threads
        Intra-op threads (1 keeps CPU runs bit-reproducible and leaves cores to the envs).
    """

    algo: str = "ppo"
    timesteps: int = 20_000
    seed: int = 0
    hyperparams: Mapping[str, Any] = attrs.field(factory=dict)
    env_config: EnvConfig = attrs.field(factory=lambda: EnvConfig(episode_length=252))
    n_envs: int | None = None
    vec_env: VecEnvKind = "auto"
    eval_freq: int | None = None
    patience: int = 5
    min_evals: int = 3
    torch_threads: int = 1

    def __attrs_post_init__(self) -> None:
        algorithm_class(self.algo)
        if self.timesteps < 1:
            raise ValueError(f"timesteps must be >= 1, got {self.timesteps}")
        if self.vec_env not in ("auto", "dummy", "subproc"):
            raise ValueError(f"vec_env must be auto, dummy or subproc, not {self.vec_env!r}")

    @property
    def envs(self) -> int:
        """Return the number of parallel environments."""
        return self.n_envs if self.n_envs is not None else (1 if self.algo == "sac" else 2)

    @property
    def update_every(self) -> int:
        """Return the environment steps (over all envs) between two policy updates."""
        hp = resolve_hyperparams(self.algo, self.hyperparams)
        return update_cadence(self.algo, hp, self.envs)

    @property
    def eval_every(self) -> int:
        """Return the validation interval: a multiple of the update cadence."""
        wanted = self.eval_freq if self.eval_freq is not None else max(self.timesteps // 10, 256)
        return validation_interval(wanted, self.update_every)


@attrs.frozen
class TrainResult:
    """What :func:`train` produced."""

    model_path: Path
    hyperparams: dict[str, Any]
    validation: dict[str, float]
    evaluations: list[dict[str, float]]
    best_step: int
    best_updates: int
    timesteps: int
    stopped_early: bool
    seconds: float
    vec_env: str
    n_envs: int
    validate_every: int


class _EnvFactory:
    """Picklable env constructor (SubprocVecEnv sends it to the worker)."""

    def __init__(self, panel: Mapping[str, TickerFeatures], config: EnvConfig) -> None:
        self.panel = dict(panel)
        self.config = config

    def __call__(self) -> Monitor:
        return Monitor(CatalystTradingEnv(self.panel, self.config))


def make_vec_env(
    panel: Mapping[str, TickerFeatures], config: EnvConfig, n_envs: int, kind: VecEnvKind
) -> VecEnv:
    """Build ``n_envs`` monitored envs in a ``DummyVecEnv`` or ``SubprocVecEnv``."""
    fns: list[Callable[[], gym.Env[Any, Any]]] = [
        _EnvFactory(panel, config) for _ in range(n_envs)
    ]
    if kind == "subproc" and n_envs > 1:
        return SubprocVecEnv(fns, start_method="forkserver")
    return DummyVecEnv(fns)


def train(
    train_panel: Mapping[str, TickerFeatures],
    val_panel: Mapping[str, TickerFeatures],
    cfg: TrainConfig,
    out_dir: Path,
    tensorboard_dir: Path | None = None,
    progress: Progress | None = None,
    on_eval: Callable[[int, dict[str, float]], None] | None = None,
    run_name: str | None = None,
) -> TrainResult:
    """Train one model; keep the best one by validation Sharpe in ``out_dir/model.zip``.

    Parameters
    ----------
    train_panel, val_panel
        Training and validation splits.
    cfg
        :class:`TrainConfig`.
    out_dir
        Where ``model.zip`` (best by validation Sharpe) is written.
    tensorboard_dir
        TensorBoard log root (``None``: no logs).
    progress
        A running Rich progress display to add a task to.
    on_eval
        Called after each validation with the step and the metrics (Optuna pruning).
    run_name
        TensorBoard run name (default ``<algo>_seed<seed>``).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    hp = resolve_hyperparams(cfg.algo, cfg.hyperparams)
    torch.set_num_threads(cfg.torch_threads)
    set_random_seed(cfg.seed)
    random.seed(cfg.seed)
    kind: VecEnvKind = "dummy" if cfg.vec_env == "auto" else cfg.vec_env
    venv = make_vec_env(train_panel, cfg.env_config, cfg.envs, kind)
    started = time.perf_counter()
    best_path = out_dir / MODEL_FILE
    try:
        model = algorithm_class(cfg.algo)(
            "MlpPolicy",
            venv,
            seed=cfg.seed,
            device="cpu",
            verbose=0,
            tensorboard_log=None if tensorboard_dir is None else str(tensorboard_dir),
            **sb3_kwargs(hp),
        )
        val_cb = ValidationCallback(
            val_panel,
            cfg.env_config,
            cfg.eval_every,
            best_path,
            patience=cfg.patience,
            min_evals=cfg.min_evals,
            on_eval=on_eval,
        )
        callbacks: list[BaseCallback] = [val_cb]
        if progress is not None:
            task = progress.add_task(
                "", total=cfg.timesteps, label=f"training {cfg.algo} seed {cfg.seed}"
            )
            callbacks.append(RichProgressCallback(progress, task, val_cb))
        model.learn(
            total_timesteps=cfg.timesteps,
            callback=CallbackList(callbacks),
            tb_log_name=run_name or f"{cfg.algo}_seed{cfg.seed}",
        )
        last = val_cb.evaluations[-1]["step"] if val_cb.evaluations else -1
        if not val_cb.stopped_early and last < model.num_timesteps:
            val_cb.evaluate_now()
        if progress is not None:
            progress.update(task, completed=cfg.timesteps)
        steps = int(model.num_timesteps)
    finally:
        venv.close()
    return TrainResult(
        model_path=best_path,
        hyperparams=hp,
        validation={
            k: v for k, v in val_cb.best_metrics.items() if k not in ("step", "updates")
        },
        evaluations=list(val_cb.evaluations),
        best_step=int(val_cb.best_step),
        best_updates=int(val_cb.best_updates),
        timesteps=steps,
        stopped_early=val_cb.stopped_early,
        seconds=time.perf_counter() - started,
        vec_env=kind,
        n_envs=cfg.envs,
        validate_every=cfg.eval_every,
    )


class Sb3Trainer:
    """The :class:`application.ports.Trainer` port on Stable-Baselines3 and a feature frame.

    Trains on the frame's train split, validates on its validation split, and measures
    buy-and-hold on the same validation split as the baseline. The model file lives in a
    temporary directory until :meth:`close` (the registry copies it in before that).
    """

    def __init__(
        self,
        frame: pd.DataFrame,
        cfg: TrainConfig,
        *,
        tickers: list[str] | None = None,
        tensorboard_dir: Path | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.frame = frame
        self.cfg = cfg
        self.tickers = tickers
        self.tensorboard_dir = tensorboard_dir
        self.progress = progress
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    def train(self, run_name: str) -> TrainingRun:
        """Train one model and return the run, with the buy-and-hold validation baseline."""
        train_panel = feature_panel(self.frame, split="train", tickers=self.tickers)
        val_panel = feature_panel(self.frame, split="validation", tickers=self.tickers)
        if not train_panel or not val_panel:
            raise ValueError("the data has no train or no validation bars for these tickers")
        self.close()
        self._tmp = tempfile.TemporaryDirectory(prefix="catalyst-train-")
        cfg = self.cfg
        res = train(
            train_panel,
            val_panel,
            cfg,
            Path(self._tmp.name),
            tensorboard_dir=self.tensorboard_dir,
            progress=self.progress,
            run_name=f"{run_name}_{cfg.algo}_seed{cfg.seed}",
        )
        baseline = mean_metrics(run_episodes(val_panel, BuyAndHoldAgent(), cfg.env_config))
        random_baseline = mean_metrics(
            run_episodes(val_panel, RandomAgent(cfg.seed), cfg.env_config)
        )
        return TrainingRun(
            algo=cfg.algo,
            seed=cfg.seed,
            model_path=str(res.model_path),
            hyperparams=dict(res.hyperparams),
            validation=dict(res.validation),
            buy_and_hold=baseline,
            random=random_baseline,
            evaluations=list(res.evaluations),
            best_step=res.best_step,
            best_updates=res.best_updates,
            timesteps=res.timesteps,
            stopped_early=res.stopped_early,
            seconds=round(res.seconds, 3),
            vec_env=res.vec_env,
            n_envs=res.n_envs,
            validate_every=res.validate_every,
            tickers=sorted(train_panel),
            data_hash=data_hash(self.frame),
            env_config=env_config_json(cfg.env_config),
            library_versions=library_versions(),
            feature_stats=self._feature_stats(),
        )

    def _feature_stats(self) -> dict[str, Any]:
        """Return the per-feature statistics of the training split of the tickers trained
        on: the statistics the deployed agent's drift monitor compares with
        (:func:`adapters.rl.inference.feature_stats`, the function the backtest's monitor
        uses on its data file)."""
        from adapters.rl.inference import feature_stats  # noqa: PLC0415 - rarely needed

        frame = self.frame
        if self.tickers is not None:
            frame = frame[frame["ticker"].isin(self.tickers)]
        st = feature_stats(frame, split="train")
        return feature_stats_json(st.names, st.mean, st.std)

    def close(self) -> None:
        """Delete the temporary model file of the last run."""
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
