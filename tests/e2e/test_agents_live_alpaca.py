"""End-to-end paper trading with a trained agent on the Alpaca path, offline.

A small PPO model is trained on the bundled data and registered twice (versions 1 and 2);
version 1 is promoted. The project's loopback Alpaca-compatible server replays two tickers
of the bundled sample as its market, and ``catalyst run --broker alpaca --agent msft`` trades
it through the engine: the real Alpaca adapters (REST, trade-updates stream, market data),
the executor and the risk service. While the run goes on, version 2 is promoted and later
rolled back in the registry; the run must swap between two bars both times, decide on every
bar exactly once, place each order once (the server's book equals the database's), and
record the version that produced each order.

The market moves when the run waits between steps: the container's ``sleep`` (the only
thing overridden, with the clock that reads the replay's time) advances the replay to its
next stop, each session's open and close, so the test is deterministic and fast.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import pandas as pd
import pytest
from dependency_injector import providers
from trading_cli_support import _environment
from typer.testing import CliRunner, Result

from adapters.alpaca_server import AlpacaCompatServer
from adapters.alpaca_server.replay import (
    HistoryReplay,
    load_history,
    replay_exchange,
    session_open_before,
)
from adapters.data.sample import sample_paths
from application.ports import UnitOfWork
from domain.clock import Clock
from entrypoints.cli.app import app
from entrypoints.cli.container import get_container
from tests.agent_support import first_minute_stream, register_tiny_agent

pytestmark = pytest.mark.slow

KEY, SECRET = "PKAGENTLIVE000000001", "agentLiveSecret00000000000000000000001"
TICKERS = ("AAPL", "MSFT")
SESSIONS = 100  # of the bundled sample, per ticker
START = 80  # the run starts at this session's open: the sessions before are history
PROMOTE_AT, ROLLBACK_AT = 86, 93  # sessions at whose open the registry changes


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Train a tiny PPO policy on the bundled features; register it as msft@1 and msft@2."""
    return register_tiny_agent(tmp_path_factory.mktemp("agents_live"), "msft")


class ReplayClock(Clock):
    """The replay's time: what the market's clock says now."""

    def __init__(self, replay: HistoryReplay) -> None:
        self.replay = replay

    def now(self) -> datetime:
        return self.replay.now


def _market(tmp_path: Path, minutes: bool = False
            ) -> Iterator[tuple[AlpacaCompatServer, HistoryReplay, list[datetime]]]:
    """The loopback server replaying the sample's first ``SESSIONS`` sessions of ``TICKERS``:
    each day's bar at its session's close, or (``minutes``) as a live feed serves it, a
    first-minute bar at the open and the rest at the close."""
    prices = pd.read_csv(sample_paths().prices)
    parts = [prices[prices.ticker == t].sort_values("date").head(SESSIONS) for t in TICKERS]
    pd.concat(parts).to_csv(tmp_path / "bars.csv", index=False)
    bars = load_history(tmp_path / "bars.csv")
    days = sorted({b.ts for b in bars})
    stream = first_minute_stream(bars) if minutes else bars
    server = AlpacaCompatServer(replay_exchange(Decimal(100_000), stream[0].ts), api_key=KEY,
                                secret_key=SECRET, fill_market_now=True)
    replay = HistoryReplay(server, stream, start=session_open_before(days[START]))
    server.start()
    try:
        yield server, replay, days
    finally:
        server.stop()


@pytest.fixture
def market(tmp_path: Path) -> Iterator[tuple[AlpacaCompatServer, HistoryReplay, list[datetime]]]:
    yield from _market(tmp_path)


@pytest.fixture
def minute_market(tmp_path: Path
                  ) -> Iterator[tuple[AlpacaCompatServer, HistoryReplay, list[datetime]]]:
    yield from _market(tmp_path, minutes=True)


@contextmanager
def _live_cli(tmp_path: Path, server: AlpacaCompatServer, replay: HistoryReplay, models: Path,
              nap: Callable[[float], None]) -> Iterator[None]:
    """The CLI wired to the loopback server: its keys and URL, the registry, a home, the
    replay's clock, and ``nap`` as the run's sleep (the market moves on while it waits)."""
    env = {"APCA_API_KEY_ID": KEY, "APCA_API_SECRET_KEY": SECRET,
           "CATALYST_ALPACA_BASE_URL": server.base_url, "CATALYST_MODELS": str(models),
           "CATALYST_MODELS_DB": "none", "CATALYST_HOME": str(tmp_path / "home"),
           # daily bars: the last close stays a fresh price over a long weekend
           "CATALYST_RISK__MAX_PRICE_AGE_S": str(5 * 86_400)}
    with _environment(tmp_path, env):
        c = get_container()
        c.core.clock.override(providers.Object(ReplayClock(replay)))
        c.core.sleep.override(providers.Object(nap))
        # the loopback server has no request quota: lift the pacing kept under Alpaca's
        c.gateways.alpaca_broker.add_kwargs(rate_per_minute=600_000, burst=1_000)
        c.gateways.alpaca_price_feed.add_kwargs(rate_per_minute=600_000, burst=1_000)
        yield


