"""Benchmark: alerts acknowledged per second by the webhook intake, and their latency.

Run from the repository root::

    .venv/bin/python bench/bench_webhook.py [--alerts 4000] [--clients 1 8 32]
        [--synchronous FULL NORMAL] [--json out.json]

``catalyst serve`` runs as a child process on a fresh SQLite file (WAL, ``--synchronous``
FULL as shipped, and NORMAL), with a
bearer token and the rate limit off. Each client thread posts single alerts over keep-alive
HTTP/1.1 on loopback (httpx), one request at a time; an alert counts once the server answered
202, i.e. after the inbox committed it. Reported per client count: acknowledged alerts per
second (wall clock of the whole run), p50 / p99 / max request latency as the client saw it.
The clients share the benchmark process (one GIL), so with many clients part of the latency
is the client's own queueing; the numbers are a floor of what the server does.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "bench-token"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(db: str, port: int, synchronous: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CATALYST_WEBHOOK_TOKEN": TOKEN,
           "CATALYST_LOG_LEVEL": "WARNING"}
    proc = subprocess.Popen(
        [sys.executable, "-c", "from entrypoints.cli.app import main; main()", "serve",
         "--listen", f"127.0.0.1:{port}", "--db", db, "--rate", "0",
         "--synchronous", synchronous],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=1).is_success:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the server did not start")


def _alert(run: int, i: int) -> dict[str, Any]:
    t = datetime(2024, 1, 2, 14, 30, tzinfo=UTC) + timedelta(minutes=i)
    return {"id": f"bench-{run}-{i:06d}", "ticker": "AAPL", "known_at": t.isoformat(),
            "catalyst_type": "earnings", "score": 0.8, "sentiment": 0.5,
            "headline": "EPS beat by 12%"}


def measure(port: int, n: int, clients: int, run: int) -> dict[str, Any]:
    """Post ``n`` alerts from ``clients`` threads; return throughput and latency."""
    lat: list[float] = []
    lock = threading.Lock()
    failures = [0]

    def client(k: int) -> None:
        mine: list[float] = []
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30,
                          headers={"Authorization": f"Bearer {TOKEN}"}) as http:
            http.get("/v1/health")
            for i in range(k, n, clients):
                t0 = time.perf_counter()
                r = http.post("/v1/alerts", json=_alert(run, i))
                mine.append(time.perf_counter() - t0)
                if r.status_code != 202:
                    failures[0] += 1
        with lock:
            lat.extend(mine)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    t0 = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - t0
    lat.sort()
    return {"clients": clients, "alerts": n, "failures": failures[0],
            "acked_per_s": round((n - failures[0]) / wall, 1),
            "p50_ms": round(statistics.median(lat) * 1e3, 2),
            "p99_ms": round(lat[int(0.99 * (len(lat) - 1))] * 1e3, 2),
            "max_ms": round(lat[-1] * 1e3, 2), "wall_s": round(wall, 2)}


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print (and optionally write) the results."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--alerts", type=int, default=4000)
    p.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    p.add_argument("--synchronous", nargs="+", default=["FULL", "NORMAL"])
    p.add_argument("--json", type=Path, default=None)
    a = p.parse_args(argv)
    results: list[dict[str, Any]] = []
    for sync in a.synchronous:
        with tempfile.TemporaryDirectory() as tmp:
            port = _free_port()
            proc = _start(f"sqlite:///{Path(tmp) / 'inbox.db'}", port, sync)
            try:
                measure(port, 200, 2, run=999)  # warm-up
                results += [{"synchronous": sync, **measure(port, a.alerts, c, run=i)}
                            for i, c in enumerate(a.clients)]
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(15)
    out = {"machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python "
                      f"{platform.python_version()}", "results": results}
    print(json.dumps(out, indent=2))
    print("\n| SQLite synchronous | clients | alerts | acknowledged/s | p50 | p99 | max |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['synchronous']} | {r['clients']} | {r['alerts']:,} "
              f"| {r['acked_per_s']:,.0f} | {r['p50_ms']} ms "
              f"| {r['p99_ms']} ms | {r['max_ms']} ms |")
    if a.json is not None:
        a.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
