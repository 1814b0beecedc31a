"""The walk-forward use case: planted edge vs noise, resuming, executors."""

from __future__ import annotations

import datetime as dt
import sys
import threading
import types
from pathlib import Path

import numpy as np
import pytest

from adapters.validation.executors import (
    InProcessExecutor,
    ProcessPoolWindowExecutor,
    longest_first,
    make_executor,
)
from adapters.validation.store import JsonWalkForwardStore, MemoryWalkForwardStore
from application.walk_forward import plan_jobs, run_key, walk_forward
from domain.validation.windows import Span, walk_forward_windows
from tests.unit.application.walk_forward_support import ThresholdRunner, planted_edge

N = 2000
DATES = [dt.date(2015, 1, 1) + dt.timedelta(days=i) for i in range(N)]


def _jobs(train: int = 500, test: int = 250):
    ws = walk_forward_windows(N, train=Span(train), test=Span(test), embargo=5)
    return plan_jobs(DATES, ws, {"seed": 0})


def _runner(edge: float, thresholds: tuple[float, ...], seed: int = 1, **kw):
    r, s = planted_edge(N, seed, edge)
    return ThresholdRunner(tuple(r), tuple(s), thresholds, **kw)


def test_a_planted_edge_beats_the_baselines_out_of_sample_and_pbo_is_low() -> None:
    # Candidates from "always long" (-9) to very selective; the signal's sign carries the edge.
    thresholds = (-9.0, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 9.0)
    rep = walk_forward(
        _runner(0.4, thresholds), InProcessExecutor(), _jobs(), MemoryWalkForwardStore(), "k"
    )
    s = rep.summary
    assert s.windows == 5
    assert s.share_beating_buy_and_hold >= 0.8
    assert s.share_beating_random >= 0.8
    assert rep.pbo is not None and rep.pbo.pbo < 0.2
    assert rep.n_trials == 5 * len(thresholds)
    assert s.oos_sharpe > 2.0 > s.bh_sharpe
    js = rep.to_json()
    assert set(js) >= {"windows", "aggregate", "deflated_sharpe", "pbo"}
    assert set(js["windows"][0]) >= {"train_start", "train_end", "test_start", "test_end",
                                     "metrics"}
    assert js["windows"][0]["test_start"] == DATES[505].isoformat()


def test_pure_noise_with_many_candidates_is_overfit() -> None:
    thresholds = tuple(float(x) for x in np.linspace(-2.0, 2.0, 40))
    rng = np.random.default_rng(3)
    r = rng.normal(0.0, 0.01, N)
    runners = [
        ThresholdRunner(tuple(r), tuple(rng.normal(size=N)), thresholds, cost=0.0)
        for _ in range(1)
    ]
    rep = walk_forward(
        runners[0], InProcessExecutor(), _jobs(), MemoryWalkForwardStore(), "noise"
    )
    assert rep.pbo is not None and rep.pbo.pbo >= 0.35
    assert not rep.deflated_sharpe.significant()


def test_an_interrupted_run_resumes_with_the_finished_windows(tmp_path: Path) -> None:
    log = tmp_path / "calls.txt"
    store = JsonWalkForwardStore(tmp_path / "wf")
    jobs = _jobs()
    key = run_key({"seed": 0}, "hash")
    thresholds = (-9.0, 0.0, 9.0)
    with pytest.raises(RuntimeError, match="window 3 interrupted"):
        walk_forward(_runner(0.4, thresholds, log=str(log), fail_on=3),
                     InProcessExecutor(), jobs, store, key)
    assert sorted(store.finished(key)) == [0, 1, 2]
    log.write_text("")
    rep = walk_forward(_runner(0.4, thresholds, log=str(log)), InProcessExecutor(), jobs,
                       store, key)
    assert log.read_text().split() == ["3", "4"]  # windows 0-2 were not run again
    assert rep.resumed == 3
    fresh = walk_forward(_runner(0.4, thresholds), InProcessExecutor(), jobs,
                         MemoryWalkForwardStore(), key)
    assert rep.to_json()["aggregate"] == fresh.to_json()["aggregate"]
    assert (tmp_path / "wf" / key / "report.json").exists()


