"""Train PPO, SAC or A2C on :class:`adapters.rl.env.CatalystTradingEnv` and register the result.

:func:`train` runs Stable-Baselines3 on the training split with validation on the
validation split (:class:`adapters.rl.callbacks.ValidationCallback`: best model kept, early
stopping, TensorBoard trading metrics). :func:`train_and_register` adds the registry entry
with everything needed to reproduce the model.

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
from stable_baselines3 import A2C, PPO, SAC
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.utils import set_random_seed
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnv

from adapters.data.features import feature_panel
from adapters.rl.agents import (
    ALGORITHMS,
    MODEL_FILE,
    data_hash,
    env_config_json,
    library_versions,
)
from adapters.rl.callbacks import RichProgressCallback, ValidationCallback
from adapters.rl.env import CatalystTradingEnv, EnvConfig
from application.ports import ModelRegistry
from domain.market_data.features import TickerFeatures
from domain.rl.models import ModelVersion

__all__ = [
    "DEFAULT_HYPERPARAMS",
    "TrainConfig",
    "TrainResult",
    "algorithm_class",
    "make_vec_env",
    "resolve_hyperparams",
    "train",
    "train_and_register",
]

VecEnvKind = Literal["auto", "dummy", "subproc"]

DEFAULT_HYPERPARAMS: dict[str, dict[str, Any]] = {
    "ppo": {
        "learning_rate": 3e-4,
        "n_steps": 512,
        "batch_size": 64,
        "n_epochs": 10,
        "gamma": 0.99,
        "gae_lambda": 0.95,
        "clip_range": 0.2,
        "ent_coef": 0.0,
        "net_arch": [64, 64],
    },
    "sac": {
        "learning_rate": 3e-4,
        "buffer_size": 100_000,
        "batch_size": 256,
        "learning_starts": 100,
        "tau": 0.005,
        "gamma": 0.99,
        "train_freq": 1,
        "gradient_steps": 1,
        "net_arch": [64, 64],
    },
    "a2c": {
        "learning_rate": 7e-4,
        "n_steps": 8,
        "gamma": 0.99,
        "gae_lambda": 1.0,
        "ent_coef": 0.0,
        "net_arch": [64, 64],
    },
}


def algorithm_class(algo: str) -> type[BaseAlgorithm]:
    """Return the SB3 class of ``ppo``, ``sac`` or ``a2c``."""
    classes: dict[str, type[BaseAlgorithm]] = {"ppo": PPO, "sac": SAC, "a2c": A2C}
    try:
        return classes[algo]
    except KeyError:
        raise ValueError(f"algo must be one of {', '.join(ALGORITHMS)}, not {algo!r}") from None


def resolve_hyperparams(algo: str, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Return the defaults of ``algo`` updated with ``overrides`` (unknown keys rejected)."""
    algorithm_class(algo)
    hp = dict(DEFAULT_HYPERPARAMS[algo])
    for k, v in (overrides or {}).items():
        if k not in hp:
            raise ValueError(
                f"hyper-parameter {k!r} is not one of {algo}'s: {', '.join(sorted(hp))}"
            )
        hp[k] = list(v) if k == "net_arch" else v
    return hp


def _sb3_kwargs(hp: Mapping[str, Any]) -> dict[str, Any]:
    kw = {k: v for k, v in hp.items() if k != "net_arch"}
    kw["policy_kwargs"] = {"net_arch": list(hp["net_arch"])}
    return kw


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
        Overrides of :data:`DEFAULT_HYPERPARAMS`.
    env_config
        Training environment (252-step episodes from random starts by default).
    n_envs
        Parallel environments (``None``: 2 for PPO/A2C, 1 for SAC).
    vec_env
        ``auto`` (= ``dummy``), ``dummy`` or ``subproc``.
    eval_freq
        Validate every this many environment steps (``None``: ``max(timesteps // 10, 256)``).
    patience, min_evals
        Early stopping: stop after ``patience`` evaluations without a better validation
        Sharpe, once ``min_evals`` were made.
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
    def eval_every(self) -> int:
        """Return the validation interval in environment steps."""
        return self.eval_freq if self.eval_freq is not None else max(self.timesteps // 10, 256)


@attrs.frozen
class TrainResult:
    """What :func:`train` produced."""

    model_path: Path
    hyperparams: dict[str, Any]
    validation: dict[str, float]
    evaluations: list[dict[str, float]]
    best_step: int
    timesteps: int
    stopped_early: bool
    seconds: float
    vec_env: str
    n_envs: int


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
            **_sb3_kwargs(hp),
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
        validation={k: v for k, v in val_cb.best_metrics.items() if k != "step"},
        evaluations=list(val_cb.evaluations),
        best_step=int(val_cb.best_step),
        timesteps=steps,
        stopped_early=val_cb.stopped_early,
        seconds=time.perf_counter() - started,
        vec_env=kind,
        n_envs=cfg.envs,
    )


def train_and_register(
    frame: pd.DataFrame,
    registry: ModelRegistry,
    name: str,
    cfg: TrainConfig,
    tensorboard_dir: Path | None = None,
    progress: Progress | None = None,
    tickers: list[str] | None = None,
) -> tuple[ModelVersion, TrainResult]:
    """Train on the frame's train split, validate on its validation split, register.

    The version records the algorithm, resolved hyper-parameters, the data's content hash,
    the env config, the seed, library versions and the validation metrics.
    """
    train_panel = feature_panel(frame, split="train", tickers=tickers)
    val_panel = feature_panel(frame, split="validation", tickers=tickers)
    if not train_panel or not val_panel:
        raise ValueError("the data has no train or no validation bars for these tickers")
    with tempfile.TemporaryDirectory(prefix="catalyst-train-") as tmp:
        res = train(
            train_panel,
            val_panel,
            cfg,
            Path(tmp),
            tensorboard_dir=tensorboard_dir,
            progress=progress,
            run_name=f"{name}_{cfg.algo}_seed{cfg.seed}",
        )
        mv = registry.register(
            name,
            cfg.algo,
            str(res.model_path),
            hyperparams=dict(res.hyperparams),
            data_hash=data_hash(frame),
            env_config=env_config_json(cfg.env_config),
            seed=cfg.seed,
            library_versions=library_versions(),
            metrics={
                "validation": res.validation,
                "training": {
                    "timesteps": res.timesteps,
                    "best_step": res.best_step,
                    "stopped_early": res.stopped_early,
                    "seconds": round(res.seconds, 3),
                    "n_envs": res.n_envs,
                    "vec_env": res.vec_env,
                    "tickers": sorted(train_panel),
                },
                "evaluations": res.evaluations,
            },
        )
    return mv, res
