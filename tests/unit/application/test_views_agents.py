"""The read models of the trade log's headlines, the deployed agents' monitoring, the model
registry and the walk-forward runs, on the in-memory unit of work and registry."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from adapters.memory.signals import ListSignalSource
from adapters.memory.uow import InMemoryWalkForwardRepo
from application import views
from domain.audit import ExecutionRecord
from domain.signal import Signal
from tests.unit.application.test_engine import QUIET, World, buy, day

DROP = (90.0, 90.5, 80.0, 80.5)  # far through any stop: the position closes on it
LOW = (80.0, 81.0, 79.0, 80.0)  # the exit fills at the next open


def _closed_world(*signals: object) -> World:
    w = World(ListSignalSource(list(signals)))  # type: ignore[arg-type]
    w.run({"AAA": [QUIET, QUIET, QUIET, DROP, LOW, LOW],
           "BBB": [QUIET, QUIET, QUIET, DROP, LOW, LOW]})
    return w


def test_trade_log_when_signal_had_a_headline_then_the_trade_shows_it_without_alert_file(
        ) -> None:
    w = _closed_world(
        buy("AAA", day(1), sid="sig-a1", catalyst_score=0.8,
            metadata={"alert_id": "a1", "headline": "AAA beats estimates"}),
        buy("BBB", day(1), sid="s-b"))
    log = {t.ticker: t for t in views.trade_log(w.uow)}
    assert set(log) == {"AAA", "BBB"}, "both positions should have closed on the drop"
    assert (log["AAA"].alert_id, log["AAA"].headline, log["AAA"].catalyst_score) == (
        "a1", "AAA beats estimates", 0.8)
    assert log["BBB"].headline is None and log["BBB"].catalyst_score == 0.0
    assert views.trade_headlines(w.uow) == {"sig-a1": "AAA beats estimates"}
    # an alerts file's headlines fill in only what is not stored
    given = views.trade_log(w.uow, {"a1": "from the file"})
    assert [t.headline for t in given if t.ticker == "AAA"] == ["AAA beats estimates"]


def test_trade_log_when_run_stored_no_headline_then_alert_file_headline_used() -> None:
    w = _closed_world(buy("AAA", day(1), sid="sig-a2", metadata={"alert_id": "a2"}))
    (t,) = views.trade_log(w.uow)
    assert t.headline is None
    (t,) = views.trade_log(w.uow, {"a2": "AAA guides higher"})
    assert t.headline == "AAA guides higher"


def _agent_buy(ref: str, ticker: str) -> Signal:
    """A buy as an agent signs it: ``agent:NAME@VERSION`` and an id that names the version."""
    return Signal(signal_id=f"agent:{ref}:{ticker}:{day(1).isoformat()}", ticker=ticker,
                  action="buy", confidence=0.9, ts=day(1), strategy=f"agent:{ref}")  # type: ignore[arg-type]


def _agent_world() -> World:
    w = _closed_world(_agent_buy("m@1", "AAA"), _agent_buy("m@2", "BBB"))
    with w.uow as u:  # a signal of m@2 the risk policy refused
        u.journal.add_execution(ExecutionRecord(
            ts=day(2), ticker="BBB", action="buy", stage="risk", success=False,
            signal_id=f"agent:m@2:BBB:{day(2).isoformat()}", error_message="too much",
            metadata={"rule": "max_positions"}))
        u.commit()
    return w


def test_agent_activity_when_two_versions_traded_then_orders_refusals_and_pnl_per_version(
        ) -> None:
    w = _agent_world()
    act = views.agent_activity(w.uow)
    closed = {c.strategy: c.realized_pnl for c in views.trades(w.uow)}
    assert set(act) == {"m@1", "m@2"}
    assert (act["m@1"].orders, act["m@1"].closed, dict(act["m@1"].refused)) == (2, 1, {})
    assert act["m@1"].realized_pnl == closed["agent:m@1"] < 0
    assert dict(act["m@2"].refused) == {"max_positions": 1}
    assert act["m@2"].to_json()["realized_pnl"] == str(closed["agent:m@2"])


STATUS = {
    "steps": 6,
    "agents": [{"name": "m", "running": "m@2", "pinned": False, "tickers": ["AAA", "BBB"]}],
    "swaps": [{"agent": "m", "from": "m@1", "to": "m@2", "ts": "2024-01-03T21:00:00+00:00",
               "pause_ms": 0.4}],
    "versions": {
        "m@1": {"ref": "m@1", "actions": {"buy": 1, "hold": 2},
                "action_share": {"buy": 1 / 3, "hold": 2 / 3}, "signals": 1,
                "latency": {"count": 3, "mean_ms": 0.5, "p50_ms": 0.4, "p99_ms": 0.9,
                            "max_ms": 1.0},
                "drift": {"score": 4.5, "feature": "rsi_14", "threshold": 3.0, "window": 3,
                          "warned": True}, "first_ts": "a", "last_ts": "b"},
        "m@2": {"ref": "m@2", "actions": {"buy": 1}, "action_share": {"buy": 1.0},
                "signals": 1, "latency": {"count": 0}, "drift": None},
    },
}


def test_agent_monitor_when_status_and_books_then_joined_per_version() -> None:
    w = _agent_world()
    mon = views.agent_monitor(w.uow, "r1", STATUS)
    assert mon.has_status and mon.steps == 6
    assert mon.agents == (views.DeployedAgent("m", "m@2", False, ("AAA", "BBB")),)
    assert mon.swaps == (views.AgentSwap("m", "m@1", "m@2", "2024-01-03T21:00:00+00:00", 0.4),)
    v1, v2 = mon.versions
    assert (v1.ref, dict(v1.actions), v1.signals, v1.latency_p99_ms) == (
        "m@1", {"buy": 1, "hold": 2}, 1, 0.9)
    assert (v1.drift_score, v1.drift_feature, v1.drift_warned) == (4.5, "rsi_14", True)
    assert v1.activity == views.agent_activity(w.uow)["m@1"]
    assert v2.latency_p50_ms is None and v2.drift_score is None
    assert dict(v2.activity.refused) == {"max_positions": 1}
    assert mon.drift_warnings == (v1,)


def test_agent_monitor_when_no_status_then_books_alone_and_bad_status_names_the_field(
        ) -> None:
    w = _agent_world()
    mon = views.agent_monitor(w.uow, "r1", None)
    assert not mon.has_status and [v.ref for v in mon.versions] == ["m@1", "m@2"]
    assert mon.versions[0].actions == {} and mon.versions[0].activity.orders == 2
    bad = {**STATUS, "versions": {"m@1": {"latency": {"count": 2}}}}
    with pytest.raises(ValueError, match=r"field 'versions.m@1' is malformed"):
        views.agent_monitor(w.uow, "r1", bad)
    with pytest.raises(ValueError, match=r"field 'agents'"):
        views.agent_monitor(w.uow, "r1", {"agents": [{"running": "m@1"}]})


def test_model_versions_when_registered_then_validation_and_verdict_read(tmp_path: Path) -> None:
    from adapters.rl.registry import FileSystemModelRegistry, JsonMetadataStore

    reg = FileSystemModelRegistry(tmp_path, JsonMetadataStore(tmp_path))
    art = tmp_path / "m.zip"
    art.write_bytes(b"x")
    reg.register("m", "ppo", str(art), hyperparams={}, data_hash="h" * 20, env_config={},
                 seed=3, library_versions={}, metrics={
                     "validation": {"sharpe": 1.5, "total_return": 0.12},
                     "buy_and_hold_validation": {"total_return": 0.08},
                     "quality": {"beats_buy_and_hold": True, "beats_random": False,
                                 "warnings": ["short training"]}, "note": "x"})
    reg.register("m", "ppo", str(art), hyperparams={}, data_hash="h", env_config={}, seed=4,
                 library_versions={}, metrics={"sharpe": 0.3})
    reg.promote("m", 2)
    v1, v2 = views.model_versions(reg)
    assert (v1.ref, v1.val_sharpe, v1.val_return, v1.buy_and_hold_return) == (
        "m@1", 1.5, 0.12, 0.08)
    assert (v1.beats_buy_and_hold, v1.beats_random, v1.warnings) == (
        True, False, ("short training",))
    assert dict(v1.scalars) == {"note": "x"}
    assert (v2.status, v2.val_sharpe, v2.beats_random, dict(v2.scalars)) == (
        "production", None, None, {"sharpe": 0.3})


def test_walk_forward_runs_when_stored_then_aggregate_read_and_kind_filtered() -> None:
    repo = InMemoryWalkForwardRepo()
    report = {"aggregate": {"windows": 3, "oos_total_return": 0.1, "oos_sharpe": 0.9,
                            "oos_max_drawdown": -0.05, "bh_total_return": 0.2,
                            "share_beating_buy_and_hold": 1 / 3,
                            "share_beating_random": 2 / 3},
              "deflated_sharpe": {"dsr": 0.4}, "pbo": {"pbo": 0.25}, "windows": [],
              "n_trials": 4}
    repo.save("k-rl", "rl", {"algo": "ppo"}, report)
    repo.save("k-st", "strategy", {}, {**report, "pbo": None})
    (rl,) = views.walk_forward_runs(repo, kind="rl")
    assert (rl.run_key, rl.algo, rl.windows, rl.oos_sharpe, rl.deflated_sharpe, rl.pbo) == (
        "k-rl", "ppo", 3, 0.9, 0.4, 0.25)
    assert {w.run_key for w in views.walk_forward_runs(repo)} == {"k-rl", "k-st"}
    assert [w.pbo for w in views.walk_forward_runs(repo, kind="strategy")] == [None]


def test_agent_activity_when_version_still_holds_then_open_and_unrealized_pnl_counted(
        ) -> None:
    w = World(ListSignalSource([_agent_buy("m@3", "AAA")]))
    w.run({"AAA": [QUIET, QUIET, (102.0, 103.0, 101.0, 102.5), QUIET]})
    (pos,) = views.positions(w.uow)
    act = views.agent_activity(w.uow)["m@3"]
    assert (act.orders, act.closed, act.open) == (1, 0, 1)
    assert act.unrealized_pnl == pos.unrealized_pnl != 0
    assert act.to_json()["unrealized_pnl"] == str(pos.unrealized_pnl)


def test_agent_activity_when_no_agent_then_empty() -> None:
    w = _closed_world(buy("AAA", day(1)))
    assert views.agent_activity(w.uow) == {}
    assert views.agent_monitor(w.uow, "r1", None).versions == ()
    assert Decimal(0) == sum((a.realized_pnl for a in views.agent_activity(w.uow).values()),
                             Decimal(0))
