"""Benchmark: ``catalyst rl walk-forward`` with 2 worker processes against 1.

Run from the repository root::

    .venv/bin/python bench/bench_walk_forward.py [--timesteps 8192] [--repeats 3] [--json out.json]

Each repeat runs the command once with ``--workers 1`` and once with ``--workers 2`` (in
alternating order, so a change of the machine's load hits both), each with an empty
``--state-dir``, on the bundled sample (``--windows 4 --algo ppo --seed 0``), and times the
whole command (interpreter start, feature loading, worker start-up and the report included).
The one-minute load average is recorded before and after every run, and the cores other work
used on average while it ran (the machine's busy CPU time from /proc/stat less the command's
own): on a machine shared with other work the speed-up is only as clean as the cores are
free. The reports of the two runs must agree except for each window's ``seconds``; a difference is an error.

``--profile`` measures instead, in CPU seconds (which other work on the machine inflates far
less than wall-clock time), the parts of the same run: the parent's start (interpreter and
CLI imports), its loading of the features, a fresh worker's start (interpreter and the
imports of the RL stack), each window, and the report. From them it derives the wall time
one and two workers would take on two free cores (the parent's start, then the features
loaded while the workers start -- spawned: an interpreter and every import; forked: the RL
stack's imports only -- then the windows shared longest first, then the report): a model
from measured parts, printed as such.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _catalyst() -> list[str]:
    exe = Path(sys.executable).with_name("catalyst")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "entrypoints.cli.app"]


def run_once(
    workers: int, timesteps: int, windows: int, state: Path, root: Path = ROOT
) -> dict[str, Any]:
    """Run the command once (from the checkout ``root``); return its wall time, window
    seconds, load and report."""
    cmd = [
        *_catalyst(), "rl", "walk-forward", "--windows", str(windows), "--algo", "ppo",
        "--timesteps", str(timesteps), "--seed", "0", "--workers", str(workers),
        "--state-dir", str(state), "--db", "none", "--json",
    ]
    env = dict(os.environ, PYTHONPATH=str(root))
    load_before = os.getloadavg()[0]
    busy0, ours0 = _busy_cpu_s(), os.times()
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    busy1, ours1 = _busy_cpu_s(), os.times()
    load_after = os.getloadavg()[0]
    ours = (ours1.children_user - ours0.children_user) + (
        ours1.children_system - ours0.children_system)
    others = None if busy0 is None or busy1 is None else max(0.0, busy1 - busy0 - ours) / wall
    if proc.returncode != 0:
        raise SystemExit(f"walk-forward with {workers} workers failed:\n{proc.stderr[-3000:]}")
    report = json.loads(proc.stdout)
    return {
        "workers": workers,
        "wall_s": round(wall, 3),
        "window_s": [w["seconds"] for w in report["windows"]],
        "load_before": round(load_before, 2),
        "load_after": round(load_after, 2),
        "cpu_s": round(ours, 2),
        "other_work_cores": None if others is None else round(others, 2),
        "report": report,
    }


def _busy_cpu_s() -> float | None:
    """CPU seconds the whole machine has been busy (all processes), from /proc/stat."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return None
    ticks = [int(x) for x in fields]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _comparable(report: dict[str, Any]) -> dict[str, Any]:
    out = json.loads(json.dumps(report))
    for w in out["windows"]:
        w.pop("seconds", None)
    return out


_PARENT_START = """
import time
t0 = time.process_time()
import entrypoints.cli.app  # noqa: F401
from entrypoints.cli.rl import walk_forward  # noqa: F401
t1 = time.process_time()
import adapters.rl.walk_forward  # noqa: F401
import adapters.rl.training  # noqa: F401
print(t1 - t0)
print(time.process_time() - t1)
"""

_WORKER_START = """
import time
t0 = time.process_time()
import adapters.rl.walk_forward  # noqa: F401
import adapters.rl.training  # noqa: F401
print(time.process_time() - t0)
"""


def _cpu_of(code: str) -> tuple[list[float], float]:
    """Run ``code`` in a fresh interpreter; return (the CPU seconds it prints, its whole
    process's CPU seconds)."""
    before = os.times()
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, text=True,
                         capture_output=True, env=dict(os.environ, PYTHONPATH=str(ROOT))).stdout
    after = os.times()
    whole = (after.children_user - before.children_user) + (
        after.children_system - before.children_system)
    return [float(x) for x in out.split()], whole


