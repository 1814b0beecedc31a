"""Named runs as a user meets them: several runs in one SQLite database, each with its books.

Two ``catalyst run`` with other parameters (the second named with ``--run``) both finish and
keep their own orders, trades, snapshots and risk state; the same name with other
parameters is refused (exit 2, the differences named, nothing written, risk state as it
was); the same name and parameters resumes; named backtests stay next to each other.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_cli_trading import cli, small_data, sql_uow, state

pytestmark = pytest.mark.slow
__all__ = ["small_data"]  # the module fixture, shared


def _args(data: Path, *extra: str) -> list[str]:
    return ["run", "--broker", "sim", "--data", str(data / "prices.csv"), "--alerts",
            str(data / "alerts.jsonl"), "--json", "--no-progress", *extra]


def _dump(db: Path) -> dict[str, Any]:
    """Every row of the tables a refused command could have touched."""
    con = sqlite3.connect(db)
    try:
        return {tbl: sorted(map(repr, con.execute(f"SELECT * FROM {tbl}").fetchall()))
                for tbl in ("runs", "orders", "fills", "positions", "closed_positions",
                            "portfolio_snapshots", "kv_state", "risk_events", "execution_log")}
    finally:
        con.close()


def _risk_state(url: str, run: str) -> str | None:
    with sql_uow(url, run) as u:
        return u.state.get("risk:state")


def test_run_when_two_named_runs_share_a_database_then_each_keeps_its_own_books(
        tmp_path: Path, small_data: Path) -> None:
    url = f"sqlite:///{tmp_path}/shared.db"
    first = cli(_args(small_data, "--db", url), tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    second = cli(_args(small_data, "--db", url, "--threshold", "0.6", "--run", "loose"),
                 tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "Traceback" not in first.stderr + second.stderr
    a, b = json.loads(first.stdout), json.loads(second.stdout)
    assert (a["run_id"], b["run_id"]) == ("default", "loose")
    assert a["status"] == b["status"] == "finished"
    assert b["resumed_from"] is None and b["steps"] == a["steps"] > 0  # a new run, from the start

    books = {run: state(url, run) for run in ("default", "loose")}
    assert len(books["default"]["orders"]) == a["orders"] > 0
    assert len(books["loose"]["orders"]) == b["orders"] > a["orders"]  # more signals pass 0.6
    assert len(books["default"]["closed"]) == a["closed_trades"]
    assert len(books["loose"]["closed"]) == b["closed_trades"]
    ids = [{o[0] for o in books[r]["orders"]} for r in ("default", "loose")]
    assert not ids[0] & ids[1]  # the same signals, other client order ids
    assert all(len(i) <= 48 for i in ids[0] | ids[1])
    assert {o[4] for o in books["default"]["orders"]} <= {o[4] for o in books["loose"]["orders"]}
    for run in ("default", "loose"):
        assert _risk_state(url, run) != "halted"

    runs = json.loads(cli(["runs", "--db", url, "--json"], tmp_path).stdout)
    assert [(r["run"], r["orders"], r["trades"], r["latest"]) for r in runs] == [
        ("default", a["orders"], a["closed_trades"], False),
        ("loose", b["orders"], b["closed_trades"], True),
    ]
    assert runs[1]["params"]["threshold"] == 0.6 and runs[0]["params"]["threshold"] == 0.7
    table = cli(["runs", "--db", url], tmp_path)
    assert table.returncode == 0 and "loose *" in table.stdout

    # the read commands: the latest run unless --run names one, and they say which
    latest = json.loads(cli(["trades", "--db", url, "--json", "--limit", "0"], tmp_path).stdout)
    dflt = json.loads(cli(["trades", "--db", url, "--json", "--limit", "0", "--run", "default"],
                          tmp_path).stdout)
    assert (len(latest), len(dflt)) == (b["closed_trades"], a["closed_trades"])
    assert {t["run"] for t in latest} == {"loose"} and {t["run"] for t in dflt} == {"default"}
    orders = cli(["orders", "--db", url, "--run", "default"], tmp_path)
    assert orders.returncode == 0 and "run default" in orders.stdout
    acct = json.loads(cli(["account", "--db", url, "--json", "--run", "default"],
                          tmp_path).stdout)
    assert acct["run_id"] == "default" and acct["run_status"] == "finished"
    rep = json.loads(cli(["report", "--db", url, "--json", "--run", "loose"], tmp_path).stdout)
    assert rep["run_id"] == "loose" and rep["rows"][-1]["trades"] == b["closed_trades"]
    out = tmp_path / "t.csv"
    exp = cli(["export", "trades", "--db", url, "--run", "default", "--out", str(out)], tmp_path)
    assert exp.returncode == 0 and "run default" in exp.stdout
    assert len(out.read_text().splitlines()) == a["closed_trades"] + 1
    unknown = cli(["positions", "--db", url, "--run", "nope"], tmp_path)
    assert unknown.returncode == 2 and "no such run" in unknown.stderr
    assert "default, loose" in unknown.stderr and "Traceback" not in unknown.stderr


def test_run_when_same_name_other_parameters_then_refused_and_nothing_written(
        tmp_path: Path, small_data: Path) -> None:
    db = tmp_path / "r.db"
    url = f"sqlite:///{db}"
    first = cli(_args(small_data, "--db", url), tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    before = _dump(db)

    refused = cli(_args(small_data, "--db", url, "--threshold", "0.6", "--sizing", "fixed"),
                  tmp_path)
    assert refused.returncode == 2
    assert "Traceback" not in refused.stderr and refused.stdout == ""
    msg = " ".join(refused.stderr.split())
    assert "run 'default'" in msg and "other parameters" in msg
    assert "threshold: 0.7 -> 0.6" in msg and 'sizing: "confidence" -> "fixed"' in msg
    assert "--run OTHER" in msg
    assert _dump(db) == before  # nothing written: books, state and risk state as they were
    assert _risk_state(url, "default") != "halted"

    # another run with those parameters exists: the refusal names it
    named = cli(_args(small_data, "--db", url, "--threshold", "0.6", "--run", "loose"),
                tmp_path)
    assert named.returncode == 0, named.stderr[-3000:]
    again = cli(_args(small_data, "--db", url, "--threshold", "0.6"), tmp_path)
    assert again.returncode == 2 and "--run loose" in " ".join(again.stderr.split())

    # the same name and parameters resume: nothing left to replay, nothing traded twice
    books = state(url, "default")
    resumed = cli(_args(small_data, "--db", url), tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    out = json.loads(resumed.stdout)
    assert out["resumed_from"] is not None and out["steps"] == 0
    assert state(url, "default") == books


def test_backtest_when_named_then_runs_kept_side_by_side_and_unnamed_replaced(
        tmp_path: Path, small_data: Path) -> None:
    base = ["backtest", "--data", str(small_data / "prices.csv"), "--alerts",
            str(small_data / "alerts.jsonl"), "--json", "--no-progress"]
    url = f"sqlite:///{tmp_path}/var/backtest.db"
    unnamed = cli(base, tmp_path)
    tight = cli([*base, "--run", "tight", "--threshold", "0.8"], tmp_path)
    loose = cli([*base, "--run", "loose", "--threshold", "0.6"], tmp_path)
    for r in (unnamed, tight, loose):
        assert r.returncode == 0, r.stderr[-3000:]
    counts = {json.loads(r.stdout)["run_id"]: json.loads(r.stdout)["orders"]
              for r in (unnamed, tight, loose)}
    assert set(counts) == {"backtest", "tight", "loose"}
    assert counts["tight"] < counts["backtest"] < counts["loose"]

    # an unnamed backtest with other parameters replaces only the unnamed one
    redo = cli([*base, "--threshold", "0.75"], tmp_path)
    assert redo.returncode == 0, redo.stderr[-3000:]
    runs = {r["run"]: r for r in json.loads(cli(["runs", "--db", url, "--json"],
                                                 tmp_path).stdout)}
    assert set(runs) == {"backtest", "tight", "loose"}
    assert runs["backtest"]["params"]["threshold"] == 0.75
    assert runs["backtest"]["orders"] == json.loads(redo.stdout)["orders"]
    assert (runs["tight"]["orders"], runs["loose"]["orders"]) == (counts["tight"],
                                                                  counts["loose"])
    refused = cli([*base, "--run", "tight", "--threshold", "0.9"], tmp_path)
    assert refused.returncode == 2 and "threshold: 0.8 -> 0.9" in refused.stderr
    assert "Traceback" not in refused.stderr
