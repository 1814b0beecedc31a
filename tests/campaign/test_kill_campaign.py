"""Random SIGKILLs of `catalyst run` over poisoned alerts: every resume takes the run's lease
over from the dead holder, and the final books equal an uninterrupted run's; every order has
its audit row; the poison lines are quarantined once."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, cast

import pandas as pd
import pytest

from adapters.data.sample import sample_paths
from application.ports import UnitOfWork
from tests.campaign.test_audit_kills import audit_problems

pytestmark = pytest.mark.slow
TICKERS = {"AAPL", "JPM", "XOM"}
KILLS = 3
CLI = [sys.executable, "-c", "from entrypoints.cli.app import main; main()"]
POISON = [
    b'{"id": "p1", "ticker": "AAPL", "known_at": "2013-05-01T14:00:00Z", "score": 1'
    + b"0" * 400 + b"}",
    b'{"id": "p2", "ticker": "AAPL", "known_at": "2013-05-01T14:00:00Z", "score": 1, "x": '
    + b"[" * 1000 + b"]" * 1000 + b"}",
    b'{"id": "p3", "ticker": "JPM", "known_at": "1900-01-01T00:00:00Z", "score": 1}',
    b'{"id": "p4", "ticker": "JPM", "known_at": "0001-01-01T00:00:00Z", "score": 1}',
    b'{"id": "p5", "ticker": "XOM", "known_at": "2013-06-03T14:00:00Z", "score": 1e400}',
    b"\xff\xfe not UTF-8",
    b"{not json",
]


def _env(cwd: Path) -> dict[str, str]:
    return {**os.environ, "CATALYST_LOG_LEVEL": "WARNING", "CATALYST_KILL_FILE": str(cwd / "K"),
            "PYTHONPATH": str(Path(__file__).resolve().parents[2])}


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("campaign")
    df = pd.read_csv(sample_paths().prices)
    df = df[(df.date < "2014-07-01") & df.ticker.isin(TICKERS)]
    df.to_csv(d / "prices.csv", index=False)
    good = [ln for ln in sample_paths().alerts.read_bytes().splitlines()
            if json.loads(ln)["ticker"] in TICKERS and json.loads(ln)["known_at"] < "2014-07"]
    mixed: list[bytes] = []
    for i, ln in enumerate(good):
        mixed.append(ln)
        if i < len(POISON):
            mixed.append(POISON[i])
    (d / "alerts.jsonl").write_bytes(b"\n".join(mixed) + b"\n")
    return d


def _state(url: str) -> dict[str, Any]:
    from adapters.sqlalchemy import make_engine, sql_uow_factory

    eng = make_engine(url)
    uow = cast(UnitOfWork, sql_uow_factory(eng, run_id="default")())
    with uow as u:
        orders = u.orders.list()
        audited = {r.client_order_id for r in u.journal.executions()}
        out = {
            "orders": [(o.client_order_id, o.status.value, o.filled_qty, o.avg_fill_price)
                       for o in orders],
            "fills": sorted((f.fill_id, f.quantity, f.price) for o in orders
                            for f in u.fills.for_order(o.client_order_id)),
            "closed": [(c.position_id, c.quantity, c.realized_pnl)
                       for c in u.positions.list_closed()],
            "open": [(p.position_id, p.quantity) for p in u.positions.list_open()],
            "unaudited": sorted(o.client_order_id for o in orders
                                if o.client_order_id not in audited),
        }
    eng.dispose()
    return out


def _cursor(db: Path) -> str | None:
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            row = con.execute("select value from kv_state where key like 'engine:%:cursor'"
                              ).fetchone()
        finally:
            con.close()
    except sqlite3.Error:
        return None
    return str(row[0]) if row else None


def test_random_sigkills_then_books_equal_an_uninterrupted_run(data: Path,
                                                                tmp_path: Path) -> None:
    args = [*CLI, "run", "--broker", "sim", "--data", str(data / "prices.csv"), "--alerts",
            str(data / "alerts.jsonl"), "--json", "--report", str(tmp_path / "rep")]
    ref = f"sqlite:///{tmp_path / 'ref.db'}"
    r = subprocess.run([*args, "--db", ref], cwd=tmp_path, env=_env(tmp_path),
                       capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Traceback" not in r.stderr
    out = json.loads(r.stdout)
    assert out["bad_alert_lines"] == len(POISON)
    reference = _state(ref)
    assert len(reference["closed"]) >= 3 and reference["unaudited"] == []

    db = tmp_path / "killed.db"
    url = f"sqlite:///{db}"
    rng = random.Random(20)
    kills = 0
    for _ in range(KILLS):
        before = _cursor(db)
        p = subprocess.Popen([*args, "--db", url, "--speed", str(86400 * 60)], cwd=tmp_path,
                             env=_env(tmp_path), stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
        wait = rng.uniform(0.5, 2.5)
        deadline = time.monotonic() + 60
        while (_cursor(db) == before or time.monotonic() < deadline - 60 + wait) \
                and p.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            kills += 1
        _, err = p.communicate(timeout=30)
        assert "Traceback" not in err, err[-3000:]
    r = subprocess.run([*args, "--db", url], cwd=tmp_path, env=_env(tmp_path),
                       capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Traceback" not in r.stderr
    assert json.loads(r.stdout)["status"] == "finished"
    assert kills >= 2
    assert _state(url) == reference
    assert audit_problems(db) == []  # each order: one persist row, its answer; each fill: one row
    con = sqlite3.connect(db)
    try:
        n = con.execute("select count(*) from quarantine where run_id = 'default'").fetchone()[0]
        leases = con.execute("select count(*) from run_leases").fetchone()[0]
    finally:
        con.close()
    assert n == len(POISON) and leases == 0
