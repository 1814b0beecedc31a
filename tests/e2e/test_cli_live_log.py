"""A real-time run logs each signal, order, fill, refusal and halt, one line each."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.memory.broker import FakeBroker
from entrypoints.cli.app import app
from tests.e2e.test_cli_trading_live import NOW, fakes  # noqa: F401 - the fixture

pytestmark = pytest.mark.slow


def _alerts(tmp_path: Path) -> Path:
    path = tmp_path / "alerts.jsonl"
    path.write_text(json.dumps({"id": "live-1", "ticker": "AAPL",
                                "known_at": (NOW - timedelta(minutes=1)).isoformat(),
                                "catalyst_type": "earnings", "score": 1.0,
                                "sentiment": 1.0}) + "\n")
    return path


def _run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("CATALYST_LOG_FORMAT", "console")
    monkeypatch.setenv("CATALYST_LOG_LEVEL", "INFO")
    r = CliRunner().invoke(app, ["run", "--broker", "alpaca", "--alerts", str(_alerts(tmp_path)),
                                 "--tickers", "AAPL", "--interval", "0", "--max-steps", "2",
                                 "--db", f"sqlite:///{tmp_path}/live.db", "--json"])
    assert r.exit_code == 0, r.output
    return r.output


def test_live_log_when_alert_trades_then_signal_order_and_fill_lines(
        tmp_path: Path, fakes: FakeBroker, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    output = _run(tmp_path, monkeypatch)
    lines = output.splitlines()
    signal = [ln for ln in lines if "live.signal" in ln]
    order = [ln for ln in lines if "live.order " in ln or ln.rstrip().endswith("live.order")
             or "live.order  " in ln]
    assert len(signal) == 1 and "AAPL" in signal[0] and "buy" in signal[0]
    assert order and "ct-catalyst-entry" in order[0]
    assert not any(ln.lstrip().startswith("{") and "live." in ln for ln in lines)


def test_live_log_when_kill_file_set_then_halt_and_refusal_logged(
        tmp_path: Path, fakes: FakeBroker, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    (tmp_path / "KILL").write_text("")
    output = _run(tmp_path, monkeypatch)
    assert "live.halt" in output
    assert "live.refused" in output or "live.order" not in output
    assert fakes.list_orders("all") == []


def test_logging_broker_when_order_fills_then_order_and_fill_events() -> None:
    from decimal import Decimal

    from structlog.testing import capture_logs

    from domain.clock import TestClock
    from domain.commands import SubmitOrder
    from domain.values import Side
    from entrypoints.cli.live_log import LoggingBroker

    inner = FakeBroker(Decimal(100_000), clock=TestClock(NOW))
    inner.set_price("AAPL", Decimal(100))
    broker = LoggingBroker(inner)
    with capture_logs() as logs:
        broker.submit_order(SubmitOrder(client_order_id="c-1", ticker="AAPL", side=Side.BUY,
                                        quantity=Decimal(5)))
        inner.bar("AAPL", 100, 101, 99, 100)
        broker.poll_events()
    kinds = [e["event"] for e in logs]
    assert kinds[0] == "live.order" and "live.fill" in kinds
    fill = next(e for e in logs if e["event"] == "live.fill")
    assert fill["ticker"] == "AAPL" and fill["quantity"] == "5"
