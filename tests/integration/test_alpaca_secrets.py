"""No API key or secret in any log line, exception text or database row (all scanned)."""

from __future__ import annotations

import logging
import random
import traceback
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import structlog

from adapters.alpaca import AlpacaBroker, AlpacaConfig, AlpacaPriceFeed
from adapters.alpaca_server import AlpacaCompatServer
from adapters.sqlalchemy import SqlUnitOfWork, make_engine
from application.reconcile import Reconciler, record_broker_events
from domain.clock import TestClock
from domain.commands import SubmitOrder
from domain.errors import DomainError
from domain.events import OrderSubmitted
from domain.ids import client_order_id
from domain.orders import Order

KEY = "PKSCANKEYQ7W3E9R2T5Y8U1"
SECRET = "scanSecretZx81Lm02Qa93Ws74Ed65Rf56Tg47Yh38"  # noqa: S105 - fake, scanned for
WRONG_KEY = "PKWRONGSCANKEY11223344"
WRONG_SECRET = "wrongScanSecret99887766554433"  # noqa: S105 - fake, scanned for
NEEDLES = (KEY, SECRET, WRONG_KEY, WRONG_SECRET)


def test_no_credential_in_logs_errors_or_db_when_trading_under_faults(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    server = AlpacaCompatServer(None, "429:0.05,500:0.05,504_after:0.08,drop:0.05,"
                                "delay_before:0.03,drop_after:0.05,gap:0.3,ws_drop:0.05,"
                                "delay=0.2,seed=11", api_key=KEY, secret_key=SECRET)
    server.start()
    db = tmp_path / "scan.db"
    uow = SqlUnitOfWork(make_engine(f"sqlite:///{db}", synchronous="OFF"))
    errors: list[str] = []
    cfg = AlpacaConfig(api_key=KEY, secret_key=SECRET, base_url=server.base_url,
                       stream_url=server.stream_url, timeout_s=0.1, max_submit_attempts=3,
                       max_read_attempts=2, backoff_base_s=0.001, poll_interval_s=0.0,
                       rate_per_minute=1e9, burst=10**6)
    broker = AlpacaBroker(cfg, rng=random.Random(3))
    rng = random.Random(5)
    try:
        with structlog.testing.capture_logs() as logs:
            server.bar("AAPL", 100, 101, 99, 100)
            for i in range(60):
                req = SubmitOrder(client_order_id=client_order_id(f"scan-{i}"), ticker="AAPL",
                                  side=rng.choice(("buy", "sell")), quantity=rng.randint(1, 3))
                now = datetime.now(UTC)
                with uow as u:
                    o = Order.create(req, now)
                    o.apply(OrderSubmitted(client_order_id=req.client_order_id, ts_event=now))
                    u.orders.add(o)
                    u.commit()
                try:
                    broker.submit_order(req)
                except DomainError as exc:
                    errors.append("".join(traceback.format_exception(exc)) + repr(exc))
                if i % 10 == 9:
                    server.bar("AAPL", 100, 101, 99, 100)
                    with uow as u:
                        record_broker_events(u, broker.poll_events())
                        u.commit()
            for bad in (AlpacaBroker(AlpacaConfig(api_key=WRONG_KEY, secret_key=WRONG_SECRET,
                                                  base_url=server.base_url, use_stream=False,
                                                  timeout_s=0.5, max_read_attempts=1)),):
                for call in (bad.get_account, bad.get_positions,
                             lambda b=bad: b.submit_order(SubmitOrder(
                                 client_order_id="scan-bad", ticker="AAPL", side="buy",
                                 quantity=1))):
                    try:
                        call()
                    except DomainError as exc:
                        errors.append("".join(traceback.format_exception(exc)) + repr(exc))
                errors.append(repr(bad.config))
                bad.close()
            feed = AlpacaPriceFeed(cfg)
            try:
                feed.latest_price("AAPL")
            except DomainError as exc:
                errors.append(repr(exc))
            server.faults.clear()
            Reconciler(uow, broker, TestClock(datetime.now(UTC) + timedelta(hours=1))).run()
    finally:
        broker.close()
        server.stop()
    out = capsys.readouterr()
    texts = {
        "stdout": out.out, "stderr": out.err, "caplog": caplog.text,
        "records": "\n".join(f"{r.getMessage()} {r.args!r} {r.exc_text or ''}"
                             for r in caplog.records),
        "structlog": "\n".join(repr(e) for e in logs),
        "errors": "\n".join(errors), "config": repr(cfg) + str(cfg),
    }
    for suffix in ("", "-wal", "-shm"):
        f = Path(f"{db}{suffix}")
        if f.exists():
            texts[f"db{suffix}"] = f.read_bytes().decode("latin-1")
    assert errors, "the scan must cover failures"
    assert len(texts["structlog"]) > 100, "the scan must cover log lines"
    with uow as u:
        assert len(u.orders.list()) == 60
    for where, text in texts.items():
        for needle in NEEDLES:
            assert needle not in text, f"credential leaked into {where}"
