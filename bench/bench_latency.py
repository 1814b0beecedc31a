"""Benchmark: signal -> order accepted by the simulated exchange, persisted in SQLite.

Run from the repository root::

    .venv/bin/python -m bench latency [-- --signals 2000 --json out.json]

Each signal goes the whole executor path in its own unit of work: validate, size (ATR from the
exchange's bars), trade plan, risk check (RiskService with the tickets' limits, decision
journaled), the order written and committed with its client order id *before* it is sent,
the submit to the simulated exchange (accepted, status ``new``), the execution-log row and the
final commit, on a SQLite file (WAL, ``synchronous=FULL`` as in production, and NORMAL).
Reported: p50 / p99 / max latency per signal and signals per second. The order is canceled
after the measurement (outside the timed region) so buying power stays available.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.data.sample import sample_paths  # noqa: E402
from adapters.memory.notifier import RecordingNotifier  # noqa: E402
from adapters.simulated import ExchangeConfig, SimulatedExchange  # noqa: E402
from adapters.sources.market import load_daily_bars  # noqa: E402
from adapters.sqlalchemy import make_engine, sql_uow_factory  # noqa: E402
from application.executor import ExecutorConfig, OrderExecutor  # noqa: E402
from application.ports import UnitOfWork  # noqa: E402
from application.risk import RiskService  # noqa: E402
from domain.clock import TestClock  # noqa: E402
from domain.risk.config import RiskConfig  # noqa: E402
from domain.signal import Signal  # noqa: E402


def _pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def run(n: int, synchronous: str) -> dict[str, Any]:
    """Measure ``n`` signals; return latencies (ms) and throughput."""
    bars = load_daily_bars(sample_paths().prices)
    last = bars[-1].ts
    history = [b for b in bars if b.ts > last - timedelta(days=90)]
    clock = TestClock(history[0].ts)
    ex = SimulatedExchange(ExchangeConfig(), clock=clock)
    for b in history:
        if b.ts > clock.now():
            clock.set(b.ts)
        ex.push_bar(b)
    tickers = sorted({b.ticker for b in history})
    with tempfile.TemporaryDirectory() as d:
        engine = make_engine(f"sqlite:///{d}/bench.db", synchronous=synchronous)  # type: ignore[arg-type]
        uow = cast(UnitOfWork, sql_uow_factory(engine)())
        risk = RiskService(uow, ex, RecordingNotifier(), clock,
                           RiskConfig(max_price_age_s=5 * 86400), journal_approvals=True)
        executor = OrderExecutor(ex, ex, risk, ExecutorConfig())
        lat: list[float] = []
        accepted = 0
        t_all = time.perf_counter()
        for i in range(n):
            sig = Signal(signal_id=f"bench-{i}", ticker=tickers[i % len(tickers)], action="buy",
                         confidence=0.9, ts=clock.now(), catalyst_score=0.8, strategy="bench")
            t0 = time.perf_counter()
            with uow as u:
                res = executor.execute(sig, u, clock.now())
                u.commit()
            lat.append((time.perf_counter() - t0) * 1000)
            if res.status == "submitted" and res.client_order_id:
                accepted += 1
                ex.cancel_order(res.client_order_id)
                ex.poll_events()
        total = time.perf_counter() - t_all
        engine.dispose()
    return {
        "signals": n, "accepted": accepted, "synchronous": synchronous,
        "p50_ms": round(statistics.median(lat), 3), "p99_ms": round(_pct(lat, 0.99), 3),
        "max_ms": round(max(lat), 3), "mean_ms": round(statistics.fmean(lat), 3),
        "signals_per_s": round(n / total, 1),
    }


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print (and optionally save) the results."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--signals", type=int, default=1000)
    ap.add_argument("--json", type=Path, default=Path("var/bench/latency.json"))
    args = ap.parse_args(argv)
    results = [run(args.signals, "FULL"), run(args.signals, "NORMAL")]
    meta = {"python": platform.python_version(), "machine": platform.machine(),
            "processor": platform.processor() or platform.machine()}
    for r in results:
        print(f"synchronous={r['synchronous']:<6} signals={r['signals']} accepted={r['accepted']}"
              f"  p50={r['p50_ms']:.2f} ms  p99={r['p99_ms']:.2f} ms  max={r['max_ms']:.2f} ms"
              f"  {r['signals_per_s']:.0f} signals/s")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"results": results, **meta}, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
