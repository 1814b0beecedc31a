"""``catalyst risk`` as a user runs it: status, kill (in a real second process), a refused and a
recorded resume, the HTML report and the sizing backtest on the bundled sample."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.memory.broker import FakeBroker
from adapters.memory.notifier import RecordingNotifier
from adapters.memory.uow import InMemoryUnitOfWork
from adapters.sqlalchemy import sql_uow_factory
from adapters.system.kill_switch import FileKillSwitch
from application.risk import RiskService
from domain.clock import TestClock
from domain.commands import SubmitOrder
from domain.events import RiskState
from domain.risk import MarketView, Quote
from entrypoints.cli.app import app as catalyst
from entrypoints.cli.container import reset_container

D = Decimal
T0 = datetime(2024, 1, 2, 15, tzinfo=UTC)
runner = CliRunner()


@pytest.fixture()
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CATALYST_KILL_FILE", str(tmp_path / "var" / "KILL"))
    monkeypatch.setenv("CATALYST_DATABASE_URL", f"sqlite:///{tmp_path / 'var' / 'catalyst.db'}")
    monkeypatch.delenv("CATALYST_DISCORD_WEBHOOK_URL", raising=False)
    monkeypatch.delenv("CATALYST_SMTP_HOST", raising=False)
    reset_container()
    yield tmp_path
    reset_container()


def test_status_json_lists_every_limit_with_headroom(env: Path) -> None:
    r = runner.invoke(catalyst, ["risk", "status", "--json"])
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)
    assert s["state"] == "active" and s["kill_flag_set"] is False
    names = {x["name"] for x in s["limits"]}
    assert {"gross_exposure", "net_exposure", "ticker_concentration", "correlation_cluster",
            "max_open_positions", "daily_loss", "drawdown", "consecutive_losses",
            "broker_error_rate", "stale_prices"} == names
    for x in s["limits"]:
        assert D(x["headroom"]) == D(x["limit"]) - D(x["value"])
    r = runner.invoke(catalyst, ["risk", "status"])
    assert r.exit_code == 0 and "Risk limits" in r.stdout and "headroom" in r.stdout


@pytest.mark.slow
@pytest.mark.parametrize("via", ["database", "kill file"])
def test_kill_in_one_process_halts_the_engine_in_another_within_one_step(
    env: Path, via: str,
) -> None:
    proc = subprocess.run(  # a real second process, as an operator runs it
        [sys.executable, "-c", "from entrypoints.cli.app import main; main()", "risk", "kill",
         "--flatten", "--reason", "drill", "--by", "ops"],
        capture_output=True, text=True, timeout=60, cwd=env, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "HALTED" in proc.stdout and "Traceback" not in proc.stderr
    ks = FileKillSwitch(env / "var" / "KILL")
    assert ks.is_set() and ks.wants_flatten() and ks.details()["by"] == "ops"

    # the engine (this process) with its own broker, store and the same kill file
    clock = TestClock(T0)
    broker = FakeBroker(D(100_000), clock=clock)
    broker.set_price("AAPL", D(100))
    broker.submit_order(SubmitOrder(client_order_id="e1", ticker="AAPL", side="buy",
                                    quantity=10))
    broker.bar("AAPL", 100, 101, 99, 100)
    broker.submit_order(SubmitOrder(client_order_id="l1", ticker="AAPL", side="buy",
                                    quantity=5, order_type="limit", limit_price=D(90)))
    if via == "database":  # the engine shares the database, and ignores the file
        store = sql_uow_factory(f"sqlite:///{env / 'var' / 'catalyst.db'}")()
        engine = RiskService(store, broker, RecordingNotifier(), clock)
        assert engine.trading_state() is RiskState.HALTED  # before its first step
    else:  # the engine has its own store, and watches the file
        engine = RiskService(InMemoryUnitOfWork(), broker, RecordingNotifier(), clock,
                             kill_flag=ks, kill_flag_flattens=ks.wants_flatten)
    mv = MarketView(now=T0, quotes={"AAPL": Quote(price=D(100), ts=T0)})
    rep = engine.step(broker.get_account(), mv)
    assert rep.trading_state is RiskState.HALTED
    assert rep.kill is not None and rep.kill.canceled == ("l1",)
    broker.bar("AAPL", 100, 101, 99, 100)
    assert broker.get_positions() == [] and broker.list_orders("open") == []
    assert not engine.current().kill_pending
    assert engine.step(broker.get_account(), mv).kill is None  # carried out once


def test_resume_without_approval_or_name_exits_2_and_keeps_the_kill(env: Path) -> None:
    r = runner.invoke(catalyst, ["risk", "kill", "--reason", "drill", "--by", "ops"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(catalyst, ["risk", "resume", "--by", "alice"])
    assert r.exit_code == 2 and "--approve" in r.output
    r = runner.invoke(catalyst, ["risk", "resume", "--approve"])
    assert r.exit_code == 2 and "--by" in r.output
    assert "Traceback" not in r.output
    assert (env / "var" / "KILL").exists()
    r = runner.invoke(catalyst, ["risk", "status", "--json"])
    s = json.loads(r.stdout)
    assert s["state"] == "halted" and s["kill_flag_set"] is True
    assert "kill_switch" in s["tripped_rules"]


def test_resume_when_risk_kill_wrote_the_flag_then_approval_removes_it(env: Path) -> None:
    assert runner.invoke(catalyst, ["risk", "kill", "--by", "ops", "--reason", "drill"]).exit_code == 0
    r = runner.invoke(catalyst, ["risk", "resume", "--approve", "--by", "alice", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["state"] == "active" and out["kill_file_removed"].endswith("KILL")
    assert not (env / "var" / "KILL").exists()


def test_resume_when_kill_file_made_by_hand_then_refused_naming_the_file(env: Path) -> None:
    (env / "var").mkdir(parents=True, exist_ok=True)
    (env / "var" / "KILL").touch()
    r = runner.invoke(catalyst, ["risk", "status"])
    assert r.exit_code == 0, r.output
    assert "HALTED" in r.stdout and "ACTIVE" not in r.stdout.split("Risk limits")[0]
    r = runner.invoke(catalyst, ["risk", "status", "--json"])
    assert json.loads(r.stdout)["effective_state"] == "halted"
    r = runner.invoke(catalyst, ["risk", "resume", "--approve", "--by", "alice"])
    assert r.exit_code == 2
    assert "KILL" in r.output and "not written by `catalyst risk" in r.output
    assert "remove it" in r.output
    assert (env / "var" / "KILL").exists()


def test_resume_is_recorded_with_who_and_why(env: Path) -> None:
    assert runner.invoke(catalyst, ["risk", "kill", "--by", "ops", "--reason", "drill"]).exit_code == 0
    (env / "var" / "KILL").unlink()
    r = runner.invoke(catalyst, ["risk", "resume", "--approve", "--by", "alice", "--reason", "checked",
                            "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["state"] == "active" and out["previous_state"] == "halted"
    assert out["resumed_by"] == "alice" and out["was_tripped_by"] == ["kill_switch"]
    s = json.loads(runner.invoke(catalyst, ["risk", "status", "--json"]).stdout)
    assert s["state"] == "active" and s["resumed_by"] == "alice"
    assert s["resume_reason"] == "checked"
    assert [e["kind"] for e in s["recent_events"]][-2:] == ["kill", "resume"]


def test_report_writes_html_with_limits_and_breaker_history(env: Path) -> None:
    assert runner.invoke(catalyst, ["risk", "kill", "--by", "ops", "--reason", "drill"]).exit_code == 0
    r = runner.invoke(catalyst, ["risk", "report", "--out", "reports"])
    assert r.exit_code == 0, r.output
    html = (env / "reports" / "risk_report.html").read_text()
    for needle in ("Risk report", "HALTED", "gross_exposure", "drawdown", "headroom",
                   "Breaker history", "kill_switch: trading halted by ops: drill"):
        assert needle in html


def test_sizing_backtest_on_the_bundled_sample(env: Path) -> None:
    r = runner.invoke(catalyst, ["risk", "sizing-backtest", "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert res["trades"] == 145
    methods = {m["method"]: m for m in res["methods"]}
    assert set(methods) == {"fixed", "confidence", "volatility", "kelly"}
    for m in methods.values():
        assert m["avg_fraction"] <= 0.10 + 1e-9  # every method is capped at 10 %
        assert 0 <= m["max_drawdown"] < 1
    r = runner.invoke(catalyst, ["risk", "sizing-backtest", "--data", "missing.csv"])
    assert r.exit_code == 2 and "--data" in r.output and "Traceback" not in r.output


def test_risk_when_db_given_then_that_database_holds_the_kill(env: Path) -> None:
    other = f"sqlite:///{env / 'other.db'}"
    r = runner.invoke(catalyst, ["risk", "kill", "--by", "ops", "--db", other, "--json"])
    assert r.exit_code == 0, r.output
    (env / "var" / "KILL").unlink()
    r = runner.invoke(catalyst, ["risk", "status", "--db", other, "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["state"] == "halted"
    r = runner.invoke(catalyst, ["risk", "status", "--json"])
    assert json.loads(r.stdout)["state"] == "active"  # the settings' database: untouched
    r = runner.invoke(catalyst, ["risk", "resume", "--approve", "--by", "alice", "--db", other])
    assert r.exit_code == 0, r.output
