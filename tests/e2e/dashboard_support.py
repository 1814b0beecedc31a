"""A database filled by a real (small) backtest, for the dashboard's tests."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from tests.e2e.trading_cli_support import catalyst, make_small_data

RUN = "dash"
#: a run in the same database traded by a deployed agent (run before ``RUN``: ``RUN`` stays the
#: latest, the dashboard's default)
AGENT_RUN = "dash-agent"
AGENT = "msft"


def agent_registry(d: Path) -> dict[str, str]:
    """Register a tiny PPO model ``msft`` (versions 1 and 2, 1 in production) in a registry
    of its own under ``d/agent-models``; return the environment that points the CLI at it.

    A policy trained this briefly holds everything; its weights are set so that it acts on a
    simple rule (action = tanh(3 tanh(50 x the last bar's return))) and the run trades."""
    import torch
    from stable_baselines3 import PPO

    from adapters.data.features import feature_panel, sample_features
    from adapters.rl.agents import env_config_json, library_versions
    from adapters.rl.env import CatalystTradingEnv, EnvConfig
    from adapters.rl.registry import FileSystemModelRegistry, JsonMetadataStore
    from domain.market_data.features import OBSERVATION_FEATURES

    cfg = EnvConfig(episode_length=64)
    panel = feature_panel(sample_features(), split="train", tickers=["MSFT"])
    model = PPO("MlpPolicy", CatalystTradingEnv(panel, cfg), n_steps=64, batch_size=32,
                n_epochs=1, seed=5, device="cpu", policy_kwargs={"net_arch": [32, 32]})
    model.learn(128)
    with torch.no_grad():
        net = model.policy.action_net
        net.weight.zero_()
        net.bias.zero_()
        for p in model.policy.mlp_extractor.policy_net.parameters():
            p.zero_()
        model.policy.mlp_extractor.policy_net[0].weight[0, OBSERVATION_FEATURES.index(
            "return_1d")] = 50.0
        model.policy.mlp_extractor.policy_net[2].weight[0, 0] = 3.0
        net.weight[0, 0] = 1.0
    model.save(str(d / "model.zip"))
    root = d / "agent-models"
    reg = FileSystemModelRegistry(root, JsonMetadataStore(root))
    for seed in (5, 6):
        reg.register(AGENT, "ppo", str(d / "model.zip"), hyperparams={}, data_hash="x",
                     env_config=env_config_json(cfg), seed=seed,
                     library_versions=library_versions(), metrics={})
    reg.promote(AGENT, 1)
    return {"CATALYST_MODELS": str(root), "CATALYST_MODELS_DB": "none"}


def backtest_database(d: Path, *, with_agent: bool = False) -> tuple[str, Path, dict[str, object]]:
    """Run ``catalyst backtest --run dash`` on two years of five sample tickers into a SQLite
    database under ``d``, the report in ``d/reports/dash``; return the URL, the price file and
    the command's JSON summary. ``with_agent``: first run ``catalyst backtest --agent msft``
    into the same database as run ``dash-agent`` (its agent status under ``d/agents/``)."""
    data = make_small_data(d)
    url = f"sqlite:///{d}/dash.db"
    if with_agent:
        res = catalyst(["backtest", "--data", str(data / "prices.csv"), "--alerts",
                        str(data / "alerts.jsonl"), "--agent", f"{AGENT}:MSFT,AAPL",
                        "--threshold", "0.1", "--db", url, "--run", AGENT_RUN, "--json",
                        "--no-progress", "--report", str(d / "reports" / AGENT_RUN)], d,
                       env={"CATALYST_HOME": str(d), **agent_registry(d)})
        assert res.exit_code == 0, res.output[-3000:]
    res = catalyst(["backtest", "--data", str(data / "prices.csv"), "--alerts",
                    str(data / "alerts.jsonl"), "--db", url, "--run", RUN, "--json",
                    "--report", str(d / "reports" / RUN)], d,
                   env={"CATALYST_HOME": str(d)})
    assert res.exit_code == 0, res.output[-3000:]
    return url, data / "prices.csv", json.loads(res.stdout)


def buy_and_hold(prices: Path, tickers: set[str], start: str, end: str) -> float:
    """Equal-weight buy-and-hold return of ``tickers`` from ``start`` to ``end`` (dates),
    computed straight from the CSV: the mean of last close / first close, minus one."""
    df = pd.read_csv(prices)
    df = df[df.ticker.isin(tickers) & (df.date >= start) & (df.date <= end)].sort_values("date")
    g = df.groupby("ticker")["close"]
    return float((g.last() / g.first()).mean() - 1.0)
