"""``catalyst run --broker alpaca`` in real-time mode, with the Alpaca providers swapped for
the in-memory fakes (no network): the wall-clock driver, the alert file and the executor."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from dependency_injector import providers
from typer.testing import CliRunner

from adapters.memory.broker import FakeBroker
from adapters.memory.feed import InMemoryPriceFeed
from domain.clock import TestClock
from domain.market import Bar
from entrypoints.cli.app import app
from entrypoints.cli.container import get_container, reset_container

NOW = datetime(2024, 6, 3, 15, 0, tzinfo=UTC)


@pytest.fixture()
def fakes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CATALYST_KILL_FILE", str(tmp_path / "KILL"))
    reset_container()
    clock = TestClock(NOW)
    broker = FakeBroker(Decimal(100_000), clock=clock)
    feed = InMemoryPriceFeed()
    for i in range(30, -1, -1):
        ts = NOW - timedelta(days=i)
        feed.push(Bar("AAPL", ts, 100, 101, 99, 100, 1e6))
    broker.set_price("AAPL", Decimal(100))
    c = get_container()
    c.core.clock.override(providers.Object(clock))
    c.gateways.alpaca_broker.override(providers.Callable(lambda **_: broker))
    c.gateways.alpaca_price_feed.override(providers.Callable(lambda **_: feed))
    yield broker
    reset_container()


def test_run_alpaca_when_alert_known_then_order_placed_in_real_time_loop(
        tmp_path: Path, fakes: FakeBroker) -> None:
    alerts = tmp_path / "alerts.jsonl"
    alerts.write_text(json.dumps({"id": "live-1", "ticker": "AAPL",
                                  "known_at": (NOW - timedelta(minutes=1)).isoformat(),
                                  "catalyst_type": "earnings", "score": 1.0,
                                  "sentiment": 1.0}) + "\nnot json\n")
    r = CliRunner().invoke(app, ["run", "--broker", "alpaca", "--alerts", str(alerts),
                                 "--tickers", "AAPL", "--interval", "0", "--max-steps", "2",
                                 "--db", f"sqlite:///{tmp_path}/live.db", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)  # the log lines go to stderr
    assert out["status"] == "finished" and out["signals"] == 1 and out["bad_alert_lines"] == 1
    (order,) = fakes.list_orders("all")
    assert order.ticker == "AAPL" and order.client_order_id.startswith("ct-catalyst-entry")


def test_run_alpaca_when_no_alerts_option_then_exit_2(fakes: FakeBroker) -> None:
    r = CliRunner().invoke(app, ["run", "--broker", "alpaca"])
    assert r.exit_code == 2


def test_backtest_when_bad_input_then_exit_2_and_previous_backtest_kept(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "var").mkdir()
    keep = tmp_path / "var" / "backtest.db"
    keep.write_bytes(b"previous")
    for args, text in ((["--data", "nope.csv"], "--data 'nope.csv'"),
                       (["--alerts", "nope.jsonl"], "--alerts 'nope.jsonl'"),
                       (["--sizing", "magic"], "--sizing 'magic'"),
                       (["--threshold", "2"], "--threshold 2.0")):
        r = CliRunner().invoke(app, ["backtest", *args])
        assert r.exit_code == 2, r.output
        assert text in r.output and "Traceback" not in r.output
    assert keep.read_bytes() == b"previous"


def test_run_alpaca_when_agent_and_alerts_both_given_then_exit_2(
        tmp_path: Path, fakes: FakeBroker) -> None:
    r = CliRunner().invoke(app, ["run", "--broker", "alpaca", "--agent", "m", "--alerts",
                                 str(tmp_path / "a.jsonl"), "--db",
                                 f"sqlite:///{tmp_path}/live.db"])
    assert r.exit_code == 2
    assert "--alerts and --agent" in " ".join(r.output.split())
    assert not (tmp_path / "live.db").exists()


def test_run_alpaca_when_agent_unknown_or_ticker_not_watched_then_exit_2_naming_it(
        tmp_path: Path, fakes: FakeBroker, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CATALYST_MODELS", str(tmp_path / "models"))
    monkeypatch.setenv("CATALYST_MODELS_DB", "none")
    for spec, said in (("nosuch", "no model named 'nosuch'"),
                       ("m:ZZZZ", "ZZZZ not among --tickers (AAPL)")):
        r = CliRunner().invoke(app, ["run", "--broker", "alpaca", "--agent", spec,
                                     "--tickers", "AAPL", "--db",
                                     f"sqlite:///{tmp_path}/live.db"])
        assert r.exit_code == 2, r.output
        assert said in " ".join(r.output.split())
        assert not (tmp_path / "live.db").exists()


def test_run_alpaca_when_max_outage_not_positive_then_exit_2(fakes: FakeBroker) -> None:
    r = CliRunner().invoke(app, ["run", "--broker", "alpaca", "--alerts", "x.jsonl",
                                 "--max-outage", "0"])
    assert r.exit_code == 2
    assert "--max-outage 0.0: expected seconds > 0" in " ".join(r.output.split())
