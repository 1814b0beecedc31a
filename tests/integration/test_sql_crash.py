"""Crash safety: SIGKILL a writer at random (seeded) moments; nothing committed is lost.

A forked child writes orders, fills and positions through ``SqlUnitOfWork`` in a loop and
reports each committed order id after ``commit`` returns. The parent kills it with SIGKILL
(sometimes before its first commit, even during the first migration), then reopens the
database: it must open, pass ``check_integrity`` (SQLite's ``PRAGMA integrity_check``,
foreign keys, every fill belongs to its order, order and position quantities equal the sum of
their fills, no orphans) and hold every reported id.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from adapters.sqlalchemy import check_integrity, make_engine
from adapters.sqlalchemy import tables as t
from tests.integration.sql_crash_child import write_forever

KILLS = 50
SEED = 20240302


def _committed(log: Path) -> list[str]:
    if not log.exists():
        return []
    text = log.read_text()
    lines = text.split("\n")
    return [x for x in lines[:-1] if x]  # the last piece is empty or a torn line


def _wait_for_commits(log: Path, n: int, proc: multiprocessing.process.BaseProcess,
                      timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    start = len(_committed(log))
    while time.monotonic() < deadline and proc.is_alive():
        if len(_committed(log)) >= start + n:
            return
        time.sleep(0.002)


def _kill_loop(url: str, log: Path) -> dict[str, int]:
    ctx = multiprocessing.get_context("fork")
    rnd = random.Random(SEED)
    stats = {"kills": 0, "early": 0, "unreported": 0, "max_orders": 0}
    for gen in range(KILLS):
        proc = ctx.Process(target=write_forever, args=(url, str(log), SEED + gen, gen),
                           daemon=True)
        proc.start()
        if gen < 3 or rnd.random() < 0.1:
            time.sleep(rnd.uniform(0.0, 0.05))  # may land in startup or the migration
            stats["early"] += 1
        else:
            _wait_for_commits(log, rnd.randint(1, 3), proc)
            time.sleep(rnd.uniform(0.0, 0.03))
        assert proc.is_alive(), f"writer {gen} died by itself (exit {proc.exitcode})"
        assert proc.pid is not None
        os.kill(proc.pid, signal.SIGKILL)
        proc.join(10)
        assert proc.exitcode == -signal.SIGKILL
        stats["kills"] += 1

        engine = make_engine(url)
        try:
            problems = check_integrity(engine)
            assert problems == [], f"after kill {gen}: {problems[:10]}"
            with engine.connect() as conn:
                stored = set(conn.execute(select(t.orders.c.client_order_id)).scalars())
        finally:
            engine.dispose()
        reported = _committed(log)
        lost = [cid for cid in reported if cid not in stored]
        assert not lost, f"after kill {gen}: committed orders lost: {lost[:10]}"
        stats["unreported"] += len(stored) - len(reported)
        stats["max_orders"] = len(stored)
    return stats


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_sigkill_sqlite_writer_50_times_then_integrity_holds_and_no_commit_lost(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'crash' / 'catalyst.db'}"
    stats = _kill_loop(url, tmp_path / "committed.log")
    assert stats["kills"] >= KILLS
    assert stats["max_orders"] > KILLS  # the writers did real work between kills
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        engine.dispose()


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_sigkill_postgresql_writer_50_times_then_integrity_holds_and_no_commit_lost(
    postgresql_url: str, tmp_path: Path,
) -> None:
    stats = _kill_loop(postgresql_url, tmp_path / "committed.log")
    assert stats["kills"] >= KILLS
    assert stats["max_orders"] > KILLS