def profile(timesteps: int, windows: int) -> dict[str, Any]:
    """CPU seconds of each part of a run, and the two-core model built from them."""
    sys.path.insert(0, str(ROOT))
    import datetime as dt

    import adapters.rl.training  # noqa: F401  (imported up front: windows are timed alone)
    from adapters.data.features import feature_panel, sample_features
    from adapters.rl.env import EnvConfig
    from adapters.rl.walk_forward import RlWindowRunner, panel_calendar
    from adapters.validation.executors import longest_first
    from adapters.validation.store import MemoryWalkForwardStore
    from application.walk_forward import plan_jobs, walk_forward
    from domain.validation.windows import last_windows
    from entrypoints.settings import Settings

    (parent_import, rl_import), parent_proc = _cpu_of(_PARENT_START)
    (worker_import,), worker_proc = _cpu_of(_WORKER_START)
    t0 = time.process_time()
    panel = feature_panel(sample_features())
    calendar = panel_calendar(panel)
    load = time.process_time() - t0
    days = [dt.date.fromisoformat(d) for d in calendar]
    jobs = plan_jobs(days, last_windows(len(days), windows, embargo=5), {})
    runner = RlWindowRunner(panel=panel, calendar=tuple(calendar), algo="ppo",
                            timesteps=timesteps, seed=0,
                            env_config=EnvConfig(costs=Settings().cost_model()))
    per_window: dict[int, float] = {}
    results = []
    for job in jobs:
        t0 = time.process_time()
        results.append(runner(job))
        per_window[job.index] = time.process_time() - t0

    class _Done:
        def run(self, _runner: Any, _jobs: Any) -> Any:
            return iter(results)

    t0 = time.process_time()
    walk_forward(runner, _Done(), jobs, MemoryWalkForwardStore(), "profile").to_json()
    report = time.process_time() - t0
    # Two free cores. One worker: everything in one process, the RL imports before the first
    # window. Two workers: the pool starts before the features are loaded; windows go to the
    # first free worker, longest first; the first window of each worker pays what the first
    # window in one process paid over the others (warm-up).
    parent_start = parent_proc - rl_import  # the CLI imports the RL stack only in a window
    one = parent_start + load + rl_import + sum(per_window.values()) + report
    first = jobs[0].index
    rest = sorted(v for k, v in per_window.items() if k != first)
    warm = max(0.0, per_window[first] - rest[len(rest) // 2]) if rest else 0.0

    def shared(start: float) -> float:
        free = [start, start]
        used = [False, False]
        for job in longest_first(jobs):
            k = free.index(min(free))
            cost = per_window[job.index] - (warm if job.index == first else 0.0)
            free[k] += cost + (0.0 if used[k] else warm)
            used[k] = True
        return max(free)

    two = parent_start + shared(max(load, worker_proc)) + report
    # Forked workers (what the command does on Linux): forked at once with the parent's
    # imports, they import the RL stack on top while the parent loads the features.
    two_fork = parent_start + shared(max(load, rl_import)) + report
    out = {
        "cpu_s": {
            "parent_start": round(parent_start, 3), "parent_imports": round(parent_import, 3),
            "rl_imports_in_parent": round(rl_import, 3),
            "load_features": round(load, 3), "worker_start": round(worker_proc, 3),
            "worker_imports": round(worker_import, 3),
            "windows": {str(k): round(v, 3) for k, v in per_window.items()},
            "report": round(report, 3),
            "first_window_warm_up": round(warm, 3),
        },
        "model_two_free_cores": {
            "one_worker_s": round(one, 2),
            "two_spawned_workers_s": round(two, 2), "speedup_spawned": round(one / two, 3),
            "two_forked_workers_s": round(two_fork, 2),
            "speedup_forked": round(one / two_fork, 3),
        },
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    print(json.dumps(out, indent=2))
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser()
    p.add_argument("--timesteps", type=int, default=8192)
    p.add_argument("--windows", type=int, default=4)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--profile", action="store_true",
                   help="CPU seconds of each part of a run and the two-core model")
    args = p.parse_args(argv)
    if args.profile:
        res = profile(args.timesteps, args.windows)
        if args.json is not None:
            args.json.write_text(json.dumps(res, indent=2))
        return res

    pairs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-wf-") as tmp:
        for k in range(args.repeats):
            order = (1, 2) if k % 2 == 0 else (2, 1)
            runs = {
                w: run_once(w, args.timesteps, args.windows, Path(tmp) / f"r{k}w{w}")
                for w in order
            }
            if _comparable(runs[1]["report"]) != _comparable(runs[2]["report"]):
                raise SystemExit(f"repeat {k}: the reports of 1 and 2 workers differ")
            pair = {
                "one": {x: v for x, v in runs[1].items() if x != "report"},
                "two": {x: v for x, v in runs[2].items() if x != "report"},
                "speedup": round(runs[1]["wall_s"] / runs[2]["wall_s"], 3),
            }
            pairs.append(pair)
            print(
                f"repeat {k}: 1 worker {pair['one']['wall_s']:.2f} s "
                f"(load {pair['one']['load_before']}-{pair['one']['load_after']}, other work "
                f"{pair['one']['other_work_cores']} cores), "
                f"2 workers {pair['two']['wall_s']:.2f} s "
                f"(load {pair['two']['load_before']}-{pair['two']['load_after']}, other work "
                f"{pair['two']['other_work_cores']} cores), "
                f"speed-up {pair['speedup']:.2f}x",
                flush=True,
            )
    one = [p_["one"]["wall_s"] for p_ in pairs]
    two = [p_["two"]["wall_s"] for p_ in pairs]
    result = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "platform": platform.platform()},
        "settings": {"timesteps": args.timesteps, "windows": args.windows,
                     "repeats": args.repeats},
        "pairs": pairs,
        "median_one_s": statistics.median(one),
        "median_two_s": statistics.median(two),
        "speedup_of_medians": round(statistics.median(one) / statistics.median(two), 3),
        "best_pair_speedup": max(p_["speedup"] for p_ in pairs),
        "speedup_of_minima": round(min(one) / min(two), 3),
    }
    print(
        f"median 1 worker {result['median_one_s']:.2f} s, 2 workers {result['median_two_s']:.2f} s:"
        f" {result['speedup_of_medians']:.2f}x (of the fastest runs: "
        f"{result['speedup_of_minima']:.2f}x)"
    )
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
