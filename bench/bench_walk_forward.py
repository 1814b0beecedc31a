"""Benchmark: ``catalyst rl walk-forward`` with 2 worker processes against 1.

Run from the repository root::

    .venv/bin/python bench/bench_walk_forward.py [--timesteps 8192] [--repeats 3] [--json out.json]

Each repeat runs the command once with ``--workers 1`` and once with ``--workers 2`` (in
alternating order, so a change of the machine's load hits both), each with an empty
``--state-dir``, on the bundled sample (``--windows 4 --algo ppo --seed 0``), and times the
whole command (interpreter start, feature loading, worker start-up and the report included).
The one-minute load average is recorded before and after every run: on a machine shared with
other work the speed-up is only as clean as the cores are free. The reports of the two runs
must agree except for each window's ``seconds``; a difference is an error.
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


def run_once(workers: int, timesteps: int, windows: int, state: Path) -> dict[str, Any]:
    """Run the command once; return its wall time, window seconds, load and report."""
    cmd = [
        *_catalyst(), "rl", "walk-forward", "--windows", str(windows), "--algo", "ppo",
        "--timesteps", str(timesteps), "--seed", "0", "--workers", str(workers),
        "--state-dir", str(state), "--db", "none", "--json",
    ]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    load_after = os.getloadavg()[0]
    if proc.returncode != 0:
        raise SystemExit(f"walk-forward with {workers} workers failed:\n{proc.stderr[-3000:]}")
    report = json.loads(proc.stdout)
    return {
        "workers": workers,
        "wall_s": round(wall, 3),
        "window_s": [w["seconds"] for w in report["windows"]],
        "load_before": round(load_before, 2),
        "load_after": round(load_after, 2),
        "report": report,
    }


def _comparable(report: dict[str, Any]) -> dict[str, Any]:
    out = json.loads(json.dumps(report))
    for w in out["windows"]:
        w.pop("seconds", None)
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser()
    p.add_argument("--timesteps", type=int, default=8192)
    p.add_argument("--windows", type=int, default=4)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)

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
                f"(load {pair['one']['load_before']}-{pair['one']['load_after']}), "
                f"2 workers {pair['two']['wall_s']:.2f} s "
                f"(load {pair['two']['load_before']}-{pair['two']['load_after']}), "
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
