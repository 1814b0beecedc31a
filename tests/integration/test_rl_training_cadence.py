"""A short PPO run validates only updated policies and records its verdict in the registry.

PPO with 512-step rollouts in 2 envs updates every 1,024 steps; a 410-step validation request
would score unchanged policies, and those scores would use up the early-stopping patience.
The run must validate on the update cadence only.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("stable_baselines3")

from adapters.data.features import sample_features
from adapters.rl.env import EnvConfig
from adapters.rl.registry import FileSystemModelRegistry
from adapters.rl.training import Sb3Trainer, TrainConfig
from application.training import train_and_register

TICKERS = ["AAPL", "KO"]


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return sample_features()


def test_train_when_ppo_4096_steps_then_validated_on_update_cadence_with_verdict(
    frame: pd.DataFrame, tmp_path: Path
) -> None:
    # The failing run's shape: PPO's default 512-step rollouts in 2 envs, a 410-step
    # validation request, patience small enough that two stale scores would stop it.
    cfg = TrainConfig(algo="ppo", timesteps=4096, eval_freq=410, patience=2, min_evals=1,
                      env_config=EnvConfig(episode_length=128))
    assert (cfg.update_every, cfg.eval_every) == (1024, 1024)
    reg = FileSystemModelRegistry(tmp_path / "models")
    got = train_and_register(Sb3Trainer(frame, cfg, tickers=TICKERS), reg, "ppo")
    run, mv = got.run, got.version

    steps = [int(e["step"]) for e in run.evaluations]
    updates = [int(e["updates"]) for e in run.evaluations]
    assert steps and all(s % 1024 == 0 for s in steps), steps
    assert all(u > 0 for u in updates), updates  # the initial policy is never scored
    assert updates == sorted(set(updates)), updates  # no policy scored twice
    assert run.best_updates > 0 and run.best_step in steps
    # Patience counts only updated policies: early stopping needs two non-improving ones
    # after the best, so it cannot stop before the third validation.
    if run.stopped_early:
        assert len(steps) >= 3
        assert steps.index(run.best_step) <= len(steps) - 3
    else:
        assert run.timesteps >= 4096

    q = mv.metrics["quality"]
    beats = run.validation["total_return"] > run.buy_and_hold["total_return"]
    assert q["beats_buy_and_hold"] is beats and q["best_is_initial_policy"] is False
    assert q["warnings"] == list(got.verdict.warnings)
    assert bool(q["warnings"]) is (not beats)
    assert mv.metrics["training"]["validate_every"] == 1024
    assert reg.get("ppo", 1).metrics["quality"] == q  # stored, not only returned
