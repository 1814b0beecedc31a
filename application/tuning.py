"""Use case: search hyper-parameters, one trained model per trial, pruning weak trials early.

Each trial asks the search for hyper-parameters, trains with them, and reports every
validation Sharpe at a nominal step (validation index times the validation interval, so that
trials of different lengths line up for the pruner). A trial the search wants stopped is told
as pruned; one that raises is told as failed and the error propagates. The objective is the
best validation Sharpe.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import attrs

from application.ports import HyperparameterSearch, TrialState, TrialTrainer, TuningTrial

__all__ = ["TrialOutcome", "TrialPrunedError", "tune"]


class TrialPrunedError(Exception):
    """Raised inside training to stop a trial the search has pruned."""


@attrs.frozen
class TrialOutcome:
    """A finished trial: its number, state and objective value (``None`` unless complete)."""

    number: int
    state: TrialState
    value: float | None


def tune(
    search: HyperparameterSearch,
    trainer: TrialTrainer,
    n_trials: int,
    *,
    should_stop: Callable[[], bool] | None = None,
    on_trial: Callable[[TrialOutcome], None] | None = None,
) -> list[TrialOutcome]:
    """Run up to ``n_trials`` trials of ``search`` with ``trainer``.

    Parameters
    ----------
    search, trainer
        The study and the trainer of one trial.
    n_trials
        Trials to run in this process (other workers may share the study).
    should_stop
        Asked before each trial; True stops starting new ones (e.g. a time budget).
    on_trial
        Told each finished trial.
    """
    if n_trials < 1:
        raise ValueError(f"n_trials must be >= 1, got {n_trials}")
    out: list[TrialOutcome] = []
    for _ in range(n_trials):
        if should_stop is not None and should_stop():
            break
        outcome = _one_trial(search, trainer, search.ask())
        out.append(outcome)
        if on_trial is not None:
            on_trial(outcome)
    return out


def _one_trial(
    search: HyperparameterSearch, trainer: TrialTrainer, trial: TuningTrial
) -> TrialOutcome:
    hp = trial.hyperparams
    interval = trainer.validation_interval(hp)
    evals = 0

    def on_eval(_step: int, metrics: Mapping[str, float]) -> None:
        nonlocal evals
        evals += 1
        step = evals * interval
        sharpe = float(metrics["sharpe"])
        if search.report(trial, step, sharpe):
            raise TrialPrunedError(f"validation Sharpe {sharpe:.3f} at step {step}")

    try:
        res = trainer.train(hp, on_eval)
    except TrialPrunedError:
        search.tell(trial, "pruned")
        return TrialOutcome(trial.number, "pruned", None)
    except BaseException:
        search.tell(trial, "failed")
        raise
    value = float(res.validation.get("sharpe", -math.inf))
    search.tell(
        trial,
        "complete",
        value,
        {
            "hyperparams": res.hyperparams,
            "validation": res.validation,
            "timesteps": res.timesteps,
        },
    )
    return TrialOutcome(trial.number, "complete", value)
