"""Train PPO, SAC and A2C briefly on the bundled data, register, load back, reproduce."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from adapters.data.features import feature_panel, sample_features
from adapters.rl.agents import (
    METRIC_KEYS,
    ModelAgent,
    env_config_json,
    load_agent,
    mean_metrics,
    run_episodes,
)
from adapters.rl.ensemble import EnsembleAgent, register_ensemble
from adapters.rl.env import EnvConfig
from adapters.rl.evaluate import BuyAndHoldAgent, evaluate
from adapters.rl.registry import FileSystemModelRegistry
from adapters.rl.training import Sb3Trainer, TrainConfig
from application.training import train_and_register as register_trained
from domain.rl.models import FEATURE_STATS_KEY, IncompatibleEnvConfigError

pytestmark = pytest.mark.slow

# Tiny runs: a few hundred steps, two tickers, so the whole file stays well under a minute.
TICKERS = ["AAPL", "KO"]
SMALL: dict[str, dict[str, Any]] = {
    "ppo": {"n_steps": 64, "batch_size": 32, "n_epochs": 2},
    "sac": {"learning_starts": 64, "batch_size": 32},
    "a2c": {"n_steps": 8},
}


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return sample_features()


def train_and_register(
    frame: pd.DataFrame, reg: Any, name: str, cfg: TrainConfig, **kw: Any
) -> tuple[Any, Any]:
    tickers = kw.pop("tickers", None)
    got = register_trained(Sb3Trainer(frame, cfg, tickers=tickers, **kw), reg, name)
    return got.version, got.run


def _cfg(algo: str, seed: int = 0, timesteps: int = 256) -> TrainConfig:
    return TrainConfig(
        algo=algo,
        timesteps=timesteps,
        seed=seed,
        hyperparams=SMALL[algo],
        env_config=EnvConfig(episode_length=64),
        eval_freq=128,
    )


@pytest.mark.parametrize("algo", ["ppo", "sac", "a2c"])
def test_train_when_each_algo_then_registered_and_loads_back_acting_the_same(
    algo: str, frame: pd.DataFrame, tmp_path: Path
) -> None:
    reg = FileSystemModelRegistry(tmp_path / "models")
    mv, res = train_and_register(
        frame, reg, f"{algo}-t", _cfg(algo), tensorboard_dir=tmp_path / "tb", tickers=TICKERS
    )
    assert (mv.algo, mv.version, mv.seed) == (algo, 1, 0)
    assert mv.data_hash.startswith("sha256:") and len(mv.data_hash) == 71
    assert mv.hyperparams["net_arch"] == [64, 64]
    assert {"torch", "stable-baselines3", "gymnasium", "numpy", "python"} <= set(
        mv.library_versions
    )
    assert set(mv.metrics["validation"]) == set(METRIC_KEYS)
    assert res.timesteps >= 256 and len(res.evaluations) >= 2
    assert zipfile.is_zipfile(Path(mv.path) / "model.zip")
    # TensorBoard got our trading metrics next to SB3's curves.
    events = list((tmp_path / "tb").rglob("events.out.tfevents.*"))
    assert events and any(b"validation/sharpe" in e.read_bytes() for e in events)

    agent, got = load_agent(reg, mv.ref, EnvConfig())
    assert got == mv
    val = feature_panel(frame, "validation", TICKERS)
    again = mean_metrics(run_episodes(val, agent, EnvConfig()))
    for k, v in mv.metrics["validation"].items():
        assert again[k] == pytest.approx(v, rel=1e-9, abs=1e-12), k
    test = feature_panel(frame, "test", TICKERS)
    assert all(r.steps > 100 for r in run_episodes(test, agent))


def test_load_when_env_config_differs_then_clear_error(
    frame: pd.DataFrame, tmp_path: Path
) -> None:
    reg = FileSystemModelRegistry(tmp_path / "models")
    mv, _ = train_and_register(frame, reg, "p", _cfg("ppo", timesteps=64), tickers=TICKERS)
    with pytest.raises(IncompatibleEnvConfigError, match=r"p@1.*fill_at: trained 'next_open'"):
        load_agent(reg, "p@1", EnvConfig(fill_at="next_close"))
    load_agent(reg, "p", EnvConfig(episode_length=None))  # sampling fields may differ
    assert mv.env_config == env_config_json(EnvConfig(episode_length=64))


def test_registered_version_carries_its_training_splits_feature_statistics(
    frame: pd.DataFrame, tmp_path: Path
) -> None:
    from domain.market_data.features import MARKET_FEATURES, WARMUP_BARS
    from domain.rl.models import training_feature_stats

    reg = FileSystemModelRegistry(tmp_path / "models")
    mv, _ = train_and_register(frame, reg, "s", _cfg("ppo", timesteps=64), tickers=TICKERS)
    got = training_feature_stats(reg.get("s", 1))
    assert not isinstance(got, str), got
    names, mean, std = got
    assert names == tuple(MARKET_FEATURES)
    # the train rows of the tickers trained on, each ticker's warm-up left out
    rows = pd.concat(
        g.sort_values("date").iloc[WARMUP_BARS:].query("split == 'train'")
        for t, g in frame.groupby("ticker") if t in TICKERS)
    m = rows[[f"f_{n}" for n in MARKET_FEATURES]].to_numpy(np.float64)
    np.testing.assert_allclose(mean, m.mean(axis=0), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(std, m.std(axis=0, ddof=1), rtol=1e-12, atol=1e-12)
    assert mv.metrics["feature_stats"]["names"] == list(MARKET_FEATURES)


def test_train_when_same_seed_twice_then_identical_model_and_metrics(
    frame: pd.DataFrame, tmp_path: Path
) -> None:
    reg = FileSystemModelRegistry(tmp_path / "models")
    a, _ = train_and_register(frame, reg, "r", _cfg("ppo", seed=3), tickers=TICKERS)
    b, _ = train_and_register(frame, reg, "r", _cfg("ppo", seed=3), tickers=TICKERS)
    c, _ = train_and_register(frame, reg, "r", _cfg("ppo", seed=4), tickers=TICKERS)
    assert a.metrics["validation"] == b.metrics["validation"]
    assert a.metrics["evaluations"] == b.metrics["evaluations"]
    pa = ModelAgent(_load(a)).model.policy.state_dict()
    pb = ModelAgent(_load(b)).model.policy.state_dict()
    assert all(np.array_equal(pa[k].numpy(), pb[k].numpy()) for k in pa)
    pc = ModelAgent(_load(c)).model.policy.state_dict()
    assert not all(np.array_equal(pa[k].numpy(), pc[k].numpy()) for k in pa)


def _with_metrics(mv: Any, metrics: dict[str, Any]) -> Any:
    import attrs

    return attrs.evolve(mv, metrics=metrics)


def _load(mv: Any) -> Any:
    from adapters.rl.agents import load_sb3_model

    return load_sb3_model(mv.algo, Path(mv.path) / "model.zip")


def test_ensemble_when_registered_then_loads_back_with_weighted_actions(
    frame: pd.DataFrame, tmp_path: Path
) -> None:
    reg = FileSystemModelRegistry(tmp_path / "models")
    p, _ = train_and_register(frame, reg, "p", _cfg("ppo", timesteps=128), tickers=TICKERS)
    s, _ = train_and_register(frame, reg, "a", _cfg("a2c", timesteps=128), tickers=TICKERS)
    ens_mv = register_ensemble(reg, "ens", [p, s], [0.25, 0.75], "explicit",
                               {"validation": {}})
    assert ens_mv.algo == "ensemble" and ens_mv.env_config == p.env_config
    # both members trained on the same split: the ensemble carries their feature statistics
    assert p.metrics[FEATURE_STATS_KEY] == s.metrics[FEATURE_STATS_KEY]
    assert ens_mv.metrics[FEATURE_STATS_KEY] == p.metrics[FEATURE_STATS_KEY]
    other = register_ensemble(reg, "ens2", [p, _with_metrics(s, {})], [0.5, 0.5], "explicit",
                              {"validation": {}})
    assert FEATURE_STATS_KEY not in other.metrics  # a member without them: none
    ens, _ = load_agent(reg, "ens", EnvConfig())
    assert isinstance(ens, EnsembleAgent)
    pa, _ = load_agent(reg, "p@1")
    sa, _ = load_agent(reg, "a@1")
    obs = feature_panel(frame, "test", TICKERS)["KO"].features[0]
    full = np.concatenate([np.array([1.0, 0.0, 1.0], np.float32), obs])
    want = 0.25 * pa.act(full)[0] + 0.75 * sa.act(full)[0]
    assert ens.act(full)[0] == pytest.approx(np.clip(want, -1, 1), abs=1e-6)


def test_run_episodes_when_buy_and_hold_then_report_metrics_equal_evaluate_module(
    frame: pd.DataFrame,
) -> None:
    panel = feature_panel(frame, "test")
    ours = run_episodes(panel, BuyAndHoldAgent())
    theirs = evaluate(panel, BuyAndHoldAgent)
    for a, b in zip(ours, theirs, strict=True):
        assert (a.ticker, a.total_return, a.trades) == (b.ticker, b.total_return, b.trades)
        # domain.analytics.metrics (the trading report's) vs the evaluate module: same definitions,
        # different summation order.
        assert a.sharpe == pytest.approx(b.sharpe, rel=1e-12)
        assert a.max_drawdown == pytest.approx(b.max_drawdown, rel=1e-12)
        assert 0.99 < a.turnover * np.mean(a.values) / a.values[0] < 1.0  # one full buy
