"""Restart in the middle of a submit: killed after the POST, before the answer is stored."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.alpaca import AlpacaBroker, AlpacaConfig
from adapters.sqlalchemy import SqlUnitOfWork, make_engine
from application.reconcile import Reconciler, RepairKind, record_broker_events
from domain.clock import TestClock
from domain.commands import SubmitOrder
from domain.errors import DuplicateClientOrderId
from domain.events import OrderStatus
from domain.ids import client_order_id
from domain.orders import Order
from tests.contract.harness_alpaca import TEST_KEY, TEST_SECRET, AlpacaHarness

ROOT = Path(__file__).resolve().parents[2]

CHILD = r"""
import sys
from datetime import UTC, datetime
from adapters.alpaca import AlpacaBroker, AlpacaConfig
from adapters.sqlalchemy import SqlUnitOfWork, make_engine
from domain.commands import SubmitOrder
from domain.events import OrderSubmitted
from domain.orders import Order

url, base, cid, key, secret = sys.argv[1:6]
uow = SqlUnitOfWork(make_engine(url))
req = SubmitOrder(client_order_id=cid, ticker="AAPL", side="buy", quantity=7)
now = datetime.now(UTC)
with uow as u:  # the deterministic id is stored before anything is sent
    o = Order.create(req, now)
    o.apply(OrderSubmitted(client_order_id=cid, ts_event=now))
    u.orders.add(o)
    u.commit()
print("stored", flush=True)
broker = AlpacaBroker(AlpacaConfig(api_key=key, secret_key=secret, base_url=base,
                                   use_stream=False, timeout_s=60))
broker.submit_order(req)  # the server applies the POST, then stalls: we are killed here
print("returned", flush=True)
"""


def _req(cid: str) -> SubmitOrder:
    return SubmitOrder(client_order_id=cid, ticker="AAPL", side="buy", quantity=7)


@pytest.fixture
def h() -> object:
    harness = AlpacaHarness(use_stream=False, timeout_s=2.0)
    harness.bar("AAPL", 100, 101, 99, 100)
    yield harness
    harness.close()


def _broker(h: AlpacaHarness) -> AlpacaBroker:
    return AlpacaBroker(AlpacaConfig(api_key=TEST_KEY, secret_key=TEST_SECRET,
                                     base_url=h.server.base_url, use_stream=False,
                                     poll_interval_s=0.0, timeout_s=2.0))


def test_restart_when_killed_after_post_before_answer_stored_then_exactly_one_order(
    h: AlpacaHarness, tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'restart.db'}"
    cid = client_order_id("restart-signal-1")
    h.server.faults.delay = 60.0
    h.server.faults.script("delay_after")  # the answer to the POST never comes back
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, "-c", CHILD, url, h.server.base_url, cid,
                              TEST_KEY, TEST_SECRET], cwd=ROOT, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while h.server.post_orders < 1 and time.monotonic() < deadline:
            assert child.poll() is None, child.stdout.read() if child.stdout else ""
            time.sleep(0.05)
        assert h.server.post_orders == 1  # the POST reached the broker and was applied
    finally:
        child.kill()  # SIGKILL: no cleanup, no answer stored
        out = child.communicate(timeout=10)[0]
    assert "stored" in out and "returned" not in out

    # --- restart: a new process's view (new engine, new broker) --------------------------------
    uow = SqlUnitOfWork(make_engine(url))
    with uow as u:
        before = u.orders.get(cid)
    assert before is not None and before.status is OrderStatus.SUBMITTED
    assert before.broker_order_id is None
    broker = _broker(h)
    clock = TestClock(datetime.now(UTC) + timedelta(seconds=1))
    report = Reconciler(uow, broker, clock).run()
    assert report.count(RepairKind.ADOPTED_STATUS) == 1 and not report.halted
    # the restarted engine replays the same signal: same id, refused, looked up, not doubled
    with pytest.raises(DuplicateClientOrderId):
        broker.submit_order(_req(cid))
    h.bar("AAPL", 101, 102, 100, 101)
    with uow as u:
        record_broker_events(u, broker.poll_events())
        u.commit()
        after = u.orders.get(cid)
    mine = [o for o in h.server.all_orders() if o["client_order_id"] == cid]
    assert len(mine) == 1 and len(h.server.all_orders()) == 1
    assert after is not None and after.status is OrderStatus.FILLED
    assert after.status.value == mine[0]["status"] and str(after.filled_qty) == "7"
    assert after.broker_order_id == mine[0]["id"]
    broker.close()


def test_restart_when_killed_before_the_post_then_resubmit_places_exactly_one(
    h: AlpacaHarness, tmp_path: Path,
) -> None:
    uow = SqlUnitOfWork(make_engine(f"sqlite:///{tmp_path / 'restart2.db'}"))
    cid = client_order_id("restart-signal-2")
    now = datetime.now(UTC)
    with uow as u:  # stored, then the process died before sending
        u.orders.add(Order.create(_req(cid), now))
        u.commit()
    broker = _broker(h)
    report = Reconciler(uow, broker, TestClock(now + timedelta(seconds=5))).run()
    assert report.clean  # within the grace period: may still be in flight, left alone
    broker.submit_order(_req(cid))
    with pytest.raises(DuplicateClientOrderId):
        broker.submit_order(_req(cid))
    assert [o["client_order_id"] for o in h.server.all_orders()] == [cid]
    later = Reconciler(uow, broker, TestClock(now + timedelta(minutes=5))).run()
    assert later.count(RepairKind.MARKED_NEVER_SEEN) == 0
    broker.close()
