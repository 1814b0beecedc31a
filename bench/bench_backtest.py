"""``catalyst backtest`` through the whole engine vs the bare replay, on one generated panel.

A synthetic daily panel (``--tickers`` random walks over ``--years`` of XNYS sessions, seeded)
is written to Parquet with an alerts file (one earnings-like alert per ticker per quarter).
Then, each in its own process so that peak memory is its own:

- ``engine``: ``catalyst backtest --data panel.parquet --alerts alerts.jsonl --db sqlite:///...``
  (alerts, sizing, risk breakers, position monitor, SQLite persistence of every step);
- ``replay``: the bare array replay (``run_strategy`` with a do-nothing strategy over the same
  Parquet file: matching, clock, per-bar equity).

Bars per second is the panel's rows over the wall time of the run (the engine's includes
loading the file and writing the report; the process start-up is not counted). The engine's
second row is the command's own ``wall_seconds``: loading the file and the replay through the
engine, without the HTML report written after it. Peak RSS is the child's ``ru_maxrss``.
``--out`` appends the table to a Markdown file.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

_CHILD = "bench.bench_backtest"


def make_panel(folder: Path, tickers: int, years: int, alerts_per_year: float = 4.0,
               seed: int = 7) -> tuple[Path, Path, int]:
    """Write ``prices.parquet`` and ``alerts.jsonl`` into ``folder``; return them and the row
    count."""
    import exchange_calendars as xcals

    rng = np.random.default_rng(seed)
    cal = xcals.get_calendar("XNYS", start="1990-01-02")
    end = pd.Timestamp("2023-12-29")
    start = pd.Timestamp(f"{end.year - years + 1}-01-03")
    days = cal.sessions_in_range(start, end)
    n = len(days)
    frames = []
    alerts = []
    for k in range(tickers):
        tk = f"T{k:03d}"
        ret = rng.normal(0.0003, 0.015, n)
        close = 20.0 * np.exp(np.cumsum(ret)) + 1.0
        open_ = close * (1.0 + rng.normal(0.0, 0.003, n))
        high = np.maximum(open_, close) * (1.0 + np.abs(rng.normal(0.0, 0.004, n)))
        low = np.minimum(open_, close) * (1.0 - np.abs(rng.normal(0.0, 0.004, n)))
        vol = rng.integers(200_000, 2_000_000, n).astype(float)
        frames.append(pd.DataFrame({"date": days.strftime("%Y-%m-%d"), "ticker": tk,
                                    "open": open_.round(2), "high": high.round(2),
                                    "low": low.round(2), "close": close.round(2),
                                    "volume": vol}))
        every = max(1, int(252 / alerts_per_year)) if alerts_per_year > 0 else n
        for i in range(int(rng.integers(10, 60)), n - 1, every):
            day = days[i]
            alerts.append({"id": f"bench-{tk}-{i}", "ticker": tk, "catalyst_type": "earnings",
                           "known_at": f"{day.strftime('%Y-%m-%d')}T14:30:00Z",
                           "score": float(round(rng.uniform(0.72, 0.95), 3)),
                           "sentiment": 1.0, "headline": f"{tk} synthetic alert"})
    df = pd.concat(frames).sort_values(["date", "ticker"], kind="stable")
    prices = folder / "prices.parquet"
    # row groups of 65,536 rows, as a streaming writer makes them: the replay reads one at a time
    df.to_parquet(prices, index=False, row_group_size=65_536)
    alerts.sort(key=lambda a: str(a["known_at"]))
    path = folder / "alerts.jsonl"
    path.write_text("".join(json.dumps(a) + "\n" for a in alerts))
    return prices, path, len(df)


def _child_replay(prices: str) -> None:
    # the bare replay: stream the Parquet file, match, move the clock, record equity
    from adapters.simulated import ExchangeConfig, SimulatedExchange
    from adapters.simulated.replay import EquityStats, ReplayEngine, run_strategy
    from adapters.sources.market import DailyBars

    replay = ReplayEngine(DailyBars(prices))
    ex = SimulatedExchange(ExchangeConfig(emit_events=False), clock=replay.clock)
    t0, c0 = time.perf_counter(), time.process_time()
    run_strategy(replay, ex, lambda bar, ctx: None, equity=EquityStats())
    print(json.dumps({"seconds": time.perf_counter() - t0, "cpu": time.process_time() - c0,
                      "bars": replay.bars_seen}))


def _child_engine(prices: str, alerts: str, db: str, report: str) -> None:
    from typer.testing import CliRunner

    from entrypoints.cli.trading import app

    t0, c0 = time.perf_counter(), time.process_time()
    r = CliRunner().invoke(app, ["backtest", "--data", prices, "--alerts", alerts, "--db", db,
                                 "--report", report, "--json", "--no-progress"])
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    if r.exit_code != 0:
        raise SystemExit(f"backtest failed ({r.exit_code}): {r.output[-2000:]}")
    out = json.loads(r.stdout[r.stdout.index("{"):])
    print(json.dumps({"seconds": dt, "cpu": cpu, "steps": out.get("steps"), "orders": out.get("orders"),
                      "closed": out.get("closed_trades"), "replay": out.get("wall_seconds")}))


def _spawn(args: list[str]) -> tuple[dict[str, float], float]:
    env = {**os.environ, "CATALYST_LOG_LEVEL": "WARNING", "PYTHONHASHSEED": "0"}
    p = subprocess.run([sys.executable, "-m", _CHILD, *args], capture_output=True, text=True,
                       env=env, check=False)
    if p.returncode != 0:
        raise SystemExit(f"{args[0]} child failed: {p.stderr[-3000:]}")
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return json.loads(p.stdout.strip().splitlines()[-1]), ru.ru_maxrss / 1024.0


def main(argv: list[str] | None = None) -> None:
    """Generate the panel, run both sides, print (and optionally append) the table."""
    ap = argparse.ArgumentParser(prog="python -m bench backtest")
    ap.add_argument("--tickers", type=int, default=120)
    ap.add_argument("--years", type=int, default=9)
    ap.add_argument("--alerts-per-year", type=float, default=4.0,
                    help="alerts per ticker per year (earnings: 4; 0: one alert per ticker)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="run both sides this many times, alternating; report the medians")
    ap.add_argument("--out", type=Path, default=None, help="append the table to this file")
    a = ap.parse_args(argv)
    reps: list[dict[str, float]] = []
    engs: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        prices, alerts, rows = make_panel(folder, a.tickers, a.years, a.alerts_per_year)
        # RUSAGE_CHILDREN's maxrss is the largest child so far: run the smaller one first
        rss_rep = 0.0
        for k in range(max(1, a.rounds)):
            rep1, rss = _spawn(["replay", str(prices)])
            rss_rep = rss_rep or rss  # later rounds report the engine's earlier peak
            reps.append(rep1)
            db = folder / f"bt{k}.db"
            eng1, rss_eng = _spawn(["engine", str(prices), str(alerts), f"sqlite:///{db}",
                                    str(folder / f"report{k}")])
            engs.append(eng1)
    rep = {k: statistics.median(r[k] for r in reps) for k in ("seconds", "cpu")}
    eng = {**engs[0], **{k: statistics.median(float(e[k]) for e in engs)
                         for k in ("seconds", "cpu", "replay")}}
    cpus = ", ".join(f"{e['cpu']:.2f}" for e in engs)
    rounds = (f" Medians of {len(engs)} alternating rounds (engine CPU s: {cpus})."
              if len(engs) > 1 else "")
    lines = [
        f"Panel: {a.tickers} tickers x {a.years} years of daily bars = {rows:,} bars, "
        f"{a.alerts_per_year:g} alerts per ticker per year "
        f"(synthetic, seeded); {eng['steps']} steps, {eng['orders']} orders, "
        f"{eng['closed']} closed trades.{rounds}",
        "",
        "| path | wall s | bars/s (wall) | CPU s | bars per CPU s | peak RSS (MiB) |",
        "|---|---:|---:|---:|---:|---:|",
        f"| bare replay (`run_strategy`, Parquet streamed) | {rep['seconds']:.2f} | "
        f"{rows / rep['seconds']:,.0f} | {rep['cpu']:.2f} | {rows / rep['cpu']:,.0f} | "
        f"{rss_rep:.0f} |",
        f"| `catalyst backtest` (alerts, risk, SQLite), whole command | {eng['seconds']:.2f} | "
        f"{rows / eng['seconds']:,.0f} | {eng['cpu']:.2f} | {rows / eng['cpu']:,.0f} | "
        f"{rss_eng:.0f} |",
        f"| ... of which loading and the replay through the engine (`wall_seconds`, no HTML "
        f"report) | {eng['replay']:.2f} | {rows / eng['replay']:,.0f} | | | |",
        "",
        f"Engine / bare replay (CPU, whole command): {rep['cpu'] / eng['cpu']:.3f}; "
        f"bare replay / engine without the report (wall): "
        f"{eng['replay'] / rep['seconds']:.1f} x.",
    ]
    text = "\n".join(lines)
    print(text)
    if a.out is not None:
        with a.out.open("a") as fh:
            fh.write("\n" + text + "\n")


def _child(argv: list[str]) -> None:
    if argv[0] == "replay":
        _child_replay(argv[1])
    else:
        _child_engine(*argv[1:5])


if __name__ == "__main__":
    _child(sys.argv[1:])
