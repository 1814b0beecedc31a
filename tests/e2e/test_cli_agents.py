"""``catalyst backtest --agent``: a registered model trades through the executor and risk.

A tiny PPO model (a few hundred timesteps) is registered in a temporary registry; the test is
about the wiring: every order records ``agent:NAME@VERSION``, refusals are the executor's,
the status file is written and ``catalyst rl status`` reads it, bad input exits 2.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import cast
from zoneinfo import ZoneInfo

import pytest
from trading_cli_support import _environment, catalyst, make_small_data

from adapters.simulated.sessions import dt_from_ns
from application.ports import UnitOfWork
from entrypoints.cli.container import get_container
from tests.agent_support import register_tiny_agent

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    tmp = tmp_path_factory.mktemp("agents_cli")
    data = make_small_data(tmp)
    root = register_tiny_agent(tmp, "msft")
    env = {"CATALYST_MODELS": str(root), "CATALYST_MODELS_DB": "none"}
    return data, env


def _uow(db: Path) -> UnitOfWork:
    from adapters.sqlalchemy import make_engine, sql_uow_factory

    return cast(UnitOfWork, sql_uow_factory(make_engine(f"sqlite:///{db}"), run_id="backtest")())


def test_backtest_with_an_agent_trades_through_risk_and_records_the_version(
    setup: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    data, env = setup
    r = catalyst(["backtest", "--data", str(data / "prices.csv"), "--alerts",
                  str(data / "alerts.jsonl"), "--agent", "msft:MSFT,AAPL", "--threshold",
                  "0.1", "--json", "--no-progress"], tmp_path, env)
    assert r.exit_code == 0, r.output[-3000:]
    with _uow(tmp_path / "var" / "backtest.db") as u:
        orders = u.orders.list()
        executions = u.journal.executions()
    assert orders, "the agent placed no order"
    assert {o.ticker for o in orders} <= {"MSFT", "AAPL"}
    assert {o.request.strategy for o in orders} == {"agent:msft@1"}
    # every agent signal went through the executor's intake (validate/size/risk/submit rows)
    assert all(e.signal_id.startswith("agent:msft@1:") for e in executions if e.signal_id)
    status = json.loads((tmp_path / "var" / "agents" / "backtest.json").read_text())
    assert status["agents"][0]["running"] == "msft@1"
    mon = status["versions"]["msft@1"]
    assert sum(mon["actions"].values()) > 0
    assert mon["latency"]["count"] == sum(mon["actions"].values())

    o = catalyst(["orders", "--json", "--db", f"sqlite:///{tmp_path}/var/backtest.db",
                  "--run", "backtest"], tmp_path, env)
    assert o.exit_code == 0, o.output[-3000:]
    listed = json.loads(o.stdout)
    rows = listed if isinstance(listed, list) else listed.get("rows", listed.get("orders"))
    assert rows and {r["source"] for r in rows} == {"agent:msft@1"}

    s = catalyst(["rl", "status", "--json", "--db", f"sqlite:///{tmp_path}/var/backtest.db",
                  "--run", "backtest"], tmp_path, env)
    assert s.exit_code == 0, s.output[-3000:]
    got = json.loads(s.stdout)
    v = got["versions"]["msft@1"]
    assert v["orders"] == len(orders)
    with _uow(tmp_path / "var" / "backtest.db") as u:
        closed = [c for c in u.positions.list_closed() if c.strategy == "agent:msft@1"]
        refused = [e for e in u.journal.executions() if e.stage == "risk" and not e.success]
    assert v["closed"] == len(closed)
    assert Decimal(v["realized_pnl"]) == sum((c.realized_pnl for c in closed), Decimal(0))
    assert sum(v["refused"].values()) == len(refused) > 0


@pytest.mark.parametrize(("spec", "expected"), [
    ("msft@x", "version must be a positive integer; expected NAME[@VERSION][:TICKER,...]"),
    ("nosuch", "no model named 'nosuch'"),
    ("msft:ZZZZ", "ZZZZ not in the data"),
])
def test_bad_agent_exits_2_naming_it(setup: tuple[Path, dict[str, str]], tmp_path: Path,
                                     spec: str, expected: str) -> None:
    data, env = setup
    r = catalyst(["backtest", "--data", str(data / "prices.csv"), "--agent", spec, "--json",
                  "--no-progress"], tmp_path, env)
    assert r.exit_code == 2
    assert expected in " ".join(r.stderr.split())


def test_promotion_while_running_swaps_between_bars_and_keeps_positions(
    setup: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    from adapters.rl.registry import FileSystemModelRegistry, JsonMetadataStore
    from application.agents import AgentSignalSource
    from application.engine import MarketStep
    from entrypoints.cli.trading_options import cost_model
    from entrypoints.cli.trading_session import Session

    data, env = setup
    reg = FileSystemModelRegistry(Path(env["CATALYST_MODELS"]),
                                  JsonMetadataStore(Path(env["CATALYST_MODELS"])))
    with _environment(tmp_path, env):
        session = Session(data=data / "prices.csv", alerts=str(data / "alerts.jsonl"),
                          strategy=None, db_url=f"sqlite:///{tmp_path}/run.db", kind="run",
                          run_id="swap", speed=0.0, cash=Decimal(100_000), threshold=0.1,
                          sizing="confidence", max_hold_days=14.0, issue_sink=None,
                          reconcile_steps=20, costs=cost_model(get_container().core.settings()),
                          container=get_container(), agents=["msft:MSFT,AAPL"])
        source = session.source
        assert isinstance(source, AgentSignalSource)
        seen: list[tuple[str, str, int]] = []
        promote_at = 200

        def on_step(step: MarketStep) -> None:
            with session.uow as u:
                held = len(u.positions.list_open())
            seen.append((step.ts.isoformat(), source.versions()["msft"], held))
            if len(seen) == promote_at:
                reg.promote("msft", 2)

        session.engine.on_step = on_step
        try:
            result = session.engine.run(session.driver)
        finally:
            reg.rollback("msft")
        with session.uow as u:
            orders = u.orders.list()
            executions = u.journal.executions()
    steps = [dt_from_ns(int(ns)) for ns in session.data.step_ts]
    # no bar skipped: the engine stepped every timestamp of the data, in order
    assert result.steps == len(steps) == len(seen)
    assert [s[0] for s in seen] == [t.isoformat() for t in steps]
    refs = [s[1] for s in seen]
    swap = refs.index("msft@2")
    assert swap >= promote_at and refs[:swap] == ["msft@1"] * swap
    assert refs[swap:] == ["msft@2"] * (len(refs) - swap)
    assert [(w["from"], w["to"], w["ts"]) for w in source.swaps] == [
        ("msft@1", "msft@2", seen[swap][0])]
    entries = [o for o in orders if not o.request.reduce_only and o.request.signal_id
               and o.request.signal_id.startswith("agent:")]
    by_version = {o.request.strategy for o in entries}
    assert by_version <= {"agent:msft@1", "agent:msft@2"}
    # both versions' signals went through the executor (and its risk check: this run's
    # breaker latches after five losses, so the later entries are refused there)
    tried = {(e.signal_id or "").split(":")[1] for e in executions
             if (e.signal_id or "").startswith("agent:")}
    assert tried == {"msft@1", "msft@2"}
    # an entry order per signal at most: nothing doubled across the swap
    ids = [o.request.signal_id for o in entries]
    assert len(ids) == len(set(ids))
    # the swap closes nothing: what was held before the swap bar is still held after it,
    # unless an exit rule of the position fired on that bar
    before, after = seen[swap - 1][2], seen[swap][2]
    with session.uow as u:
        closed_on_swap = [c for c in u.positions.list_closed()
                          if c.closed_at.isoformat() == seen[swap][0]]
    assert after >= before - len(closed_on_swap)


def test_backtest_and_the_env_agree_up_to_the_first_trade(
    setup: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    """Where their rules are the same -- a flat account of the same cash, the same
    observation, next-open fills with the same costs -- the engine with ``--agent`` and the
    environment of ``rl evaluate`` take the same actions and make the same first trade (bar,
    side, fill price). After it they part by design (docs/rl.md, "Differences from rl
    evaluate"): the engine sizes whole shares by ``--sizing`` and adds the plan's exits, the
    environment spends the fraction ``a`` of its cash; the account features then differ."""
    import pandas as pd

    from adapters.data.alerts import read_alerts
    from adapters.data.features import build_features, feature_panel
    from adapters.data.ohlcv import load_ohlcv
    from adapters.data.sample import sample_paths
    from adapters.rl.agents import load_agent
    from adapters.rl.env import CatalystTradingEnv, EnvConfig
    from adapters.rl.registry import FileSystemModelRegistry, JsonMetadataStore
    from entrypoints.cli.trading_options import cost_model
    from entrypoints.cli.trading_session import Session

    data, env = setup
    prices = pd.read_csv(sample_paths().prices)
    prices = prices[prices.ticker == "KO"]
    prices.to_csv(tmp_path / "ko.csv", index=False)
    alerts = read_alerts(data / "alerts.jsonl")
    feats = build_features(load_ohlcv(tmp_path / "ko.csv"), alerts)
    panel = feature_panel(feats)["KO"]
    reg = FileSystemModelRegistry(Path(env["CATALYST_MODELS"]),
                                  JsonMetadataStore(Path(env["CATALYST_MODELS"])))
    agent, _ = load_agent(reg, "msft@1")
    e = CatalystTradingEnv(panel, EnvConfig())
    o, _ = e.reset(options={"ticker": "KO", "start": 0})
    env_actions: list[float] = []
    first_env: tuple[str, str, float] | None = None
    while first_env is None:
        a = agent.act(o)
        env_actions.append(float(a[0]))
        t = e.bar_index
        o, _, term, _, info = e.step(a)
        if "fill_price" in info:
            first_env = (str(panel.dates[t])[:10], "buy" if a[0] > 0 else "sell",
                         info["fill_price"])
        assert not term

    with _environment(tmp_path, env):
        session = Session(data=tmp_path / "ko.csv", alerts=str(data / "alerts.jsonl"),
                          strategy=None, db_url=f"sqlite:///{tmp_path}/parity.db",
                          kind="backtest", run_id="parity", speed=0.0, cash=Decimal(100_000),
                          threshold=0.0, sizing="fixed", max_hold_days=14.0, issue_sink=None,
                          costs=cost_model(get_container().core.settings()),
                          container=get_container(), agents=["msft@1:KO"])
        session.engine.run(session.driver)
        with session.uow as u:
            orders = sorted(u.orders.list(), key=lambda o: o.created_at)
            first = orders[0]
            fill = u.fills.for_order(first.client_order_id)[0]
            # the submit stage records the signal (the persist stage before it does not)
            tried = [x for x in u.journal.executions() if x.signal_id and x.stage == "submit"]
    assert first_env is not None
    ny = first.created_at.astimezone(ZoneInfo("America/New_York")).date().isoformat()
    assert (ny, first.side.value) == first_env[:2]
    assert fill.price == Decimal(repr(first_env[2]))
    # no signal before that bar (the env's actions there bought nothing either), and the
    # first signal's confidence is the env's action at that bar
    assert tried[0].ts == first.created_at
    assert tried[0].signal_confidence == abs(env_actions[-1])


def test_a_resumed_run_decides_as_an_uninterrupted_one(
    setup: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    """Stopped and started again with the same run id, the agents' observations are rebuilt
    from the bars before the stop, so every later signal equals the uninterrupted run's."""
    from application.engine import MarketStep
    from entrypoints.cli.trading_options import cost_model
    from entrypoints.cli.trading_session import Session

    data, env = setup

    def session(db: str) -> Session:
        return Session(data=data / "prices.csv", alerts=str(data / "alerts.jsonl"),
                       strategy=None, db_url=f"sqlite:///{tmp_path}/{db}", kind="run",
                       run_id="agents", speed=0.0, cash=Decimal(100_000), threshold=0.1,
                       sizing="fixed", max_hold_days=14.0, issue_sink=None,
                       reconcile_steps=20, costs=cost_model(get_container().core.settings()),
                          container=get_container(), agents=["msft@1:MSFT,AAPL"])

    def signals(s: Session) -> list[tuple[str, float]]:
        with s.uow as u:
            rows = u.journal.executions()
        firsts: dict[str, float] = {}
        for r in rows:
            if r.signal_id and r.signal_id.startswith("agent:"):
                firsts.setdefault(r.signal_id, r.signal_confidence or 0.0)
        return sorted(firsts.items())

    with _environment(tmp_path, env):
        whole = session("whole.db")
        whole.engine.run(whole.driver)
        first = session("resumed.db")
        steps: list[MarketStep] = []

        def stop_at_150(step: MarketStep) -> None:
            steps.append(step)
            if len(steps) == 150:
                first.engine.request_stop()

        first.engine.on_step = stop_at_150
        assert first.engine.run(first.driver).status == "interrupted"
        again = session("resumed.db")
        result = again.engine.run(again.driver, on_resume=again._restore)
        assert result.resumed_from == steps[-1].ts
    want = signals(whole)
    assert len(want) > 20
    assert signals(again) == want


def test_rl_status_without_agents_exits_2_saying_how_to_start_them(
    setup: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    r = catalyst(["rl", "status", "--run", "nosuch"], tmp_path, setup[1])
    assert r.exit_code == 2
    assert "no agent status at" in " ".join(r.stderr.split())
    assert "--agent" in r.stderr


def test_agents_trade_on_the_bars_the_replay_serves_not_on_a_bad_one(
    setup: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    """A file with a bad bar (a close above the high, quarantined by the replay) trades
    exactly like the same file without that row: the agents' benchmark, feature statistics
    (drift) and history are built from the bars the replay serves, not from the raw file."""
    import pandas as pd

    data, env = setup
    prices = pd.read_csv(data / "prices.csv")
    row = prices.index[(prices.ticker == "MSFT") & (prices.date == "2014-03-04")][0]
    bad = prices.copy()
    bad.loc[row, "close"] = bad.loc[row, "high"] * 3.0
    runs = {}
    for name, frame in (("bad", bad), ("without", prices.drop(index=row))):
        d = tmp_path / name
        d.mkdir()
        frame.to_csv(d / "prices.csv", index=False)
        r = catalyst(["backtest", "--data", str(d / "prices.csv"), "--alerts",
                      str(data / "alerts.jsonl"), "--agent", "msft:MSFT,AAPL", "--threshold",
                      "0.1", "--json", "--no-progress"], d, env)
        assert r.exit_code == 0, r.output[-3000:]
        with _uow(d / "var" / "backtest.db") as u:
            orders = [(o.ticker, o.side.value, o.request.quantity, o.created_at)
                      for o in sorted(u.orders.list(), key=lambda o: o.created_at)]
        mon = json.loads((d / "var" / "agents" / "backtest.json").read_text())[
            "versions"]["msft@1"]
        runs[name] = (json.loads(r.stdout), orders, mon)
    (payload, orders, mon), (_, want_orders, want_mon) = runs["bad"], runs["without"]
    assert payload["bad_bars"] == 1
    assert orders and orders == want_orders
    assert mon["actions"] == want_mon["actions"]
    assert mon["drift"] is not None and mon["drift"] == want_mon["drift"]
