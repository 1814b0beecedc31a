"""One process per run: the run lease on SQLite and PostgreSQL, in one process and in two."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from adapters.sqlalchemy import make_engine
from adapters.sqlalchemy.lease import RunLease, RunLeaseHeld, pid_alive
from adapters.sqlalchemy.tables import run_leases

T0 = datetime(2026, 1, 5, 12, tzinfo=UTC)
CLI = [sys.executable, "-c", "from entrypoints.cli.app import main; main()"]


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'lease.db'}"
    return str(request.getfixturevalue("postgresql_url"))


class Clock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> datetime:
        return self.t


def test_second_holder_is_refused_naming_the_first(url: str) -> None:
    eng = make_engine(url)
    clock = Clock()
    a = RunLease(eng, "r", ttl=60, host="h1", pid=111, now=clock, alive=lambda _: True)
    a.acquire()
    b = RunLease(eng, "r", ttl=60, host="h2", pid=222, now=clock, alive=lambda _: True)
    with pytest.raises(RunLeaseHeld) as ei:
        b.acquire()
    msg = str(ei.value)
    assert "pid 111 on host h1 since 2026-01-05T12:00:00" in msg and "'r'" in msg
    # another run name is free
    RunLease(eng, "other", host="h2", pid=222, now=clock).acquire()
    # renewed, the lease does not expire
    clock.t += timedelta(seconds=50)
    assert a.renew()
    clock.t += timedelta(seconds=50)
    with pytest.raises(RunLeaseHeld):
        b.acquire()
    a.release()
    b.acquire()  # released: free at once
    assert b.taken_over is None
    eng.dispose()


def test_expired_lease_is_taken_over_and_the_old_holder_learns_it(url: str) -> None:
    eng = make_engine(url)
    clock = Clock()
    a = RunLease(eng, "r", ttl=60, host="h1", pid=111, now=clock, alive=lambda _: True)
    a.acquire()
    clock.t += timedelta(seconds=61)  # h1 stopped renewing
    b = RunLease(eng, "r", ttl=60, host="h2", pid=222, now=clock, alive=lambda _: True)
    b.acquire()
    assert b.taken_over is not None and b.taken_over.pid == 111
    assert not a.renew()  # the old holder's renewal fails: it must stop
    a.release()  # and its release does not free b's lease
    with eng.connect() as c:
        assert c.execute(select(run_leases.c.pid)).scalars().all() == [222]
    eng.dispose()


def test_dead_holder_on_the_same_host_is_taken_over_at_once(url: str) -> None:
    eng = make_engine(url)
    clock = Clock()
    RunLease(eng, "r", host="h1", pid=111, now=clock).acquire()
    live = RunLease(eng, "r", host="h1", pid=222, now=clock, alive=lambda p: p != 111)
    live.acquire()
    assert live.taken_over is not None and live.taken_over.pid == 111
    # a holder on another host is not judged by its pid: it must expire
    other = RunLease(eng, "r", host="h3", pid=333, now=clock, alive=lambda _: False)
    with pytest.raises(RunLeaseHeld):
        other.acquire()
    eng.dispose()


def test_pid_alive_tells_a_reaped_and_a_zombie_child_from_a_live_one() -> None:
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert pid_alive(p.pid)
        p.kill()
        deadline = time.monotonic() + 10
        while pid_alive(p.pid) and time.monotonic() < deadline:  # a zombie until reaped
            time.sleep(0.05)
        assert not pid_alive(p.pid)
    finally:
        p.kill()
        p.wait()
    assert not pid_alive(p.pid)
    assert pid_alive(os.getpid())


def _lease_row(url: str) -> tuple[int, str] | None:
    eng = make_engine(url)
    try:
        with eng.connect() as c:
            row = c.execute(select(run_leases.c.pid, run_leases.c.host)).first()
        return None if row is None else (row.pid, row.host)
    finally:
        eng.dispose()


@pytest.mark.slow
def test_two_run_processes_on_one_database(url: str, tmp_path: Path) -> None:
    env = {**os.environ, "CATALYST_KILL_FILE": str(tmp_path / "KILL"),
           "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    args = [*CLI, "run", "--broker", "sim", "--db", url, "--json", "--report", str(tmp_path / "r")]
    first = subprocess.Popen([*args, "--speed", str(86400 * 20)], cwd=tmp_path, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while (held := _lease_row(url) if first.poll() is None else None) is None:
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "the first run never took its lease"
            time.sleep(0.2)
        assert held[0] == first.pid
        second = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True,
                                timeout=120, check=False)
        assert second.returncode == 1, second.stdout + second.stderr
        assert "in use by another process" in second.stderr
        assert f"pid {first.pid} on host" in second.stderr.replace("\n", " ")
        assert "Traceback" not in second.stderr
        first.send_signal(signal.SIGKILL)
        first.wait()
        # the holder died: the next run takes the lease over and finishes the run
        third = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True,
                               timeout=300, check=False)
        assert third.returncode == 0, third.stderr
        assert "took over the lease" in third.stderr.replace("\n", " ")
        assert _lease_row(url) is None  # released at the end
    finally:
        first.kill()
        first.wait()
