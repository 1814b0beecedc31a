"""SIGKILLs at the order's weakest points: every order keeps its audit rows, none twice.

A real ``catalyst run --broker sim`` kills itself (SIGKILL) at a random order of its run,
either just before the exchange receives it (the order stored, never sent) or just after the
exchange answered (sent, the answer not stored), again and again, then runs to the end. After
each kill and at the end: every order in ``orders`` has exactly one ``persist`` row (committed
with the order), every order past ``initialized`` has the row of the broker's answer, every
fill has exactly one ``fill`` row; and the final books equal an uninterrupted run's.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from adapters.data.sample import sample_paths

pytestmark = pytest.mark.slow
TICKERS = {"AAPL", "JPM", "XOM"}
KILLS = 6
CHILD = [sys.executable, "-m", "tests.campaign.audit_kill_child"]
ANSWER = {"submit", "exit", "cancel"}


def _env(cwd: Path) -> dict[str, str]:
    return {**os.environ, "CATALYST_LOG_LEVEL": "WARNING", "CATALYST_KILL_FILE": str(cwd / "K"),
            "PYTHONPATH": str(Path(__file__).resolve().parents[2])}


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("audit")
    df = pd.read_csv(sample_paths().prices)
    df = df[(df.date < "2014-01-01") & df.ticker.isin(TICKERS)]
    df.to_csv(d / "prices.csv", index=False)
    good = [ln for ln in sample_paths().alerts.read_bytes().splitlines()
            if json.loads(ln)["ticker"] in TICKERS and json.loads(ln)["known_at"] < "2014-01"]
    (d / "alerts.jsonl").write_bytes(b"\n".join(good) + b"\n")
    return d


def audit_problems(db: Path) -> list[str]:
    """Return what breaks "every order has its audit rows, none twice" in ``db``."""
    con = sqlite3.connect(db)
    try:
        orders = con.execute("select client_order_id, status from orders").fetchall()
        rows = con.execute("select client_order_id, stage, metadata from execution_log"
                           ).fetchall()
        fills = [r[0] for r in con.execute("select fill_id from fills")]
    finally:
        con.close()
    persist = Counter(c for c, stage, _ in rows if stage == "persist")
    answered = {c for c, stage, _ in rows if stage in ANSWER}
    fill_rows = Counter(json.loads(m or "{}").get("fill_id") for _, stage, m in rows
                        if stage == "fill")
    out = [f"order {c}: {persist[c]} persist rows" for c, _ in orders if persist[c] != 1]
    out += [f"order {c} ({s}): no answer row" for c, s in orders
            if s != "initialized" and c not in answered]
    out += [f"fill {f}: {fill_rows[f]} fill rows" for f in fills if fill_rows[f] != 1]
    return out


def _books(db: Path) -> dict[str, Any]:
    con = sqlite3.connect(db)
    try:
        return {
            "orders": con.execute("select client_order_id, status, filled_qty from orders "
                                  "order by client_order_id").fetchall(),
            "fills": con.execute("select fill_id, quantity, price from fills order by fill_id"
                                 ).fetchall(),
            "closed": con.execute("select position_id, quantity, realized_pnl from "
                                  "closed_positions order by position_id").fetchall(),
        }
    finally:
        con.close()


def test_random_kills_around_the_send_then_every_order_keeps_its_audit_rows_once(
        data: Path, tmp_path: Path) -> None:
    args = ["run", "--broker", "sim", "--data", str(data / "prices.csv"), "--alerts",
            str(data / "alerts.jsonl"), "--json", "--report", str(tmp_path / "rep")]

    def child(db: Path, victim: int, when: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*CHILD, str(victim), when, "--", *args, "--db",
                               f"sqlite:///{db}"], cwd=tmp_path, env=_env(tmp_path),
                              capture_output=True, text=True, timeout=300, check=False)

    ref = tmp_path / "ref.db"
    r = child(ref, 0, "before")
    assert r.returncode == 0, r.stderr[-3000:]
    assert audit_problems(ref) == []
    reference = _books(ref)
    assert len(reference["orders"]) >= 6 and reference["closed"]

    db = tmp_path / "killed.db"
    rng = random.Random(7)
    kills: Counter[str] = Counter()
    for _ in range(KILLS):
        when = rng.choice(["before", "after"])
        r = child(db, rng.randint(1, 4), when)
        assert "Traceback" not in r.stderr, r.stderr[-3000:]
        if r.returncode == 0:
            break
        assert r.returncode == -signal.SIGKILL, r.stderr[-3000:]
        kills[when] += 1
        assert audit_problems(db) == [], f"after a kill {when} the send"
    r = child(db, 0, "before")
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads(r.stdout)["status"] == "finished"
    assert kills["before"] >= 1 and kills["after"] >= 1, kills
    assert audit_problems(db) == []
    assert _books(db) == reference
