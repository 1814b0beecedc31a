"""The train-and-register use case on a fake trainer and a fake model registry."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import attrs
import pytest

from application.training import train_and_register
from domain.rl.models import ModelNotFoundError, ModelStatus, ModelVersion
from domain.rl.training import TrainingRun, promotion_blocker

T0 = datetime(2026, 1, 2, tzinfo=UTC)


class FakeRegistry:
    def __init__(self) -> None:
        self.versions: list[ModelVersion] = []

    def register(self, name: str, algo: str, artifact: str, *, hyperparams: dict[str, object],
                 data_hash: str, env_config: dict[str, object], seed: int,
                 library_versions: dict[str, str], metrics: dict[str, object]) -> ModelVersion:
        mv = ModelVersion(name, len(self.list(name)) + 1, algo, ModelStatus.candidate, artifact,
                          hyperparams, data_hash, env_config, seed, library_versions, metrics, T0)
        self.versions.append(mv)
        return mv

    def get(self, name: str, version: int | None = None) -> ModelVersion:
        for mv in reversed(self.list(name)):
            if version is None or mv.version == version:
                return mv
        raise ModelNotFoundError(name)

    def list(self, name: str | None = None) -> Sequence[ModelVersion]:
        return [v for v in self.versions if name is None or v.name == name]

    def promote(self, name: str, version: int) -> ModelVersion:
        raise NotImplementedError

    def rollback(self, name: str) -> ModelVersion:
        raise NotImplementedError


def _run(**kw: Any) -> TrainingRun:
    base: dict[str, Any] = dict(
        algo="ppo", seed=0, model_path="/tmp/m", hyperparams={"n_steps": 512},
        validation={"total_return": 0.05, "sharpe": 0.8},
        buy_and_hold={"total_return": 0.30, "sharpe": 1.1},
        evaluations=[{"step": 1024.0, "updates": 10.0}], best_step=1024, best_updates=10,
        timesteps=4096, stopped_early=False, seconds=1.0, vec_env="dummy", n_envs=2,
        validate_every=1024, tickers=["AAPL"], data_hash="sha256:x", env_config={},
        library_versions={"python": "3"},
    )
    base.update(kw)
    return TrainingRun(**base)


class FakeTrainer:
    def __init__(self, run: TrainingRun | Exception) -> None:
        self.run = run
        self.names: list[str] = []
        self.closed = 0

    def train(self, run_name: str) -> TrainingRun:
        self.names.append(run_name)
        if isinstance(self.run, Exception):
            raise self.run
        return self.run

    def close(self) -> None:
        self.closed += 1


def test_train_when_best_is_initial_policy_then_registered_with_warnings_recorded() -> None:
    reg, trainer = FakeRegistry(), FakeTrainer(_run(best_updates=0, best_step=410))
    got = train_and_register(trainer, reg, "p")
    assert trainer.names == ["p"] and trainer.closed == 1
    assert got.verdict.best_is_initial_policy and not got.verdict.beats_buy_and_hold
    q = got.version.metrics["quality"]
    assert q["best_is_initial_policy"] is True and q["beats_buy_and_hold"] is False
    assert q["warnings"] == list(got.verdict.warnings) and len(q["warnings"]) == 2
    assert got.version.metrics["buy_and_hold_validation"] == {"total_return": 0.30,
                                                              "sharpe": 1.1}
    assert got.version.metrics["training"]["best_updates"] == 0


def test_train_when_model_beats_buy_and_hold_then_no_warning() -> None:
    run = _run(validation={"total_return": 0.4, "sharpe": 1.5})
    got = train_and_register(FakeTrainer(run), FakeRegistry(), "p")
    assert got.verdict.warnings == () and got.version.metrics["quality"]["beats_buy_and_hold"]
    assert got.run == run and got.version.metrics["validation"] == run.validation


def test_train_when_bad_name_then_nothing_trained_or_registered() -> None:
    reg, trainer = FakeRegistry(), FakeTrainer(_run())
    with pytest.raises(ValueError, match="model name 'a b'"):
        train_and_register(trainer, reg, "a b")
    assert trainer.names == [] and reg.versions == []


def test_train_when_trainer_fails_then_nothing_registered_and_trainer_closed() -> None:
    reg, trainer = FakeRegistry(), FakeTrainer(ValueError("no validation bars"))
    with pytest.raises(ValueError, match="no validation bars"):
        train_and_register(trainer, reg, "p")
    assert reg.versions == [] and trainer.closed == 1


def test_training_run_is_frozen() -> None:
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        _run().best_step = 3  # type: ignore[misc]


def test_train_when_model_loses_to_random_then_recorded_and_warned() -> None:
    run = attrs.evolve(
        _run(validation={"total_return": 0.4, "sharpe": 1.5}),
        random={"total_return": 0.5, "sharpe": 1.0},
    )
    got = train_and_register(FakeTrainer(run), FakeRegistry(), "p")
    q = got.version.metrics["quality"]
    assert q["beats_buy_and_hold"] is True and q["beats_random"] is False
    assert q["beats_baselines"] is False and q["random_return"] == 0.5
    assert got.version.metrics["random_validation"] == {"total_return": 0.5, "sharpe": 1.0}
    assert any("random agent" in w for w in got.verdict.warnings)
    assert promotion_blocker(got.version.metrics) == (
        "it did not beat a random agent on validation"
    )


def test_train_when_model_beats_both_baselines_then_promotable() -> None:
    run = attrs.evolve(
        _run(validation={"total_return": 0.4, "sharpe": 1.5}),
        random={"total_return": -0.1, "sharpe": -0.3},
    )
    got = train_and_register(FakeTrainer(run), FakeRegistry(), "p")
    assert got.version.metrics["quality"]["beats_baselines"] is True
    assert promotion_blocker(got.version.metrics) is None
    assert promotion_blocker({"validation": {}}) is None  # no verdict recorded: not blocked
