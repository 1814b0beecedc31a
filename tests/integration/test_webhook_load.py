"""The intake under load, SIGKILLed mid-way: every acknowledged alert is in the inbox once and
routed once.

``catalyst serve`` runs as a child process on a SQLite file. Eight client threads post 2,400
alerts (one per request, retrying the same alert id after a dropped connection, as a real
sender does); when a third are acknowledged the server is SIGKILLed and started again on the
same port. Meanwhile the engine's alert source (:class:`InboxSignalSource`) routes the inbox
in steps, one of which "crashes" (leaves without committing) so its alerts are routed again
by a fresh source restored from the committed state.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.sources.inbox import InboxFeed, InboxSignalSource
from adapters.sqlalchemy import SqlUnitOfWork, make_engine
from application.router import SignalRouter

TOKEN = "load-test-token"
N_ALERTS = 2400
N_CLIENTS = 8
ROOT = Path(__file__).resolve().parents[2]
BASE = datetime(2024, 1, 1, 14, 30, tzinfo=UTC)
TICKERS = [f"T{i:02d}" for i in range(20)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, db: str, port: int, log: Path) -> None:
        self.db, self.port, self.log = db, port, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "CATALYST_WEBHOOK_TOKEN": TOKEN,
               "CATALYST_LOG_LEVEL": "WARNING"}
        with self.log.open("ab") as fh:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", "from entrypoints.cli.app import main; main()", "serve",
                 "--listen", f"127.0.0.1:{self.port}", "--db", self.db, "--rate", "0"],
                env=env, stdout=fh, stderr=fh, cwd=ROOT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()[-2000:]
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/v1/health", timeout=1).is_success:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError("the server did not start: " + self.log.read_text()[-2000:])

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)


def _alert(i: int) -> dict[str, Any]:
    return {"id": f"load-{i:05d}", "ticker": TICKERS[i % len(TICKERS)],
            "known_at": (BASE + timedelta(days=i)).isoformat(), "catalyst_type": "earnings",
            "score": 0.8, "sentiment": 0.6, "headline": f"alert {i}"}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    s = Server(f"sqlite:///{tmp_path / 'inbox.db'}", _free_port(), tmp_path / "server.log")
    s.start()
    try:
        yield s
    finally:
        s.stop()


def _route_step(engine: Any, source: InboxSignalSource, state_key: str, *, commit: bool,
                seen: Counter[str]) -> int:
    uow = source.feed.uow
    with uow:
        signals = source.poll(BASE + timedelta(days=10_000))
        uow.state.set(state_key, source.dump_state())
        if not commit:
            return 0  # a crash: leaving the block discards the step
        uow.commit()
    seen.update(str(s.metadata["alert_id"]) for s in signals)
    return len(signals)


def _source(engine: Any, state_key: str) -> InboxSignalSource:
    uow = SqlUnitOfWork(engine, run_id="load")
    src = InboxSignalSource(InboxFeed(uow, known_tickers=set(TICKERS), batch=300),
                            SignalRouter())
    with uow:
        src.load_state(uow.state.get(state_key))
    return src


def test_load_with_sigkill_every_acknowledged_alert_once_in_inbox_and_routed_once(
    server: Server,
) -> None:
    acked: dict[str, int] = {}
    lock = threading.Lock()
    retries = Counter[str]()
    half = threading.Event()
    done = threading.Event()
    base = f"http://127.0.0.1:{server.port}"

    def client(k: int) -> None:
        with httpx.Client(base_url=base, timeout=10,
                          headers={"Authorization": f"Bearer {TOKEN}"}) as http:
            for i in range(k, N_ALERTS, N_CLIENTS):
                body = _alert(i)
                for _ in range(600):
                    try:
                        r = http.post("/v1/alerts", json=body)
                    except httpx.HTTPError:
                        retries["connection"] += 1
                        time.sleep(0.05)
                        continue
                    if r.status_code in (200, 202):
                        with lock:
                            acked[body["id"]] = r.status_code
                            if len(acked) >= N_ALERTS // 3:
                                half.set()
                        break
                    retries[str(r.status_code)] += 1
                    time.sleep(0.05)
                else:
                    raise AssertionError(f"{body['id']} never acknowledged")

    db = make_engine(server.db)
    state_key = "engine:load:source"
    routed_signals: Counter[str] = Counter()
    router_errors: list[BaseException] = []

    def router_loop() -> None:
        try:
            src = _source(db, state_key)
            crashed = False
            while not done.is_set():
                if half.is_set() and not crashed:
                    _route_step(db, src, state_key, commit=False, seen=routed_signals)
                    src = _source(db, state_key)  # restarted from what was committed
                    crashed = True
                    continue
                _route_step(db, src, state_key, commit=True, seen=routed_signals)
                time.sleep(0.05)
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            router_errors.append(exc)

    t0 = time.monotonic()
    threads = [threading.Thread(target=client, args=(k,)) for k in range(N_CLIENTS)]
    rt = threading.Thread(target=router_loop)
    for th in threads:
        th.start()
    rt.start()
    assert half.wait(60), "a third of the alerts were not acknowledged in time"
    server.kill9()
    killed_at = len(acked)
    server.start()
    for th in threads:
        th.join(120)
    done.set()
    rt.join(60)
    assert not router_errors, router_errors
    assert killed_at < N_ALERTS and len(acked) == N_ALERTS
    # drain what the router loop had not reached, through a restarted source
    src = _source(db, state_key)
    while _route_step(db, src, state_key, commit=True, seen=routed_signals) or \
            src.last_decisions:
        pass
    elapsed = time.monotonic() - t0

    with SqlUnitOfWork(db) as u:
        records = u.inbox.list()
    ids = [r.alert_id for r in records]
    assert len(ids) == len(set(ids)) == N_ALERTS  # in the inbox exactly once
    assert set(ids) == set(acked)
    statuses = Counter(r.status for r in records)
    assert set(statuses) <= {"routed", "suppressed"}, statuses  # every one settled
    routed = {r.alert_id for r in records if r.status == "routed"}
    assert max(routed_signals.values()) == 1  # no alert made two signals
    assert set(routed_signals) == routed  # ... and each routed one made exactly one
    assert statuses["routed"] > N_ALERTS // 2
    db.dispose()
    print(json.dumps({"acked": len(acked), "killed_after": killed_at, "retries": retries,
                      "statuses": statuses, "seconds": round(elapsed, 1)}))


def test_a_step_that_crashes_before_commit_is_routed_again_once_in_memory_too() -> None:
    from adapters.memory.uow import InMemoryUnitOfWork
    from adapters.sources.parse import parse_alert_dict
    from application.inbox import receive
    from application.router import RouterConfig

    store = InMemoryUnitOfWork()
    alerts = [parse_alert_dict(_alert(i)) for i in range(30)]
    alerts.append(parse_alert_dict({**_alert(99), "ticker": "ZZZZ"}))
    receive(store.for_run("intake"), alerts, source="test", digest="0" * 64, now=BASE)

    def fresh() -> InboxSignalSource:
        uow = store.for_run("mem")
        src = InboxSignalSource(InboxFeed(uow, known_tickers=set(TICKERS), batch=7),
                                SignalRouter(RouterConfig()))
        with uow:
            src.load_state(uow.state.get("src"))
        return src

    seen: Counter[str] = Counter()
    src = fresh()
    assert _route_step(None, src, "src", commit=True, seen=seen) == 7
    assert _route_step(None, src, "src", commit=False, seen=seen) == 0  # crashed step
    src = fresh()
    while _route_step(None, src, "src", commit=True, seen=seen) or src.last_decisions:
        pass
    with store.for_run("x") as u:
        counts = u.inbox.counts()
        rejected = u.inbox.get("load-00099")
    assert set(seen) == {a.id for a in alerts[:30]} and max(seen.values()) == 1
    assert counts == {"routed": 30, "rejected": 1}
    assert rejected is not None and "unknown ticker 'ZZZZ'" in rejected.reason