def test_a_process_pool_gives_the_same_report_as_one_process() -> None:
    thresholds = (-9.0, 0.0, 0.5, 9.0)
    jobs = _jobs()
    one = walk_forward(_runner(0.4, thresholds), InProcessExecutor(), jobs,
                       MemoryWalkForwardStore(), "a")
    two = walk_forward(_runner(0.4, thresholds), ProcessPoolWindowExecutor(2), jobs,
                       MemoryWalkForwardStore(), "a")
    assert one.to_json() == two.to_json()


def test_bad_executor_settings_name_the_option() -> None:
    with pytest.raises(ValueError, match="--executor must be local or ray, got 'dask'"):
        make_executor("dask")
    with pytest.raises(ValueError, match="--workers must be >= 1, got 0"):
        make_executor("local", workers=0)


def test_pool_workers_do_not_run_the_callers_main_script(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Streamlit's AppTest (the dashboard's tests) installs the app as ``__main__`` and leaves
    # it there. A spawned worker re-runs ``__main__``'s file before it takes work; the
    # dashboard's script then opened the default database, failed on its schema, and the
    # worker died: BrokenProcessPool, depending on that database's state.
    script = tmp_path / "host_app.py"
    script.write_text("raise SystemExit('the host script ran in a worker')\n")
    host = types.ModuleType("__main__")
    host.__file__ = str(script)
    monkeypatch.setitem(sys.modules, "__main__", host)
    thresholds = (-9.0, 0.0, 9.0)
    jobs = _jobs()
    one = walk_forward(_runner(0.4, thresholds), InProcessExecutor(), jobs,
                       MemoryWalkForwardStore(), "m")
    two = walk_forward(_runner(0.4, thresholds), ProcessPoolWindowExecutor(2), jobs,
                       MemoryWalkForwardStore(), "m")
    assert one.to_json() == two.to_json()
    assert sys.modules["__main__"] is host  # the caller's module is back in place


def test_a_pool_started_early_serves_the_run_with_its_preloaded_workers() -> None:
    thresholds = (-9.0, 0.0, 9.0)
    jobs = _jobs()
    one = walk_forward(_runner(0.4, thresholds), InProcessExecutor(), jobs,
                       MemoryWalkForwardStore(), "e")
    with ProcessPoolWindowExecutor(2, preload=("json", "numpy")) as ex:
        ex.start()
        two = walk_forward(_runner(0.4, thresholds), ex, jobs, MemoryWalkForwardStore(), "e")
    assert one.to_json() == two.to_json()


def test_longest_windows_are_handed_out_first() -> None:
    ws = walk_forward_windows(N, train=Span(500), test=Span(250), scheme="anchored", embargo=5)
    jobs = plan_jobs(DATES, ws, {})
    order = [j.index for j in longest_first(jobs)]
    assert order == sorted(order, reverse=True)  # anchored: the last window is the longest
    rolling = _jobs()
    assert [j.index for j in longest_first(rolling)] == [j.index for j in rolling]


def test_a_pool_may_fork_a_process_with_one_thread_and_spawns_otherwise() -> None:
    thresholds = (-9.0, 0.0, 9.0)
    jobs = _jobs()
    one = walk_forward(_runner(0.4, thresholds), InProcessExecutor(), jobs,
                       MemoryWalkForwardStore(), "f")
    forking = ProcessPoolWindowExecutor(2, preload=("json",), fork_when_safe=True)
    two = walk_forward(_runner(0.4, thresholds), forking, jobs, MemoryWalkForwardStore(), "f")
    assert one.to_json() == two.to_json()
    expected = "fork" if sys.platform == "linux" and threading.active_count() == 1 else "spawn"
    assert forking.start_method == expected
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        with_thread = ProcessPoolWindowExecutor(2, fork_when_safe=True)
        three = walk_forward(_runner(0.4, thresholds), with_thread, jobs,
                             MemoryWalkForwardStore(), "f")
    finally:
        stop.set()
        other.join()
    assert with_thread.start_method == "spawn"  # never fork a process with other threads
    assert three.to_json() == one.to_json()
