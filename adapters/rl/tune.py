"""Hyper-parameter search with Optuna: TPE sampler, median pruning on validation Sharpe.

Each trial trains one model (:func:`adapters.rl.training.train`) with sampled
hyper-parameters; every validation pass reports the mean validation Sharpe as an
intermediate value, and :class:`optuna.pruners.MedianPruner` stops trials that fall below
the median of earlier trials at the same step. The objective is the best validation Sharpe.

Storage: any SQLAlchemy URL. The default is a local SQLite file
(``sqlite:///var/optuna.db``); ``postgresql://...`` is normalised to
``postgresql+psycopg://...`` (psycopg 3). Workers started with the same ``--storage`` and
``--study`` share the study, on one machine or many.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import optuna
import pandas as pd

from adapters.data.features import feature_panel
from adapters.rl.algorithms import resolve_hyperparams
from adapters.rl.training import TrainConfig, train

__all__ = [
    "DEFAULT_STORAGE",
    "normalise_storage_url",
    "sample_hyperparams",
    "tune",
]

DEFAULT_STORAGE = "sqlite:///var/optuna.db"

_NET = {"small": [64, 64], "medium": [128, 128], "narrow": [32, 32]}


_SCHEMA_LOCK_KEY = 0x0C47A1  # any constant shared by every catalyst worker


@contextmanager
def _schema_lock(url: str) -> Iterator[None]:
    """Serialise Optuna's first-use ``CREATE TABLE`` and study creation across workers.

    Workers started at the same moment on a fresh PostgreSQL database would otherwise race
    to create the same tables (``duplicate key ... pg_type_typname_nsp_index``).
    """
    if not url.startswith("postgresql"):
        yield
        return
    import sqlalchemy as sa

    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": _SCHEMA_LOCK_KEY})
            try:
                yield
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _SCHEMA_LOCK_KEY})
    finally:
        engine.dispose()


def normalise_storage_url(url: str) -> str:
    """Return a SQLAlchemy URL for Optuna's RDB storage.

    ``postgresql://`` and ``postgres://`` get the psycopg 3 driver; a bare path becomes
    a SQLite URL; SQLite parent directories are created.
    """
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    if "://" not in url:
        url = f"sqlite:///{url}"
    if url.startswith("sqlite:///") and ":memory:" not in url:
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return url


def sample_hyperparams(
    trial: optuna.Trial, algo: str, fixed: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Sample the search space of ``algo``; keys in ``fixed`` are not searched."""
    fixed = dict(fixed or {})
    space: dict[str, Callable[[], Any]] = {
        "learning_rate": lambda: trial.suggest_float("learning_rate", 1e-5, 1e-3, log=True),
        "gamma": lambda: trial.suggest_float("gamma", 0.9, 0.9999, log=True),
        "net_arch": lambda: _NET[trial.suggest_categorical("net_arch", list(_NET))],
    }
    if algo == "ppo":
        space |= {
            "n_steps": lambda: trial.suggest_categorical("n_steps", [128, 256, 512, 1024]),
            "batch_size": lambda: trial.suggest_categorical("batch_size", [32, 64, 128]),
            "n_epochs": lambda: trial.suggest_categorical("n_epochs", [3, 5, 10]),
            "gae_lambda": lambda: trial.suggest_float("gae_lambda", 0.8, 1.0),
            "clip_range": lambda: trial.suggest_categorical("clip_range", [0.1, 0.2, 0.3]),
            "ent_coef": lambda: trial.suggest_float("ent_coef", 1e-8, 1e-2, log=True),
        }
    elif algo == "sac":
        space |= {
            "batch_size": lambda: trial.suggest_categorical("batch_size", [64, 128, 256]),
            "buffer_size": lambda: trial.suggest_categorical(
                "buffer_size", [10_000, 50_000, 100_000]
            ),
            "learning_starts": lambda: trial.suggest_categorical(
                "learning_starts", [100, 500, 1000]
            ),
            "tau": lambda: trial.suggest_categorical("tau", [0.005, 0.01, 0.02]),
            "train_freq": lambda: trial.suggest_categorical("train_freq", [1, 4, 8]),
        }
    elif algo == "a2c":
        space |= {
            "n_steps": lambda: trial.suggest_categorical("n_steps", [5, 8, 16, 32]),
            "gae_lambda": lambda: trial.suggest_float("gae_lambda", 0.8, 1.0),
            "ent_coef": lambda: trial.suggest_float("ent_coef", 1e-8, 1e-2, log=True),
        }
    else:
        raise ValueError(f"algo must be ppo, sac or a2c, not {algo!r}")
    hp = {k: fn() for k, fn in space.items() if k not in fixed}
    hp.update(fixed)
    return resolve_hyperparams(algo, hp)


