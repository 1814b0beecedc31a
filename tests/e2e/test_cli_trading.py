"""``catalyst backtest`` / ``catalyst run`` as a user runs them: subprocesses on real data.

Traceability alert -> signal -> order -> fills -> position -> closed position in the database,
identical re-runs, SIGKILL mid-replay then resume (nothing traded twice, same final state as
an uninterrupted run), and a bad alerts file (counted, reported, nothing half-written).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import pandas as pd
import pytest

from adapters.data.sample import sample_paths
from application.ports import UnitOfWork

CATALYST = str(Path(sys.executable).parent / "catalyst")
pytestmark = pytest.mark.slow


def cli(args: list[str], cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CATALYST_LOG_LEVEL": "WARNING", "CATALYST_KILL_FILE": str(cwd / "KILL")}
    return subprocess.run([CATALYST, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env, check=False)


def sql_uow(url: str, run: str = "default") -> UnitOfWork:
    """A unit of work on run ``run`` (``catalyst run``'s default; backtests: "backtest")."""
    from adapters.sqlalchemy import make_engine, sql_uow_factory

    return cast(UnitOfWork, sql_uow_factory(make_engine(url), run_id=run)())


@pytest.fixture(scope="module")
def small_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two years of five tickers from the bundled sample (fast, still trades)."""
    d = tmp_path_factory.mktemp("data")
    df = pd.read_csv(sample_paths().prices)
    df = df[(df.date < "2015-01-01") & df.ticker.isin(["AAPL", "AMZN", "JPM", "MSFT", "XOM"])]
    df.to_csv(d / "prices.csv", index=False)
    alerts = [json.loads(x) for x in sample_paths().alerts.read_text().splitlines()]
    keep = [a for a in alerts if a["ticker"] in {"AAPL", "AMZN", "JPM", "MSFT", "XOM"}
            and a["known_at"] < "2015-01-01"]
    (d / "alerts.jsonl").write_text("".join(json.dumps(a) + "\n" for a in keep))
    return d


def state(url: str, run: str = "default") -> dict[str, Any]:
    """The business content of a run: orders, fills, closed positions (ids included)."""
    uow = sql_uow(url, run)
    with uow as u:
        orders = u.orders.list()
        fills = {o.client_order_id: [(f.fill_id, f.quantity, f.price)
                                     for f in u.fills.for_order(o.client_order_id)]
                 for o in orders}
        return {
            "orders": [(o.client_order_id, o.status.value, o.filled_qty, o.avg_fill_price,
                        o.request.signal_id) for o in orders],
            "fills": fills,
            "closed": [(c.position_id, c.ticker, c.quantity, c.entry_price, c.exit_price,
                        c.realized_pnl, c.exit_reason.value) for c in u.positions.list_closed()],
            "open": [(p.position_id, p.quantity) for p in u.positions.list_open()],
        }


def test_backtest_when_bundled_sample_then_trades_traceable_in_database(
        tmp_path: Path) -> None:
    r = cli(["backtest", "--json", "--no-progress"], tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout)
    assert out["status"] == "finished" and out["closed_trades"] > 20
    assert out["bad_alert_lines"] == 0
    report = tmp_path / "var" / "reports" / out["run_id"]
    for f in ("report.html", "equity.png", "trades.csv", "metrics.json"):
        assert (report / f).stat().st_size > 0
    url = f"sqlite:///{tmp_path}/var/backtest.db"
    alert_ids = {json.loads(x)["id"] for x in sample_paths().alerts.read_text().splitlines()}
    assert out["run_id"] == "backtest"
    uow = sql_uow(url, "backtest")
    with uow as u:
        closed = u.positions.list_closed()
        assert len(closed) == out["closed_trades"]
        for c in closed:
            entry = u.orders.get(c.entry_order_id or "")
            exit_ = u.orders.get(c.exit_order_id or "")
            assert entry is not None and exit_ is not None
            sid = entry.request.signal_id or ""
            assert sid.removeprefix("sig-") in alert_ids  # alert -> signal
            assert c.signal_id == sid  # signal -> position
            ef = u.fills.for_order(entry.client_order_id)
            xf = u.fills.for_order(exit_.client_order_id)
            assert sum(f.quantity for f in ef) == c.quantity == sum(f.quantity for f in xf)
            assert exit_.request.position_id == c.position_id
            rows = u.journal.executions(signal_id=sid)
            assert {"submit", "fill"} <= {row.stage for row in rows}


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


def test_run_when_sigkilled_mid_replay_then_resume_equals_uninterrupted_run(
        tmp_path: Path, small_data: Path) -> None:
    args = ["run", "--broker", "sim", "--data", str(small_data / "prices.csv"), "--alerts",
            str(small_data / "alerts.jsonl"), "--json", "--no-progress"]
    ref_url = f"sqlite:///{tmp_path}/ref.db"
    r = cli([*args, "--db", ref_url], tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    reference = state(ref_url)
    assert len(reference["closed"]) > 5

    db = tmp_path / "killed.db"
    url = f"sqlite:///{db}"
    env = {**os.environ, "CATALYST_LOG_LEVEL": "WARNING"}
    p = subprocess.Popen([CATALYST, *args, "--db", url, "--speed", str(86400 * 40)],
                         cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            c = _cursor(db)
            if c is not None and c >= "2013-09-01":
                break
            time.sleep(0.1)
        else:  # pragma: no cover
            pytest.fail("the run never reached 2013-09")
        p.send_signal(signal.SIGKILL)
        p.wait(10)
    finally:
        if p.poll() is None:  # pragma: no cover
            p.kill()
    killed_at = _cursor(db)
    assert killed_at is not None and killed_at < "2014-12-31"
    r2 = cli([*args, "--db", url], tmp_path)
    assert r2.returncode == 0, r2.stderr[-3000:]
    out = json.loads(r2.stdout)
    assert out["resumed_from"] is not None and out["status"] == "finished"
    resumed = state(url)
    sids = [o[4] for o in resumed["orders"] if o[0].startswith("ct-catalyst-entry")]
    assert len(sids) == len(set(sids))  # no alert traded twice
    assert resumed == reference


def test_run_when_sigterm_then_step_finished_and_exit_0(tmp_path: Path, small_data: Path
                                                         ) -> None:
    db = tmp_path / "t.db"
    env = {**os.environ, "CATALYST_LOG_LEVEL": "WARNING"}
    p = subprocess.Popen([CATALYST, "run", "--data", str(small_data / "prices.csv"), "--alerts",
                          str(small_data / "alerts.jsonl"), "--db", f"sqlite:///{db}",
                          "--speed", str(86400 * 40), "--json", "--no-progress"],
                         cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    deadline = time.monotonic() + 120
    while _cursor(db) is None and time.monotonic() < deadline:
        time.sleep(0.1)
    p.send_signal(signal.SIGTERM)
    stdout, _ = p.communicate(timeout=60)
    assert p.returncode == 0
    assert json.loads(stdout)["status"] == "interrupted"


def test_backtest_when_bad_alerts_file_then_counted_reported_and_nothing_half_written(
        tmp_path: Path, small_data: Path) -> None:
    good = (small_data / "alerts.jsonl").read_text().splitlines()
    bad = [
        '{"id": "x1", "ticker": "AAPL", "known_at": "2013-05-01T13:30:00Z"}',
        '{"id": "x2", "ticker": "AAPL", "known_at": ',
        json.dumps({"id": "x3", "ticker": "ZZZZ", "known_at": "2013-05-01T13:30:00Z",
                    "score": 1.0, "sentiment": 1.0}),
        '{"id": "x4", "ticker": "AAPL", "known_at": "2013-05-01T13:30:00Z", "score": NaN}',
        json.dumps({"id": "x5", "ticker": "AAPL", "known_at": "2099-05-01T13:30:00Z",
                    "score": 1.0, "sentiment": 1.0}),
        '{"id": "x6", "headline": "' + "x" * (10 * 1024 * 1024) + '"}',
    ]
    lines = good[:5] + bad + good[5:]
    (tmp_path / "bad.jsonl").write_text("\n".join(lines) + "\n")
    r = cli(["backtest", "--data", str(small_data / "prices.csv"), "--alerts", "bad.jsonl",
             "--json", "--no-progress"], tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout)
    assert out["bad_alert_lines"] == 6
    assert out["status"] == "finished" and out["closed_trades"] > 0
    issues = pd.read_csv(tmp_path / "var" / "reports" / out["run_id"] / "alert_issues.csv")
    assert list(issues["line"]) == [6, 7, 8, 9, 10, 11]
    reasons = " | ".join(issues["reason"])
    for text in ("missing field", "bad JSON", "unknown ticker", "finite", "future timestamp",
                 "line too long"):
        assert text in reasons
    from adapters.sqlalchemy import check_integrity, make_engine

    assert check_integrity(make_engine(f"sqlite:///{tmp_path}/var/backtest.db")) == []
    uow = sql_uow(f"sqlite:///{tmp_path}/var/backtest.db", "backtest")
    with uow as u:
        sids = {o.request.signal_id for o in u.orders.list()}
    assert not any(s and s.startswith("sig-x") for s in sids)


def test_backtest_when_rerun_then_identical_results_and_views_read_them(
        tmp_path: Path, small_data: Path) -> None:
    args = ["backtest", "--data", str(small_data / "prices.csv"), "--alerts",
            str(small_data / "alerts.jsonl"), "--no-progress"]
    r = cli([*args, "--json"], tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    run_id = json.loads(r.stdout)["run_id"]
    db = f"sqlite:///{tmp_path}/var/backtest.db"
    first = state(db, run_id)
    metrics = tmp_path / "var" / "reports" / run_id / "metrics.json"
    metrics1 = json.loads(metrics.read_text())["metrics"]
    r = cli(args, tmp_path)  # the table output this time
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Performance" in r.stdout and "sharpe" in r.stdout
    assert state(db, run_id) == first
    assert json.loads(metrics.read_text())["metrics"] == metrics1
    trades = json.loads(cli(["trades", "--db", db, "--json", "--limit", "0"], tmp_path).stdout)
    assert len(trades) > 0
    orders = json.loads(cli(["orders", "--db", db, "--json", "--limit", "0"], tmp_path).stdout)
    assert len(orders) >= 2 * len(trades)
    acct = json.loads(cli(["account", "--db", db, "--json"], tmp_path).stdout)
    assert Decimal(acct["equity"]) > 0
    rep = json.loads(cli(["report", "--db", db, "--period", "monthly", "--json"],
                         tmp_path).stdout)
    assert rep["period"] == "monthly" and len(rep["rows"]) > 1
    assert cli(["positions", "--db", db], tmp_path).returncode == 0
    for fmt in ("csv", "parquet"):
        e = cli(["export", "trades", "--db", db, "--format", fmt, "--out", f"t.{fmt}"],
                tmp_path)
        assert e.returncode == 0, e.stderr
        df = pd.read_csv(tmp_path / "t.csv") if fmt == "csv" else pd.read_parquet(
            tmp_path / "t.parquet")
        assert len(df) == len(trades)
    bad = cli(["report", "--db", db, "--period", "yearly"], tmp_path)
    assert bad.returncode == 2 and "--period 'yearly'" in bad.stderr
    assert "Traceback" not in bad.stderr
