"""The evaluate-agents use case on a fake evaluator and a fake chart."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import attrs
import pytest

from application.evaluation import UnusableAgentError, evaluate_agents
from application.ports import ResolvedAgent
from domain.rl.episodes import EpisodeMetrics
from domain.rl.models import IncompatibleEnvConfigError, ModelNotFoundError


def _episode(ticker: str, ret: float, sharpe: float) -> EpisodeMetrics:
    return EpisodeMetrics(ticker, "2024-01-02", "2024-06-28", 100, ret, ret * 2, 0.2, sharpe,
                          sharpe, -0.1, 3, 1.5, 100_000 * (1 + ret), 0.0,
                          ("2024-01-02", "2024-06-28"), (100_000.0, 100_000 * (1 + ret)))


@attrs.frozen
class Agent:
    label: str
    fill_at: str = "next_open"


class FakeEvaluator:
    def __init__(self, returns: Mapping[str, Sequence[float]]) -> None:
        self.returns = returns
        self.runs: list[str] = []

    def resolve(self, ref: str) -> ResolvedAgent:
        if ref == "incompatible":
            raise IncompatibleEnvConfigError("m@1 was trained with fill_at: trained 'x'")
        if ref not in self.returns:
            raise ModelNotFoundError(ref)
        return Agent(ref)

    def run(self, agent: ResolvedAgent,
            on_ticker: Callable[[str], None] | None = None) -> Sequence[EpisodeMetrics]:
        self.runs.append(agent.label)
        out = []
        for i, r in enumerate(self.returns[agent.label]):
            out.append(_episode(f"T{i}", r, r * 10))
            if on_ticker is not None:
                on_ticker(f"T{i}")
        return out


class FakeChart:
    def __init__(self) -> None:
        self.calls: list[tuple[list[str], str, str]] = []

    def write(self, results: Mapping[str, Sequence[EpisodeMetrics]], path: str,
              title: str) -> None:
        self.calls.append((list(results), path, title))


def test_evaluate_when_two_agents_then_means_in_order_progress_and_chart() -> None:
    ev = FakeEvaluator({"random": [0.1, -0.1], "m@2": [0.2, 0.4]})
    ticks: list[tuple[str, str]] = []
    chart = FakeChart()
    got = evaluate_agents(ev, ["m@2", "random"], chart=chart, chart_path="p.png",
                          chart_title="t",
                          progress=lambda label: lambda t: ticks.append((label, t)))
    assert [e.label for e in got] == ["m@2", "random"]
    assert got[0].mean["total_return"] == pytest.approx(0.3)
    assert got[1].mean["sharpe"] == pytest.approx(0.0)
    assert len(got[0].episodes) == 2 and got[0].fill_at == "next_open"
    assert ticks == [("m@2", "T0"), ("m@2", "T1"), ("random", "T0"), ("random", "T1")]
    assert chart.calls == [(["m@2", "random"], "p.png", "t")]


def test_evaluate_when_no_chart_path_then_nothing_drawn() -> None:
    chart = FakeChart()
    evaluate_agents(FakeEvaluator({"random": [0.0]}), ["random"], chart=chart)
    assert chart.calls == []


@pytest.mark.parametrize("bad", ["nope", "incompatible"])
def test_evaluate_when_an_agent_is_unusable_then_nothing_runs(bad: str) -> None:
    ev = FakeEvaluator({"random": [0.1]})
    with pytest.raises(UnusableAgentError, match=f"--agent '{bad}'") as info:
        evaluate_agents(ev, ["random", bad])
    assert info.value.ref == bad and ev.runs == []
    if bad == "incompatible":
        assert isinstance(info.value.cause, IncompatibleEnvConfigError)