def _run_agents(agent: str, steps: int, db: Path, run: str) -> Result:
    """``catalyst run --broker alpaca --agent AGENT`` for ``steps`` steps into ``db``."""
    return CliRunner().invoke(app, [
        "run", "--broker", "alpaca", "--agent", agent, "--tickers", ",".join(TICKERS),
        "--interval", "0", "--threshold", "0.1", "--max-steps", str(steps),
        "--reconcile-interval", "0", "--db", f"sqlite:///{db}", "--run", run, "--json"])


def _uow(db: Path, run: str) -> UnitOfWork:
    from adapters.sqlalchemy import make_engine, sql_uow_factory

    return cast(UnitOfWork, sql_uow_factory(make_engine(f"sqlite:///{db}"), run_id=run)())


def test_agent_trades_on_loopback_alpaca_and_swaps_versions_mid_run(
        models: Path, market: tuple[AlpacaCompatServer, HistoryReplay, list[datetime]],
        tmp_path: Path) -> None:
    from adapters.rl.registry import FileSystemModelRegistry, JsonMetadataStore

    server, replay, days = market
    reg = FileSystemModelRegistry(models, JsonMetadataStore(models))
    opens = {i: session_open_before(days[i]) for i in (PROMOTE_AT, ROLLBACK_AT)}
    changes: list[tuple[str, str]] = []

    def nap(_seconds: float) -> None:
        """The run waits: the market moves to its next stop; the operator acts at opens."""
        nxt = replay.next_time
        if nxt is None:
            return
        replay.advance_to(nxt)
        if nxt == opens[PROMOTE_AT]:
            reg.promote("msft", 2)
            changes.append(("promote", nxt.isoformat()))
        elif nxt == opens[ROLLBACK_AT]:
            reg.rollback("msft")
            changes.append(("rollback", nxt.isoformat()))

    # a step at each open from START on; the last session's bar has no next open
    steps = SESSIONS - 1 - START + 1
    db = tmp_path / "live.db"
    with _live_cli(tmp_path, server, replay, models, nap):
        r = _run_agents("msft", steps, db, "agents")
        listed = CliRunner().invoke(app, ["orders", "--json", "--db", f"sqlite:///{db}",
                                          "--run", "agents", "--limit", "0"])
        shown = CliRunner().invoke(app, ["rl", "status", "--run", "agents", "--db",
                                         f"sqlite:///{db}"])
    assert r.exit_code == 0, r.output[-4000:]
    payload = json.loads(r.stdout)
    assert payload["status"] == "finished" and payload["steps"] == steps
    assert payload["agents"] == {"msft": "msft@1"}  # rolled back by the end
    assert [k for k, _ in changes] == ["promote", "rollback"]

    status: dict[str, Any] = json.loads(
        (tmp_path / "home" / "agents" / "agents.json").read_text())
    # the swaps: to version 2 after its promotion, back to 1 after the rollback, each at a
    # step (between two bars), in order
    swaps = [(w["from"], w["to"], w["ts"]) for w in status["swaps"]]
    assert [(a, b) for a, b, _ in swaps] == [("msft@1", "msft@2"), ("msft@2", "msft@1")]
    t_up, t_down = (datetime.fromisoformat(ts) for _, _, ts in swaps)
    assert datetime.fromisoformat(changes[0][1]) <= t_up < datetime.fromisoformat(changes[1][1])
    assert datetime.fromisoformat(changes[1][1]) <= t_down
    # no bar skipped, none decided twice: each step brought one new bar per ticker and the
    # agent acted on every one of them, whichever version ran
    decided = sum(sum(v["actions"].values()) for v in status["versions"].values())
    assert decided == steps * len(TICKERS)
    assert all(sum(status["versions"][v]["actions"].values()) > 0
               for v in ("msft@1", "msft@2"))
    # versions registered without their training statistics: no drift, and the reason why
    for v in ("msft@1", "msft@2"):
        assert status["versions"][v]["drift"] is None
        assert f"{v} was registered without its training data's feature statistics" in \
            status["versions"][v]["drift_unavailable"]
    assert shown.exit_code == 0, shown.output[-3000:]
    text = " ".join(shown.stdout.split())  # the table's drift column is cut to the width
    for v in ("msft@1", "msft@2"):
        assert (f"{v}: no drift monitoring: {v} was registered without its training data's "
                "feature statistics and no feature file was given") in text

    with _uow(db, "agents") as u:
        orders = u.orders.list()
        executions = u.journal.executions()
    # what the server holds is what the database holds: no order lost, none doubled
    from alpaca.trading.client import TradingClient
    from alpaca.trading.enums import QueryOrderStatus
    from alpaca.trading.requests import GetOrdersRequest

    client = TradingClient(KEY, SECRET, url_override=server.base_url)
    at_server = client.get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL, limit=500))
    assert sorted(o.client_order_id for o in at_server) == \
        sorted(o.client_order_id for o in orders)
    entries = [o for o in orders if not o.request.reduce_only]
    ids = [o.request.signal_id for o in entries]
    assert len(ids) == len(set(ids))
    # every order records the version that produced it, and both versions traded
    by_version = {o.request.strategy for o in orders}
    assert by_version == {"agent:msft@1", "agent:msft@2"}
    for o in entries:  # an exit keeps the strategy of the position it closes
        v2 = t_up <= o.created_at < t_down
        assert o.request.strategy == ("agent:msft@2" if v2 else "agent:msft@1"), o
    for o in orders:  # the signal that asked for it names the version that was running
        if o.request.signal_id and o.request.signal_id.startswith("agent:"):
            v2 = t_up <= o.created_at < t_down
            assert o.request.signal_id.startswith("agent:msft@2:" if v2
                                                  else "agent:msft@1:"), o
    assert all((e.signal_id or "agent:").startswith("agent:msft@") for e in executions)
    # the positions the server holds are the database's
    with _uow(db, "agents") as u:
        held = {p.ticker: p.quantity for p in u.positions.list_open()}
    at_server_pos = {p.symbol: Decimal(p.qty) for p in client.get_all_positions()}
    assert {t: abs(q) for t, q in at_server_pos.items()} == \
        {t: abs(q) for t, q in held.items()}

    assert listed.exit_code == 0, listed.output[-3000:]
    rows = json.loads(listed.stdout)
    assert {row["source"] for row in rows} == {"agent:msft@1", "agent:msft@2"}