def tune(
    frame: pd.DataFrame,
    algo: str,
    study_name: str,
    storage: str = DEFAULT_STORAGE,
    n_trials: int = 10,
    timesteps: int = 5_000,
    seed: int = 0,
    fixed: Mapping[str, Any] | None = None,
    timeout: float | None = None,
    base: TrainConfig | None = None,
    sampler_seed: int | None = None,
    on_trial: Callable[[optuna.trial.FrozenTrial], None] | None = None,
) -> optuna.Study:
    """Run ``n_trials`` trials of ``algo`` in this process on a (possibly shared) study.

    Parameters
    ----------
    frame
        Feature frame (train and validation splits are used).
    algo
        ``ppo``, ``sac`` or ``a2c``.
    study_name, storage
        The study; created if missing, joined if it exists (other workers may be running).
    n_trials
        Trials this worker runs.
    timesteps
        Training steps per trial.
    seed
        Seeds training (every trial trains with the same seed, so trials differ only by
        their hyper-parameters).
    fixed
        Hyper-parameters not searched.
    timeout
        Stop starting new trials after this many seconds.
    base
        Other training settings (env config, eval frequency, ...).
    sampler_seed
        Seeds TPE (reproducible single-worker searches). Leave ``None`` when several
        workers share a study, or they would all propose the same parameters.
    on_trial
        Called after each finished trial.
    """
    train_panel = feature_panel(frame, split="train")
    val_panel = feature_panel(frame, split="validation")
    url = normalise_storage_url(storage)
    with _schema_lock(url):
        study = optuna.create_study(
            study_name=study_name,
            storage=url,
            direction="maximize",
            sampler=optuna.samplers.TPESampler(seed=sampler_seed, n_startup_trials=5),
            pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0),
            load_if_exists=True,
        )
    study.set_user_attr("algo", algo)
    cfg0 = base or TrainConfig(algo=algo, timesteps=timesteps, seed=seed)

    def objective(trial: optuna.Trial) -> float:
        hp = sample_hyperparams(trial, algo, fixed)
        cfg = TrainConfig(
            algo=algo,
            timesteps=timesteps,
            seed=seed,
            hyperparams=hp,
            env_config=cfg0.env_config,
            n_envs=cfg0.n_envs,
            vec_env=cfg0.vec_env,
            eval_freq=cfg0.eval_freq,
            patience=cfg0.patience,
            min_evals=cfg0.min_evals,
        )

        evals = [0]

        def report(_step: int, m: dict[str, float]) -> None:
            # Nominal step (eval index x interval) so that trials line up for the pruner.
            evals[0] += 1
            step = evals[0] * cfg.eval_every
            trial.report(m["sharpe"], step)
            if trial.should_prune():
                raise optuna.TrialPruned(f"validation Sharpe {m['sharpe']:.3f} at step {step}")

        with tempfile.TemporaryDirectory(prefix="catalyst-tune-") as tmp:
            res = train(train_panel, val_panel, cfg, Path(tmp), on_eval=report)
        trial.set_user_attr("hyperparams", res.hyperparams)
        trial.set_user_attr("validation", res.validation)
        trial.set_user_attr("timesteps", res.timesteps)
        return float(res.validation.get("sharpe", float("-inf")))

    callbacks = [] if on_trial is None else [lambda _s, t: on_trial(t)]
    study.optimize(
        objective,
        n_trials=n_trials,
        timeout=timeout,
        callbacks=callbacks,
        catch=(),
    )
    return study
