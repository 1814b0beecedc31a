"""Use case: evaluate agents (baselines and registered models) on one split of the data.

Every reference is resolved before any agent runs, so a bad name fails fast; then each agent
runs over every ticker and its episodes are averaged (:func:`domain.rl.episodes.mean_metrics`);
an optional chart port draws the equity curves.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import attrs

from application.ports import AgentEvaluator, EquityChart, ResolvedAgent
from domain.rl.episodes import EpisodeMetrics, mean_metrics
from domain.rl.models import RegistryError

__all__ = ["AgentEvaluation", "UnusableAgentError", "evaluate_agents"]


class UnusableAgentError(ValueError):
    """An agent reference that could not be resolved; ``cause`` says why."""

    def __init__(self, ref: str, cause: Exception) -> None:
        super().__init__(f"--agent {ref!r}: {cause}")
        self.ref = ref
        self.cause = cause


@attrs.frozen
class AgentEvaluation:
    """One agent's episodes on the split and their mean metrics."""

    label: str
    fill_at: str
    episodes: tuple[EpisodeMetrics, ...]
    mean: dict[str, float]


def evaluate_agents(
    evaluator: AgentEvaluator,
    refs: Sequence[str],
    *,
    chart: EquityChart | None = None,
    chart_path: str | None = None,
    chart_title: str = "",
    progress: Callable[[str], Callable[[str], None] | None] | None = None,
) -> list[AgentEvaluation]:
    """Run each agent of ``refs`` over the evaluator's split and return the results.

    Parameters
    ----------
    evaluator
        Resolves references and runs agents (:class:`application.ports.AgentEvaluator`).
    refs
        Agent references, in the order the results are returned.
    chart, chart_path, chart_title
        When both ``chart`` and ``chart_path`` are given, the equity curves are drawn there.
    progress
        Given an agent's label, returns a callback told each finished ticker (or ``None``).

    Raises
    ------
    UnusableAgentError
        A reference the evaluator could not resolve (nothing has run yet).
    """
    resolved: list[ResolvedAgent] = []
    for ref in refs:
        try:
            resolved.append(evaluator.resolve(ref))
        except (ValueError, RegistryError) as exc:
            raise UnusableAgentError(ref, exc) from exc
    out: list[AgentEvaluation] = []
    for agent in resolved:
        tick = progress(agent.label) if progress is not None else None
        episodes = tuple(evaluator.run(agent, tick))
        out.append(AgentEvaluation(agent.label, agent.fill_at, episodes, mean_metrics(episodes)))
    if chart is not None and chart_path is not None:
        chart.write({e.label: e.episodes for e in out}, chart_path, chart_title)
    return out
