"""SignalSource contract (:class:`application.ports.SignalSource`): numbered cases SS-...

A signal source returns, on each ``poll(now)``, the signals that became known at or before
``now`` and were not returned before. Implementations:

* ``list`` -- :class:`ListSignalSource`, the in-memory fake;
* ``alerts`` -- :class:`AlertSignalSource`: a JSONL alert file routed by :class:`SignalRouter`;
* ``strategy`` -- the engine's :class:`StrategySignalSource` over a bar strategy (it sees each
  step's bars through ``observe`` before the poll, as the engine does);
* ``replay-strategy`` -- the array replay's :class:`StrategySignalSource` (``feed`` per step).

Each harness is given the same plan -- which ticker should signal which action at which time
-- and produces it its own way; the suite checks what comes out of ``poll``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from adapters.memory.signals import ListSignalSource
from adapters.simulated import ExchangeConfig, SimulatedExchange
from adapters.simulated.replay import BarView, StrategyContext
from adapters.simulated.replay import StrategySignalSource as ReplayStrategySource
from adapters.simulated.sessions import dt_from_ns, ns_from_dt
from adapters.sources.files import AlertFileFeed
from application.engine import StrategySignalSource
from application.ports import SignalSource
from application.router import AlertSignalSource, RouterConfig, SignalRouter
from domain.clock import TestClock
from domain.market import Bar
from domain.signal import Signal
from domain.values import Action

T0 = datetime(2024, 1, 2, 21, tzinfo=UTC)
DAY = timedelta(days=1)
STEPS = [T0 + i * DAY for i in range(6)]

#: (ticker, step index, action): what every source is made to produce
PLAN = [("AAPL", 1, "buy"), ("MSFT", 1, "sell"), ("AAPL", 3, "sell"), ("NVDA", 4, "buy")]


def _signal(ticker: str, ts: datetime, action: str, strategy: str) -> Signal:
    return Signal(signal_id=f"{strategy}-{ticker}-{ts:%Y%m%d}", ticker=ticker, action=action,
                  confidence=0.9, ts=ts, strategy=strategy)


class Harness:
    """A source made to produce :data:`PLAN`; :meth:`reach` shows it the market up to ``now``."""

    stateful = False

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.source: SignalSource = self.build()
        self._seen = 0

    def build(self) -> SignalSource:
        raise NotImplementedError

    def observe(self, ts: datetime) -> None:
        """Show the source the step at ``ts`` (strategies only)."""

    def reach(self, now: datetime) -> None:
        while self._seen < len(STEPS) and STEPS[self._seen] <= now:
            self.observe(STEPS[self._seen])
            self._seen += 1

    def poll(self, now: datetime) -> Sequence[Signal]:
        self.reach(now)
        return self.source.poll(now)


class ListHarness(Harness):
    def build(self) -> SignalSource:
        return ListSignalSource([_signal(t, STEPS[i], a, "list") for t, i, a in PLAN])


class AlertsHarness(Harness):
    stateful = True

    def build(self) -> SignalSource:
        path = self.tmp / "alerts.jsonl"
        if not path.exists():
            rows = [{"id": f"{t}-{i}", "ticker": t, "known_at": STEPS[i].isoformat(),
                     "catalyst_type": "earnings", "score": 0.9,
                     "sentiment": 1.0 if a == "buy" else -1.0} for t, i, a in PLAN]
            path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        return AlertSignalSource(AlertFileFeed(path),
                                 SignalRouter(RouterConfig(cooldown=timedelta(0))))


def _bars(ts: datetime) -> dict[str, Bar]:
    return {t: Bar(t, ts, 100.0, 101.0, 99.0, 100.0, 1e6) for t in ("AAPL", "MSFT", "NVDA")}


def _wanted(ticker: str, ts: datetime) -> str | None:
    return next((a for t, i, a in PLAN if t == ticker and STEPS[i] == ts), None)


class StrategyHarness(Harness):
    def build(self) -> SignalSource:
        def strategy(bar: Bar) -> Iterable[Signal]:
            a = _wanted(bar.ticker, bar.ts)
            return [_signal(bar.ticker, bar.ts, a, "strategy")] if a else []

        self._src = StrategySignalSource(strategy)
        return self._src

    def observe(self, ts: datetime) -> None:
        self._src.observe(_bars(ts))


class ReplayStrategyHarness(Harness):
    def build(self) -> SignalSource:
        def strategy(view: BarView, ctx: StrategyContext) -> list[Signal] | None:
            ts = dt_from_ns(view.ts_ns)
            a = _wanted(view.ticker, ts)
            return [_signal(view.ticker, ts, a, "replay")] if a else None

        exchange = SimulatedExchange(ExchangeConfig(starting_cash=Decimal(100_000)),
                                     clock=TestClock(T0 - DAY))
        self._src = ReplayStrategySource(strategy, exchange, "replay")
        return self._src

    def observe(self, ts: datetime) -> None:
        rows = [(b.ticker, b.open, b.high, b.low, b.close, b.volume) for b in _bars(ts).values()]
        self._src.feed(ns_from_dt(ts), rows)


HARNESSES: dict[str, type[Harness]] = {
    "list": ListHarness, "alerts": AlertsHarness, "strategy": StrategyHarness,
    "replay-strategy": ReplayStrategyHarness,
}


@pytest.fixture(params=sorted(HARNESSES))
def h(request: pytest.FixtureRequest, tmp_path: Path) -> Harness:
    return HARNESSES[request.param](tmp_path)


def _what(signals: Iterable[Signal]) -> list[tuple[str, datetime, Action]]:
    return sorted((s.ticker, s.ts, s.action) for s in signals)


def _plan(*steps: int) -> list[tuple[str, datetime, Action]]:
    return sorted((t, STEPS[i], Action(a)) for t, i, a in PLAN if i in steps)


def test_ss01_poll_returns_what_became_known_by_now(h: Harness) -> None:
    assert list(h.poll(STEPS[0])) == []
    assert _what(h.poll(STEPS[1])) == _plan(1)
    assert _what(h.poll(STEPS[4])) == _plan(3, 4)


def test_ss02_each_signal_is_returned_once(h: Harness) -> None:
    first = _what(h.poll(STEPS[1]))
    assert first == _plan(1)
    assert list(h.poll(STEPS[1])) == []
    assert list(h.poll(STEPS[2])) == []
    rest = [s for now in STEPS[3:] for s in h.poll(now)]
    assert _what(rest) == _plan(3, 4)
    assert list(h.poll(STEPS[-1] + DAY)) == []


def test_ss03_signals_are_valid_and_their_ids_unique_and_deterministic(
    h: Harness, tmp_path: Path,
) -> None:
    got = [s for now in STEPS for s in h.poll(now)]
    assert len(got) == len(PLAN)
    assert len({s.signal_id for s in got}) == len(got)
    for s in got:
        assert s.ts.utcoffset() == timedelta(0) and 0.0 <= s.confidence <= 1.0
    again = type(h)(tmp_path)  # the same input gives the same ids (client order ids follow)
    assert sorted(s.signal_id for now in STEPS for s in again.poll(now)) == sorted(
        s.signal_id for s in got)


def test_ss04_a_signal_is_never_returned_before_its_time(h: Harness) -> None:
    for now in STEPS:
        for s in h.poll(now):
            assert s.ts <= now


@pytest.mark.parametrize("kind", sorted(k for k, v in HARNESSES.items() if v.stateful))
def test_ss05_a_stateful_source_resumed_from_its_state_skips_what_it_returned(
    kind: str, tmp_path: Path,
) -> None:
    first = HARNESSES[kind](tmp_path)
    assert _what(first.poll(STEPS[1])) == _plan(1)
    state: Any = first.source.dump_state()  # type: ignore[attr-defined]
    second = HARNESSES[kind](tmp_path)
    second.source.load_state(state)  # type: ignore[attr-defined]
    rest = [s for now in STEPS for s in second.poll(now)]
    assert _what(rest) == _plan(3, 4)
