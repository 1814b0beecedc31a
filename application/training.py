"""Use case: train an RL model, judge it against the initial policy and buy-and-hold, register it.

The trainer (:class:`application.ports.Trainer`) does the learning; this use case decides
what is recorded. Every registered version carries a ``quality`` verdict
(:func:`domain.rl.training.assess_training`) in its metrics, and its warnings are returned so
that the entrypoint shows them: a model whose best validation is the untrained policy, or
that does not beat buy-and-hold on validation, is never registered silently.
"""

from __future__ import annotations

import attrs

from application.ports import ModelRegistry, Trainer
from domain.rl.models import FEATURE_STATS_KEY, ModelVersion, validate_model_name
from domain.rl.training import TrainingRun, TrainingVerdict, assess_training

__all__ = ["TrainedModel", "train_and_register"]


@attrs.frozen
class TrainedModel:
    """A registered version, the run that produced it and the verdict on it."""

    version: ModelVersion
    run: TrainingRun
    verdict: TrainingVerdict


def train_and_register(trainer: Trainer, registry: ModelRegistry, name: str) -> TrainedModel:
    """Train with ``trainer`` and register the best model under ``name``.

    The version records the algorithm, resolved hyper-parameters, the data's content hash,
    the env config, the seed, library versions, the validation metrics, the buy-and-hold
    baseline on validation, every validation made, the ``quality`` verdict and the training
    data's per-feature statistics (``feature_stats``, when the trainer measured them).

    Raises
    ------
    ValueError
        A bad model name (before any training), or data the trainer cannot use.
    """
    validate_model_name(name)
    try:
        run = trainer.train(name)
        verdict = assess_training(
            run.best_updates,
            run.best_step,
            run.validation,
            run.buy_and_hold,
            run.evaluations,
            random=run.random or None,
        )
        version = registry.register(
            name,
            run.algo,
            run.model_path,
            hyperparams=dict(run.hyperparams),
            data_hash=run.data_hash,
            env_config=dict(run.env_config),
            seed=run.seed,
            library_versions=dict(run.library_versions),
            metrics={
                "validation": run.validation,
                "buy_and_hold_validation": run.buy_and_hold,
                "random_validation": run.random,
                "quality": verdict.to_json(),
                "training": {
                    "timesteps": run.timesteps,
                    "best_step": run.best_step,
                    "best_updates": run.best_updates,
                    "validate_every": run.validate_every,
                    "stopped_early": run.stopped_early,
                    "seconds": run.seconds,
                    "n_envs": run.n_envs,
                    "vec_env": run.vec_env,
                    "tickers": list(run.tickers),
                },
                "evaluations": run.evaluations,
                # the deployed agent's drift monitor compares live observations with these
                **({FEATURE_STATS_KEY: dict(run.feature_stats)} if run.feature_stats else {}),
            },
        )
    finally:
        trainer.close()
    return TrainedModel(version, run, verdict)
