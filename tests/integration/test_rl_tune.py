"""Optuna tuning: a local SQLite study, and two worker processes on one PostgreSQL study."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from adapters.data.features import sample_features
from adapters.rl.training import TrainConfig
from adapters.rl.tune import OptunaSearch, Sb3TrialTrainer, open_study, sample_hyperparams
from application.tuning import tune

pytestmark = pytest.mark.slow

FIXED = {"n_steps": 64, "batch_size": 32, "n_epochs": 1}


def test_sample_hyperparams_when_fixed_keys_then_not_searched() -> None:
    for algo in ("ppo", "sac", "a2c"):
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
        trial = study.ask()
        hp = sample_hyperparams(trial, algo, {"gamma": 0.95})
        assert hp["gamma"] == 0.95 and "gamma" not in trial.params
        assert isinstance(hp["net_arch"], list) and 1e-5 <= hp["learning_rate"] <= 1e-3


def test_tune_when_sqlite_storage_then_trials_recorded_with_validation_sharpe(
    tmp_path: Path,
) -> None:
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    frame = sample_features()
    frame = frame[frame["ticker"].isin(["AAPL", "KO"])]
    base = TrainConfig(algo="ppo", timesteps=128, eval_freq=64,
                       env_config=TrainConfig().env_config)
    study = open_study(storage, "s", sampler_seed=1)
    tune(OptunaSearch(study, "ppo", FIXED), Sb3TrialTrainer(frame, base), n_trials=3)
    again = optuna.load_study(study_name="s", storage=storage)
    trials = again.get_trials()
    assert len(trials) == 3
    done = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert done and all("validation" in t.user_attrs for t in done)
    assert all(t.intermediate_values for t in trials)  # reported to the pruner
    assert again.best_value == max(t.value for t in done if t.value is not None)


def test_tune_when_two_worker_processes_on_one_postgres_study_then_both_contribute(
    postgresql_url: str, tmp_path: Path
) -> None:
    # Workers get the plain postgresql:// form a user would type; the CLI normalises it.
    url = postgresql_url.replace("postgresql+psycopg://", "postgresql://")
    data = tmp_path / "f.parquet"
    frame = sample_features()
    frame[frame["ticker"].isin(["AAPL", "KO"])].to_parquet(data)
    cmd = [
        str(Path(sys.executable).parent / "catalyst"), "rl", "tune", "--algo", "ppo",
        "--data", str(data), "--study", "shared", "--storage", url, "--n-trials", "2",
        "--timesteps", "128", "--eval-freq", "64", "--params", json.dumps(FIXED), "--json",
    ]
    env = {**os.environ, "CATALYST_DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}"}
    procs = [
        subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         cwd=tmp_path, env=env)
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=240) for p in procs]
    for p, (_o, e) in zip(procs, outs, strict=True):
        assert p.returncode == 0, e[-3000:]
    summaries = [json.loads(o.strip().splitlines()[-1]) for o, _ in outs]
    # Each worker saw the shared study (its own 2 trials and possibly the other's).
    assert all(s["trials"] >= 2 for s in summaries)
    study = optuna.load_study(study_name="shared",
                              storage=postgresql_url)
    trials = study.get_trials()
    assert len(trials) == 4
    assert len({t.number for t in trials}) == 4
    assert sum(t.state == optuna.trial.TrialState.COMPLETE for t in trials) >= 2
