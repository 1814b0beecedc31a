"""Two hostile cases against a live `catalyst run` process on the simulated exchange: a second
process on the same run is refused naming the first, and `catalyst risk kill --flatten` from
another shell closes every position through stored closing orders, shown pending until flat."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from adapters.data.sample import sample_paths

pytestmark = pytest.mark.slow
CLI = [sys.executable, "-c", "from entrypoints.cli.app import main; main()"]


def _query(db: Path, sql: str) -> list[tuple[object, ...]]:
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=2)
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()
    except sqlite3.Error:
        return []


def test_second_process_refused_then_kill_with_flatten_closes_the_book(tmp_path: Path) -> None:
    df = pd.read_csv(sample_paths().prices)
    df[df.date < "2015-01-01"].to_csv(tmp_path / "p.csv", index=False)
    (tmp_path / "a.jsonl").write_bytes(b"".join(
        ln + b"\n" for ln in sample_paths().alerts.read_bytes().splitlines()
        if json.loads(ln)["known_at"] < "2014-12-31"))
    env = {**os.environ, "CATALYST_KILL_FILE": str(tmp_path / "KILL"),
           "CATALYST_LOG_LEVEL": "WARNING",
           "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    db = tmp_path / "c.db"
    url = f"sqlite:///{db}"
    args = [*CLI, "run", "--broker", "sim", "--data", str(tmp_path / "p.csv"), "--alerts",
            str(tmp_path / "a.jsonl"), "--db", url,
            "--threshold", "0.5", "--json", "--report", str(tmp_path / "rep")]
    first = subprocess.Popen([*args, "--speed", str(86400 * 4), "--max-hold-days", "60"],
                             cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 180
        while not (_query(db, "select pid from run_leases")
                   and _query(db, "select count(*) from positions")[0][0] >= 2):
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "the run never held two positions"
            time.sleep(0.1)
        assert _query(db, "select pid from run_leases") == [(first.pid,)]
        kill = subprocess.run([*CLI, "risk", "kill", "--flatten", "--reason", "drill", "--by",
                               "ops", "--db", url, "--json"], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120, check=False)
        assert kill.returncode == 0, kill.stdout + kill.stderr

        second = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True,
                                timeout=120, check=False)
        assert second.returncode == 1, second.stdout + second.stderr
        said = " ".join(second.stderr.split())
        assert "in use by another process" in said and f"pid {first.pid} on host" in said
        assert "Traceback" not in second.stderr

        while not _query(db, "select data from risk_events where kind = 'flatten_done'"):
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline + 120, "the flatten never completed"
            time.sleep(0.1)
        first.send_signal(signal.SIGINT)  # done: stop the run cleanly at its step
        out, err = first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == 0, err[-3000:]
    assert "Traceback" not in err
    assert json.loads(out)["status"] in ("interrupted", "finished")
    assert _query(db, "select count(*) from positions") == [(0,)]
    closed_by_kill = _query(db, "select count(*) from closed_positions "
                                "where exit_reason = 'kill_switch'")[0][0]
    assert isinstance(closed_by_kill, int) and closed_by_kill >= 1
    # the closing orders are stored, good till canceled, and filled
    flatten = _query(db, "select data from risk_events where kind = 'flatten_done'")
    assert len(flatten) == 1
    coids = json.loads(str(flatten[0][0]))["orders"]
    rows = _query(db, "select client_order_id, status, time_in_force from orders")
    by_id = {r[0]: r[1:] for r in rows}
    assert len(coids) == closed_by_kill and all(by_id[c] == ("filled", "gtc") for c in coids)
    status = subprocess.run([*CLI, "risk", "status", "--db", url, "--json"], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=120, check=False)
    st = json.loads(status.stdout)
    assert st["flatten_pending"] is False and st["state"] == "halted", st
    assert _query(db, "select count(*) from run_leases") == [(0,)]
