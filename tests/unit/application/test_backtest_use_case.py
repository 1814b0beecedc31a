"""The replay use case on fakes: it runs the engine, reports each step and counts resumes."""

from __future__ import annotations

from adapters.memory.signals import ListSignalSource
from application.backtest import run_replay
from application.engine import MarketStep
from tests.unit.application.test_engine import Market, World, buy, day, quiet


def test_run_replay_when_steps_then_each_reported_once_and_nothing_resumed() -> None:
    w = World(ListSignalSource([buy("AAA", day(1))]))
    seen: list[MarketStep] = []
    market = Market(w, {"AAA": quiet(4)})
    outcome = run_replay(w.engine, market, w.risk, auto_resume=True, on_step=seen.append)
    assert outcome.result.status == "finished" and outcome.result.steps == len(seen) == 4
    assert [s.ts for s in seen] == [day(i) for i in range(4)]
    assert outcome.auto_resumes == 0 and outcome.result.orders == 1


def test_run_replay_when_kill_switch_set_then_halted_and_never_auto_resumed() -> None:
    w = World(ListSignalSource([buy("AAA", day(1))]), kill_flag=lambda: True)
    outcome = run_replay(w.engine, Market(w, {"AAA": quiet(3)}), w.risk, auto_resume=True)
    assert outcome.auto_resumes == 0 and outcome.result.orders == 0
    assert w.risk.current().killed
