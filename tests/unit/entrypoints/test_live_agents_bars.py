"""The agents on a live feed get one bar per ticker and session, and the benchmark all of them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from application.agents import AgentSignalSource
from domain.market import Bar
from entrypoints.cli.agents import LiveBenchmark, _BenchmarkedAgents

CLOSE = datetime(2024, 3, 4, 21, tzinfo=UTC)  # a Monday's close (16:00 New York)


class Recorder:
    """Stands in for the agents' source: records what reaches it."""

    def __init__(self) -> None:
        self.warmed: list[Bar] = []
        self.steps: list[list[Bar]] = []

    def warm_up(self, bars: Sequence[Bar]) -> None:
        self.warmed.extend(bars)

    def observe(self, bars: Mapping[str, Bar]) -> None:
        self.steps.append(list(bars.values()))


def bar(ts: datetime, close: float = 100.0, ticker: str = "AAPL") -> Bar:
    return Bar(ticker, ts, close, close, close, close, 1e6)


def _wrap() -> tuple[_BenchmarkedAgents, Recorder, LiveBenchmark]:
    rec, bench = Recorder(), LiveBenchmark()
    return _BenchmarkedAgents(cast(AgentSignalSource, rec), bench), rec, bench


def test_first_step_repeating_the_history_last_bar_then_passed_on() -> None:
    agents, rec, _ = _wrap()
    history = [bar(CLOSE - timedelta(days=i)) for i in (3, 1, 0)]
    agents.warm_up(history)
    agents.observe({"AAPL": history[-1]})  # the latest bar is the history's last
    agents.observe({"AAPL": history[0]})  # an older session: dropped
    # the agents' source decides the repeated bar once (the end-to-end test counts it)
    assert rec.warmed == sorted(history, key=lambda b: b.ts)
    assert rec.steps == [[history[-1]], []]


def test_intraday_bar_of_a_session_already_seen_then_dropped() -> None:
    agents, rec, _ = _wrap()
    agents.observe({"AAPL": bar(CLOSE - timedelta(hours=5))})  # Monday 11:00 New York
    agents.observe({"AAPL": bar(CLOSE - timedelta(hours=4))})  # Monday 12:00: same session
    agents.observe({"AAPL": bar(CLOSE + timedelta(days=1))})  # Tuesday
    assert [[b.ts for b in s] for s in rec.steps] == [
        [CLOSE - timedelta(hours=5)], [], [CLOSE + timedelta(days=1)]]


def test_benchmark_when_two_tickers_then_equal_weighted_returns() -> None:
    agents, _, bench = _wrap()
    agents.warm_up([bar(CLOSE, 100.0, "AAPL"), bar(CLOSE, 50.0, "MSFT"),
                    bar(CLOSE + timedelta(days=1), 110.0, "AAPL"),
                    bar(CLOSE + timedelta(days=1), 45.0, "MSFT")])
    from adapters.rl.inference import session_date

    d0, d1 = session_date(CLOSE), session_date(CLOSE + timedelta(days=1))
    level: Any = bench(d1) / bench(d0)
    assert abs(level - 1.0) < 1e-12  # +10 % and -10 %: the index is flat
