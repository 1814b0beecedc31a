"""The :class:`application.ports.AgentEvaluator` port over a feature panel and a registry.

Baselines (``random``, ``buy-and-hold``) run in an env built from the overrides; a registered
model runs in its own env config with the overrides applied, after checking that the two are
compatible (:func:`domain.rl.models.check_env_config`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from adapters.rl.agents import env_config_from_json, env_config_json, load_agent, run_episodes
from adapters.rl.env import EnvConfig
from adapters.rl.evaluate import Agent, BuyAndHoldAgent, RandomAgent
from application.ports import ModelRegistry, ResolvedAgent
from domain.market_data.features import TickerFeatures
from domain.rl.episodes import EpisodeMetrics
from domain.rl.models import check_env_config, parse_model_ref

__all__ = ["BASELINES", "PanelAgentEvaluator"]

BASELINES = ("random", "buy-and-hold")


@attrs.frozen
class _Resolved:
    label: str
    agent: Agent
    config: EnvConfig

    @property
    def fill_at(self) -> str:
        return self.config.fill_at


class PanelAgentEvaluator:
    """Resolve and run agents over every ticker of ``panel``.

    Parameters
    ----------
    panel
        The split to run on.
    registry
        Returns the model registry, opened only when a model is asked for.
    overrides
        ``EnvConfig`` fields to apply (e.g. ``fill_at``, ``initial_balance``).
    seed
        Seed of the random agent.
    """

    def __init__(
        self,
        panel: Mapping[str, TickerFeatures],
        registry: Callable[[], ModelRegistry],
        overrides: Mapping[str, Any] | None = None,
        seed: int = 0,
    ) -> None:
        self.panel = panel
        self._open_registry = registry
        self._registry: ModelRegistry | None = None
        self.overrides = dict(overrides or {})
        self.seed = seed

    def resolve(self, ref: str) -> ResolvedAgent:
        """Return the baseline or registered model named ``ref``."""
        if ref in BASELINES:
            base: Agent = RandomAgent(self.seed) if ref == "random" else BuyAndHoldAgent()
            return _Resolved(ref, base, EnvConfig(**self.overrides))
        if self._registry is None:
            self._registry = self._open_registry()
        name, version = parse_model_ref(ref)
        mv = self._registry.get(name, version)
        cfg = attrs.evolve(env_config_from_json(mv.env_config), **self.overrides)
        check_env_config(mv, env_config_json(cfg))
        agent, mv = load_agent(self._registry, mv.ref, cfg)
        return _Resolved(mv.ref, agent, cfg)

    def run(
        self, agent: ResolvedAgent, on_ticker: Callable[[str], None] | None = None
    ) -> Sequence[EpisodeMetrics]:
        """Run a resolved agent over every ticker of the panel."""
        if not isinstance(agent, _Resolved):
            raise TypeError(f"not an agent resolved by this evaluator: {agent!r}")
        return run_episodes(self.panel, agent.agent, agent.config, progress=on_ticker)
