"""A tiny registered PPO agent for the tests that deploy one (backtest, live, dashboard).

:func:`register_tiny_agent` trains a PPO policy for a few hundred timesteps on the bundled
features and registers it (one or more versions) in a JSON-metadata registry of its own. A
policy trained this briefly holds everything, so its own weights are then set to a simple
deterministic rule that trades often: action = tanh(3 tanh(50 x the last bar's return)) --
buy up days, sell down days. The tests are about the wiring, not about the policy's skill.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from domain.market import Bar

__all__ = ["Recorder", "first_minute_stream", "register_tiny_agent"]


class Recorder:
    """Stands in for the agents' source: the warm-up bars and each observed step's bars."""

    def __init__(self) -> None:
        self.warm: list[Bar] = []
        self.steps: list[dict[str, Bar]] = []

    def warm_up(self, bars: Sequence[Bar]) -> None:
        self.warm.extend(bars)

    def observe(self, bars: Mapping[str, Bar]) -> None:
        self.steps.append(dict(bars))


def register_tiny_agent(d: Path, name: str = "msft", *, seeds: Sequence[int] = (5, 6),
                        promote: int | None = 1,
                        metrics: Mapping[str, object] | None = None,
                        folder: str = "models") -> Path:
    """Train the tiny policy into ``d/model.zip`` and register it under ``name`` once per
    seed (versions 1, 2, ...) in the registry ``d/<folder>``; promote version ``promote``
    (None: none). ``metrics`` are recorded with each version. Return the registry's root
    (``CATALYST_MODELS``)."""
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
    root = d / folder
    reg = FileSystemModelRegistry(root, JsonMetadataStore(root))
    for seed in seeds:
        reg.register(name, "ppo", str(d / "model.zip"), hyperparams={}, data_hash="x",
                     env_config=env_config_json(cfg), seed=seed,
                     library_versions=library_versions(), metrics=dict(metrics or {}))
    if promote is not None:
        reg.promote(name, promote)
    return root


def first_minute_stream(daily: Sequence[Any], volume: float = 100.0) -> list[Any]:
    """Return the loopback server's replay bars (``HistoryBar``) as a live feed serves a
    session: a first-minute bar at the session's open (open = high = low = close = the day's
    open, ``volume``), then the rest of the session at its close (the day's high, low and
    close, the rest of its volume). The server's daily bar of a session (the two summed) is
    the day's bar; its latest bar during the session is the first minute's."""
    import attrs

    from adapters.alpaca_server.replay import session_open_before

    out = []
    for b in daily:
        if not b.volume > volume:
            raise ValueError(f"{b.ticker} {b.ts}: volume {b.volume} is not above {volume}")
        out.append(attrs.evolve(b, ts=session_open_before(b.ts), high=b.open, low=b.open,
                                close=b.open, volume=volume))
        out.append(attrs.evolve(b, volume=b.volume - volume))
    out.sort(key=lambda b: (b.ts, b.ticker))
    return out
