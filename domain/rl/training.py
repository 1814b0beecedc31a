"""Rules of a training run that need no simulator: when to validate, and whether to trust it.

A policy only changes when the algorithm updates it. On-policy algorithms (PPO, A2C) update
once per rollout of ``n_steps`` steps in each of ``n_envs`` environments; validating between
two updates scores the same policy twice, and counting such a score against early-stopping
patience stops training before it learns anything. So validation runs on the update cadence,
and a training run reports whether its best model is still the initial policy or fails to beat
buy-and-hold on the validation split, so that nobody registers an untrained model unawares.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

__all__ = [
    "ON_POLICY",
    "TrainingRun",
    "TrainingVerdict",
    "TrialResult",
    "assess_training",
    "promotion_blocker",
    "update_cadence",
    "validation_interval",
]

#: Algorithms that update the policy once per rollout of ``n_steps`` per environment.
ON_POLICY = frozenset({"ppo", "a2c"})
#: Algorithms that update the policy every ``train_freq`` steps per environment.
OFF_POLICY = frozenset({"sac"})


def update_cadence(algo: str, hyperparams: Mapping[str, Any], n_envs: int) -> int:
    """Return how many environment steps (over all envs) pass between two policy updates.

    Parameters
    ----------
    algo
        ``ppo``, ``a2c`` (on-policy: ``n_steps`` per env) or ``sac`` (``train_freq`` per env).
    hyperparams
        The resolved hyper-parameters of ``algo``.
    n_envs
        Parallel environments.
    """
    if n_envs < 1:
        raise ValueError(f"n_envs must be >= 1, got {n_envs}")
    if algo in ON_POLICY:
        per_env = int(hyperparams["n_steps"])
        name = "n_steps"
    elif algo in OFF_POLICY:
        per_env = int(hyperparams.get("train_freq", 1))
        name = "train_freq"
    else:
        raise ValueError(f"algo must be one of a2c, ppo, sac, not {algo!r}")
    if per_env < 1:
        raise ValueError(f"{name} must be >= 1, got {per_env}")
    return per_env * n_envs


def validation_interval(requested: int, cadence: int) -> int:
    """Return the smallest multiple of ``cadence`` that is at least ``requested`` steps.

    Validating on a multiple of the update cadence means every validation after the first
    update scores a policy that an update has changed.
    """
    if requested < 1 or cadence < 1:
        raise ValueError(
            f"requested interval and cadence must be >= 1, got {requested} and {cadence}"
        )
    return max(1, math.ceil(requested / cadence)) * cadence


@attrs.frozen(kw_only=True)
class TrainingRun:
    """What a trainer produced: the best model's file and everything needed to register it.

    ``best_updates`` is the number of policy updates behind the best model (0: the initial,
    untrained policy). ``buy_and_hold`` holds the same validation metrics for buying and
    holding every validation ticker, and ``random`` those of a seeded random agent: the two
    baselines the model has to beat. ``feature_stats`` are the training data's per-feature
    statistics, recorded with the version for the deployed agent's drift monitor.
    """

    algo: str
    seed: int
    model_path: str
    hyperparams: dict[str, Any]
    validation: dict[str, float]
    buy_and_hold: dict[str, float]
    evaluations: list[dict[str, float]]
    best_step: int
    best_updates: int
    timesteps: int
    stopped_early: bool
    seconds: float
    vec_env: str
    n_envs: int
    validate_every: int
    tickers: list[str]
    data_hash: str
    env_config: dict[str, Any]
    library_versions: dict[str, str]
    random: dict[str, float] = attrs.field(factory=dict)
    #: per-feature mean and standard deviation of the training split
    #: (:func:`domain.rl.models.feature_stats_json`); empty: not measured
    feature_stats: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class TrainingVerdict:
    """Whether a training run's best model deserves trust, and what is wrong if not."""

    best_is_initial_policy: bool
    beats_buy_and_hold: bool
    validation_return: float
    buy_and_hold_return: float
    warnings: tuple[str, ...]
    beats_random: bool | None = None
    random_return: float = math.nan

    @property
    def beats_baselines(self) -> bool:
        """Return True when the model beat buy-and-hold and (when measured) random."""
        return self.beats_buy_and_hold and self.beats_random is not False

    @property
    def trustworthy(self) -> bool:
        """Return True when no warning was raised."""
        return not self.warnings

    def to_json(self) -> dict[str, Any]:
        """Return the verdict as JSON for the registry's metadata."""
        return {
            "best_is_initial_policy": self.best_is_initial_policy,
            "beats_buy_and_hold": self.beats_buy_and_hold,
            "validation_return": self.validation_return,
            "buy_and_hold_return": self.buy_and_hold_return,
            "beats_random": self.beats_random,
            "random_return": None if math.isnan(self.random_return) else self.random_return,
            "beats_baselines": self.beats_baselines,
            "warnings": list(self.warnings),
        }