def test_on_a_minute_bar_feed_the_agent_decides_once_per_completed_session(
        minute_market: tuple[AlpacaCompatServer, HistoryReplay, list[datetime]],
        tmp_path: Path) -> None:
    """The feed's latest bar is each session's first minute; the agent still decides on
    every completed session's daily bar once (its signals name the bar: the session's close),
    and its drift is measured against the training statistics recorded with the version."""
    from adapters.data.features import sample_features
    from adapters.rl.inference import feature_stats
    from domain.rl.models import FEATURE_STATS_KEY, feature_stats_json

    server, replay, days = minute_market
    st = feature_stats(sample_features())
    (tmp_path / "reg").mkdir()
    models = register_tiny_agent(tmp_path / "reg", "msft", seeds=(5,), metrics={
        FEATURE_STATS_KEY: feature_stats_json(st.names, st.mean, st.std)})

    def nap(_seconds: float) -> None:
        nxt = replay.next_time
        if nxt is not None:
            replay.advance_to(nxt)

    steps = SESSIONS - START
    db = tmp_path / "live.db"
    with _live_cli(tmp_path, server, replay, models, nap):
        r = _run_agents("msft@1", steps, db, "minutes")
    assert r.exit_code == 0, r.output[-4000:]
    assert json.loads(r.stdout)["steps"] == steps
    status: dict[str, Any] = json.loads(
        (tmp_path / "home" / "agents" / "minutes.json").read_text())
    mon = status["versions"]["msft@1"]
    # one decision per ticker and step: the session that closed before it, never the minute
    assert sum(mon["actions"].values()) == steps * len(TICKERS)
    assert mon["first_ts"] == days[START - 1].isoformat()
    assert mon["last_ts"] == days[SESSIONS - 2].isoformat()
    assert mon["drift"] is not None and mon["drift_unavailable"] is None
    with _uow(db, "minutes") as u:
        orders = u.orders.list()
    entries = [o for o in orders if (o.request.signal_id or "").startswith("agent:")]
    assert entries
    closes = set(days)
    for o in entries:
        bar_ts = datetime.fromisoformat(o.request.signal_id.split(":", 3)[3])
        assert bar_ts in closes and bar_ts < o.created_at, o.request.signal_id
