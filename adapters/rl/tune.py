"""Hyper-parameter search with Optuna: TPE sampler, median pruning on validation Sharpe.

The search loop is the use case :func:`application.tuning.tune`; this module holds its
ports: :class:`OptunaSearch` samples hyper-parameters from an Optuna study and asks its
:class:`optuna.pruners.MedianPruner` whether a trial that reported a validation Sharpe below
the median of earlier trials at the same step should stop; :class:`Sb3TrialTrainer` trains
one model per trial (:func:`adapters.rl.training.train`).

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

import attrs
import optuna
import pandas as pd

from adapters.data.features import feature_panel
from adapters.rl.algorithms import resolve_hyperparams
from adapters.rl.training import TrainConfig, train
from application.ports import TrialState, TuningTrial
from domain.rl.training import TrialResult

__all__ = [
    "DEFAULT_STORAGE",
    "OptunaSearch",
    "Sb3TrialTrainer",
    "normalise_storage_url",
    "open_study",
    "sample_hyperparams",
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


def open_study(storage: str, study_name: str, sampler_seed: int | None = None) -> optuna.Study:
    """Create the study or join it if it exists (other workers may be running).

    ``sampler_seed`` seeds TPE (reproducible single-worker searches). Leave it ``None`` when
    several workers share a study, or they would all propose the same parameters.
    """
    url = normalise_storage_url(storage)
    with _schema_lock(url):
        return optuna.create_study(
            study_name=study_name,
            storage=url,
            direction="maximize",
            sampler=optuna.samplers.TPESampler(seed=sampler_seed, n_startup_trials=5),
            pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0),
            load_if_exists=True,
        )


@attrs.frozen
class _Trial:
    trial: optuna.Trial
    hyperparams: dict[str, Any]

    @property
    def number(self) -> int:
        return int(self.trial.number)


_STATES = {
    "complete": optuna.trial.TrialState.COMPLETE,
    "pruned": optuna.trial.TrialState.PRUNED,
    "failed": optuna.trial.TrialState.FAIL,
}


class OptunaSearch:
    """The :class:`application.ports.HyperparameterSearch` port on an Optuna study."""

    def __init__(
        self, study: optuna.Study, algo: str, fixed: Mapping[str, Any] | None = None
    ) -> None:
        self.study = study
        self.algo = algo
        self.fixed = dict(fixed or {})
        study.set_user_attr("algo", algo)

    def ask(self) -> TuningTrial:
        """Start a trial and sample its hyper-parameters."""
        trial = self.study.ask()
        return _Trial(trial, sample_hyperparams(trial, self.algo, self.fixed))

    def report(self, trial: TuningTrial, step: int, value: float) -> bool:
        """Report an intermediate value; return True when the pruner stops the trial."""
        t = _optuna_trial(trial)
        t.report(value, step)
        return bool(t.should_prune())

    def tell(
        self,
        trial: TuningTrial,
        state: TrialState,
        value: float | None = None,
        attrs: Mapping[str, Any] | None = None,
    ) -> None:
        """Store the attributes and finish the trial."""
        t = _optuna_trial(trial)
        for k, v in (attrs or {}).items():
            t.set_user_attr(k, v)
        if state == "complete":
            self.study.tell(t, value)
        else:
            self.study.tell(t, state=_STATES[state])


def _optuna_trial(trial: TuningTrial) -> optuna.Trial:
    if not isinstance(trial, _Trial):
        raise TypeError(f"not a trial of this search: {trial!r}")
    return trial.trial


class Sb3TrialTrainer:
    """The :class:`application.ports.TrialTrainer` port: one SB3 training per trial.

    Every trial trains with the same seed and settings (``base``), so trials differ only
    by their hyper-parameters; training uses the frame's train split and validates on its
    validation split.
    """

    def __init__(self, frame: pd.DataFrame, base: TrainConfig) -> None:
        self.train_panel = feature_panel(frame, split="train")
        self.val_panel = feature_panel(frame, split="validation")
        self.base = base

    def _cfg(self, hyperparams: Mapping[str, Any]) -> TrainConfig:
        return attrs.evolve(self.base, hyperparams=dict(hyperparams))

    def validation_interval(self, hyperparams: Mapping[str, Any]) -> int:
        """Return the validation interval of a training with these parameters."""
        return self._cfg(hyperparams).eval_every

    def train(
        self,
        hyperparams: Mapping[str, Any],
        on_eval: Callable[[int, Mapping[str, float]], None],
    ) -> TrialResult:
        """Train one model in a temporary folder and return its best validation."""
        with tempfile.TemporaryDirectory(prefix="catalyst-tune-") as tmp:
            res = train(
                self.train_panel, self.val_panel, self._cfg(hyperparams), Path(tmp),
                on_eval=on_eval,
            )
        return TrialResult(
            hyperparams=dict(res.hyperparams),
            validation=dict(res.validation),
            timesteps=res.timesteps,
        )