def assess_training(
    best_updates: int,
    best_step: int,
    validation: Mapping[str, float],
    buy_and_hold: Mapping[str, float],
    evaluations: Sequence[Mapping[str, float]] = (),
    random: Mapping[str, float] | None = None,
) -> TrainingVerdict:
    """Judge a training run's best model against the initial policy and buy-and-hold.

    Parameters
    ----------
    best_updates
        Policy updates behind the best model (0: the initial policy won).
    best_step
        Environment step at which the best model was validated.
    validation, buy_and_hold
        Validation metrics (``total_return`` is compared) of the model and the baseline.
    evaluations
        Every validation made; none at all is itself a warning.
    random
        Validation metrics of the random baseline (``None``: not measured).
    """
    val_ret = float(validation.get("total_return", math.nan))
    bh_ret = float(buy_and_hold.get("total_return", math.nan))
    warnings: list[str] = []
    initial = best_updates <= 0
    if not evaluations:
        warnings.append("the model was never validated")
    if initial:
        warnings.append(
            f"the best model (validated at step {best_step}) is the initial, untrained "
            "policy: no policy update improved the validation Sharpe"
        )
    beats = not math.isnan(val_ret) and not math.isnan(bh_ret) and val_ret > bh_ret
    if not beats:
        warnings.append(
            f"the best model does not beat buy-and-hold on validation "
            f"(return {val_ret:+.2%} against {bh_ret:+.2%})"
        )
    beats_rnd: bool | None = None
    rnd_ret = math.nan
    if random is not None:
        rnd_ret = float(random.get("total_return", math.nan))
        beats_rnd = not math.isnan(val_ret) and not math.isnan(rnd_ret) and val_ret > rnd_ret
        if not beats_rnd:
            warnings.append(
                f"the best model does not beat a random agent on validation "
                f"(return {val_ret:+.2%} against {rnd_ret:+.2%})"
            )
    return TrainingVerdict(
        initial, beats, val_ret, bh_ret, tuple(warnings), beats_rnd, rnd_ret
    )


def promotion_blocker(metrics: Mapping[str, Any]) -> str | None:
    """Return why a registered version should not be promoted without force, or None.

    A version whose recorded ``quality`` verdict says it did not beat buy-and-hold, or did
    not beat the random agent, on validation is blocked. Versions without a verdict
    (ensembles, versions registered before verdicts were recorded) are not.
    """
    q = metrics.get("quality")
    if not isinstance(q, Mapping):
        return None
    failed = []
    if q.get("beats_buy_and_hold") is False:
        failed.append("buy-and-hold")
    if q.get("beats_random") is False:
        failed.append("a random agent")
    if not failed:
        return None
    return f"it did not beat {' or '.join(failed)} on validation"


@attrs.frozen(kw_only=True)
class TrialResult:
    """One tuning trial's training: the hyper-parameters used and the best validation."""

    hyperparams: dict[str, Any]
    validation: dict[str, float]
    timesteps: int
