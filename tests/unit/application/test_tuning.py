"""The tuning use case on a fake search and a fake trial trainer."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs
import pytest

from application.ports import TrialState, TuningTrial
from application.tuning import TrialOutcome, tune
from domain.rl.training import TrialResult


@attrs.frozen
class Trial:
    number: int
    hyperparams: dict[str, Any]


class FakeSearch:
    """Proposes learning rates in order; prunes a trial whose Sharpe falls below a floor."""

    def __init__(self, rates: list[float], prune_below: float = -99.0) -> None:
        self.rates = rates
        self.prune_below = prune_below
        self.reports: list[tuple[int, int, float]] = []
        self.told: list[tuple[int, TrialState, float | None, dict[str, Any]]] = []

    def ask(self) -> TuningTrial:
        n = len(self.told)
        return Trial(n, {"learning_rate": self.rates[n], "n_steps": 64})

    def report(self, trial: TuningTrial, step: int, value: float) -> bool:
        self.reports.append((trial.number, step, value))
        return value < self.prune_below

    def tell(self, trial: TuningTrial, state: TrialState, value: float | None = None,
             attrs: Mapping[str, Any] | None = None) -> None:
        self.told.append((trial.number, state, value, dict(attrs or {})))


class FakeTrainer:
    """Three validations whose Sharpe is the learning rate times 1, 2, 3."""

    def __init__(self, fail_on: float | None = None) -> None:
        self.fail_on = fail_on

    def validation_interval(self, hyperparams: Mapping[str, Any]) -> int:
        return 2 * int(hyperparams["n_steps"])

    def train(self, hyperparams: Mapping[str, Any],
              on_eval: Callable[[int, Mapping[str, float]], None]) -> TrialResult:
        lr = float(hyperparams["learning_rate"])
        if lr == self.fail_on:
            raise RuntimeError("diverged")
        best = -1e9
        for i in (1, 2, 3):
            on_eval(100 * i + 7, {"sharpe": lr * i})
            best = max(best, lr * i)
        return TrialResult(hyperparams=dict(hyperparams), validation={"sharpe": best},
                           timesteps=300)


def test_tune_when_trials_complete_then_best_sharpe_is_objective_at_nominal_steps() -> None:
    search, seen = FakeSearch([0.5, 1.0]), []
    got = tune(search, FakeTrainer(), 2, on_trial=seen.append)
    assert got == seen == [TrialOutcome(0, "complete", 1.5), TrialOutcome(1, "complete", 3.0)]
    assert [s for n, s, _ in search.reports if n == 0] == [128, 256, 384]
    assert search.told[1][3]["validation"] == {"sharpe": 3.0}
    assert search.told[1][3]["timesteps"] == 300


def test_tune_when_search_prunes_then_training_stops_and_trial_told_pruned() -> None:
    search = FakeSearch([-1.0, 1.0], prune_below=0.0)
    got = tune(search, FakeTrainer(), 2)
    assert got[0] == TrialOutcome(0, "pruned", None)
    assert [r for r in search.reports if r[0] == 0] == [(0, 128, -1.0)]  # stopped at once
    assert search.told[0][1] == "pruned" and got[1].state == "complete"


def test_tune_when_training_fails_then_trial_told_failed_and_error_raised() -> None:
    search = FakeSearch([0.3, 0.7])
    with pytest.raises(RuntimeError, match="diverged"):
        tune(search, FakeTrainer(fail_on=0.7), 2)
    assert [t[1] for t in search.told] == ["complete", "failed"]


def test_tune_when_out_of_time_then_no_new_trial() -> None:
    calls = iter([False, True])
    got = tune(FakeSearch([0.1, 0.2]), FakeTrainer(), 5, should_stop=lambda: next(calls))
    assert len(got) == 1


def test_tune_when_no_trials_then_error() -> None:
    with pytest.raises(ValueError, match="n_trials must be >= 1, got 0"):
        tune(FakeSearch([]), FakeTrainer(), 0)
