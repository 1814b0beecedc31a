"""Replay benchmark: our simulated exchange against backtrader, backtesting.py, vectorbt and
NautilusTrader on the same SMA(10)/SMA(30) long-only crossover over the same bars.

Run: ``.venv/bin/python -m bench replay`` (or ``python bench/bench_replay.py``). The peers
are installed from PyPI into ``var/bench-venv`` by this script on first use (``--no-peers``
skips them) and run there as subprocesses, one after the other, in the same session as
ours. Results go to ``var/bench/replay.json`` (and ``replay-<UTC time>.json``);
``docs/benchmarks.md`` shows the table.

Bars: a bootstrap of the bundled real AAPL daily bars (open/high/low/close ratios to the
previous close and the volume of a randomly drawn real day, seed 7), stamped one minute
apart, so every size (10 k ... 1 M) has real-looking returns and the same generator.

Measures
- per-bar event-driven replay (``run_strategy`` + a Python ``SmaCross`` strategy, the
  simulated exchange matching every bar) vs each peer, bars/s and ratio, same bars;
- fills equal to backtrader's (bar index, side, price), and the first difference if any;
- sparse mode (``SparseReplay``): a catalyst-like alert every ~2,000 bars enters a
  bracket (+8 % / -4 %), per-bar equity curve still produced, at 1 M bars;
- peak RSS of a streamed per-bar replay (CSV read in chunks, lean exchange, constant
  equity sink) at 10 k and 1 M bars, each in a fresh process.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

OUT = ROOT / "var" / "bench"
VENV = ROOT / "var" / "bench-venv"
PEER_SCRIPT = ROOT / "bench" / "peers" / "run_peer.py"
PEER_PACKAGES = ["backtrader", "backtesting", "vectorbt", "plotly<6", "nautilus_trader"]
SAMPLE = ROOT / "adapters" / "data" / "sample" / "prices_daily.csv"
T0 = int(np.datetime64("2000-01-03T14:31", "ns").astype(np.int64))


# ------------------------------------------------------------------------------ bars
def make_bars(n: int, seed: int = 7) -> dict[str, np.ndarray]:
    """Return ``n`` synthetic one-minute bars bootstrapped from real AAPL daily ratios."""
    import pandas as pd

    df = pd.read_csv(SAMPLE)
    a = df[df["ticker"] == "AAPL"].sort_values("date")
    prev = a["close"].to_numpy()[:-1]
    ro = a["open"].to_numpy()[1:] / prev
    rh = a["high"].to_numpy()[1:] / prev
    rl = a["low"].to_numpy()[1:] / prev
    rc = a["close"].to_numpy()[1:] / prev
    vol = a["volume"].to_numpy()[1:]
    k = np.random.default_rng(seed).integers(0, len(rc), n)
    # mean-revert the drift so 1 M bars stay in a sane price range
    lr = np.log(rc[k])
    lr -= lr.mean()
    close_prev = 100.0 * np.exp(np.concatenate(([0.0], np.cumsum(lr)[:-1])))
    close = np.round(close_prev * np.exp(lr), 2)
    op = np.round(close_prev * ro[k], 2)
    hi = np.round(np.maximum.reduce([op, close, close_prev * rh[k]]), 2)
    lo = np.round(np.minimum.reduce([op, close, close_prev * rl[k]]), 2)
    ts = T0 + np.arange(n, dtype=np.int64) * 60_000_000_000
    return {"ts": ts, "open": op, "high": hi, "low": lo, "close": close,
            "volume": vol[k].astype(np.float64)}


def _bars_file(n: int) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    p = OUT / f"bars_{n}.npz"
    if not p.exists():
        np.savez(p, **make_bars(n))  # type: ignore[arg-type]
    return p


# ------------------------------------------------------------------------------ ours
def _exchange(lean: bool = False) -> Any:
    from adapters.simulated import ExchangeConfig, SimulatedExchange
    from adapters.simulated.replay import ReplayClock

    clock = ReplayClock()
    cfg = ExchangeConfig(starting_cash=Decimal(10_000_000), calendar=None, participation=None,
                         history=0, emit_events=not lean, retain_closed=not lean)
    return SimulatedExchange(cfg, clock=clock), clock


def run_ours(bars: dict[str, np.ndarray], repeat: int = 3) -> dict[str, Any]:
    """Per-bar replay with the Python SMA strategy; best of ``repeat``; fills of the last."""
    from adapters.simulated.examples import SmaCross
    from adapters.simulated.replay import ArraySource, EquityRecorder, ReplayEngine, run_strategy
    from adapters.simulated.sessions import ns_from_dt
    from domain.events import OrderFilled

    best = float("inf")
    fills: list[list[Any]] = []
    n = len(bars["ts"])
    for _ in range(repeat):
        ex, clock = _exchange()
        src = ArraySource("SYN", bars["ts"], bars["open"], bars["high"], bars["low"],
                          bars["close"], bars["volume"])
        eq = EquityRecorder()
        t = time.perf_counter()
        run_strategy(ReplayEngine(src, clock), ex, SmaCross(10, 30, 100), eq)
        best = min(best, time.perf_counter() - t)
        evs = [e for e in ex.poll_events() if isinstance(e, OrderFilled)]
        idx = np.searchsorted(bars["ts"], [ns_from_dt(e.ts_event) for e in evs])
        fills = [[int(i), e.fill.side.value, float(e.fill.price)] for i, e in zip(
            idx, evs, strict=True)]
        assert len(eq.equity) == n
    return {"seconds": best, "bars": n, "bars_per_s": n / best, "fills": fills}


def run_sparse(bars: dict[str, np.ndarray], every: int = 2000) -> dict[str, Any]:
    """Sparse alerts + bracket orders through SparseReplay, and the same through a dense loop."""
    from adapters.simulated.replay import BarView, StrategyContext
    from adapters.simulated.sparse import SparseReplay

    n = len(bars["ts"])
    sig = np.arange(every // 2, n, every)

    def on_alert(bar: BarView, ctx: StrategyContext) -> None:
        if ctx.position(bar.ticker) == 0 and not ctx.exchange.has_working(bar.ticker):
            px = bar.close
            ctx.buy(bar.ticker, 100, order_class="bracket", time_in_force="gtc",
                    take_profit_price=Decimal(str(round(px * 1.08, 2))),
                    stop_loss_price=Decimal(str(round(px * 0.96, 2))))

    ex, clock = _exchange()
    t = time.perf_counter()
    sp = SparseReplay(ex, "SYN", bars["ts"], bars["open"], bars["high"], bars["low"],
                      bars["close"], bars["volume"])
    eq = sp.run(sig, on_alert)
    secs = time.perf_counter() - t
    sparse_fills = ex.fill_count
    # the same with every bar through the exchange (dense), for the speed-up and equality
    dex, dclock = _exchange()
    ctx = StrategyContext(dex, "sparse")
    view = BarView()
    sigset = set(sig.tolist())
    deq = np.empty(n)
    t = time.perf_counter()
    on_bar = dex.on_bar
    for i, (ts, o, h, lo, c, v) in enumerate(zip(
            bars["ts"].tolist(), bars["open"].tolist(), bars["high"].tolist(),
            bars["low"].tolist(), bars["close"].tolist(), bars["volume"].tolist(), strict=True)):
        dclock._ns = ts
        on_bar("SYN", ts, o, h, lo, c, v)
        if i in sigset:
            view.ticker, view.ts_ns, view.index = "SYN", ts, i
            view.open, view.high, view.low, view.close, view.volume = o, h, lo, c, v
            on_alert(view, ctx)
        deq[i] = dex.equity_f()
    dsecs = time.perf_counter() - t
    return {"bars": n, "seconds": secs, "bars_per_s": n / secs, "alerts": len(sig),
            "bars_processed": sp.events_processed, "fills": sparse_fills,
            "dense_seconds": dsecs, "dense_bars_per_s": n / dsecs,
            "equal_to_dense": bool(np.allclose(eq, deq, rtol=1e-12)
                                   and sparse_fills == dex.fill_count),
            "equity_points": len(eq)}


# ------------------------------------------------------------------------------ memory
def _hwm_kib() -> int:
    # VmHWM, not ru_maxrss: Linux keeps ru_maxrss across exec, so a child started by a
    # parent holding 1 M bars would report the parent's peak
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def _child_memory(n: int) -> None:
    """Stream ``n`` bars from CSV through the per-bar loop and print peak RSS (KiB)."""

    from adapters.simulated.examples import SmaCross
    from adapters.simulated.replay import CsvSource, EquityStats, ReplayEngine, run_strategy

    path = OUT / f"bars_{n}.csv"
    base = _hwm_kib()
    ex, clock = _exchange(lean=True)
    stats = EquityStats()
    t = time.perf_counter()
    run_strategy(ReplayEngine(CsvSource(path, ticker="SYN", ts_is_end=True,
                                        chunk_size=50_000), clock), ex,
                 SmaCross(10, 30, 100), stats)
    secs = time.perf_counter() - t
    peak = _hwm_kib()
    print(json.dumps({"bars": stats.n, "peak_rss_kib": peak, "rss_before_kib": base,
                      "seconds": secs, "fills": ex.fill_count}))


def run_memory(sizes: list[int]) -> list[dict[str, Any]]:
    """Return the peak RSS of a streamed replay of each size, each in a fresh process."""
    import pandas as pd

    out = []
    for n in sizes:
        csv = OUT / f"bars_{n}.csv"
        if not csv.exists():
            b = make_bars(n)
            pd.DataFrame({"timestamp_utc": pd.to_datetime(b["ts"], unit="ns", utc=True)
                          .strftime("%Y-%m-%dT%H:%M:%SZ"),
                          **{k: b[k] for k in ("open", "high", "low", "close", "volume")}}
                         ).to_csv(csv, index=False)
        r = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child-memory",
                            str(n)], capture_output=True, text=True, check=True, cwd=ROOT)
        out.append(json.loads(r.stdout.strip().splitlines()[-1]))
    return out


# ------------------------------------------------------------------------------ peers
def ensure_venv() -> Path | None:
    """Create ``var/bench-venv`` with the peers from PyPI if missing; return its python."""
    py = VENV / "bin" / "python"
    if not py.exists():
        print(f"creating {VENV} and installing {', '.join(PEER_PACKAGES)} from PyPI ...")
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        r = subprocess.run([str(py), "-m", "pip", "install", "-q", *PEER_PACKAGES], check=False)
        if r.returncode != 0:
            print("installing all peers failed; trying one by one")
            for p in PEER_PACKAGES:
                subprocess.run([str(py), "-m", "pip", "install", "-q", p], check=False)
    return py if py.exists() else None


#: best of how many runs per peer (backtrader is slow enough for one run to be stable)
PEER_REPEAT = {"backtrader": 1, "backtesting": 3, "nautilus": 3, "vectorbt": 3}


def run_peer(py: Path, peer: str, bars_file: Path, timeout: int = 300) -> dict[str, Any]:
    """Run one peer in the bench venv; return its JSON or the reason it failed."""
    out = OUT / f"peer_{peer}.json"
    out.unlink(missing_ok=True)
    try:
        r = subprocess.run([str(py), str(PEER_SCRIPT), peer, str(bars_file), str(out),
                            str(PEER_REPEAT.get(peer, 1))],
                           check=False, capture_output=True, text=True, timeout=timeout,
                           env={**os.environ, "PYTHONWARNINGS": "ignore"})
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s"}
    if r.returncode != 0 or not out.exists():
        return {"error": (r.stderr or r.stdout).strip().splitlines()[-1:]}
    return dict(json.loads(out.read_text()))


def compare_fills(ours: list[list[Any]], theirs: list[list[Any]]) -> dict[str, Any]:
    """Return equality of two fill lists and the first difference."""
    first = next(({"index": i, "ours": a, "theirs": b} for i, (a, b) in enumerate(
        zip(ours, theirs, strict=False)) if a[0] != b[0] or a[1] != b[1] or
        abs(a[2] - b[2]) > 1e-9), None)
    if first is None and len(ours) != len(theirs):
        k = min(len(ours), len(theirs))
        first = {"index": k, "ours": ours[k:k + 1], "theirs": theirs[k:k + 1]}
    return {"equal": first is None, "ours": len(ours), "theirs": len(theirs),
            "first_difference": first}


# ------------------------------------------------------------------------------ main
def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the replay benchmark and write ``var/bench/replay.json``."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--peer-bars", type=int, default=20_000,
                   help="bars for the per-bar comparison with every peer")
    p.add_argument("--big-bars", type=int, default=1_000_000,
                   help="bars for our per-bar, sparse and vectorbt runs")
    p.add_argument("--peers", default="backtrader,backtesting,nautilus,vectorbt")
    p.add_argument("--no-peers", action="store_true")
    p.add_argument("--no-memory", action="store_true")
    p.add_argument("--child-memory", type=int, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.child_memory:
        _child_memory(a.child_memory)
        return {}
    OUT.mkdir(parents=True, exist_ok=True)
    res: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(), "machine": platform.machine(),
        "cpus": os.cpu_count(), "numpy": np.__version__,
    }
    small = make_bars(a.peer_bars)
    big = make_bars(a.big_bars)
    print(f"ours, per-bar, {a.peer_bars:,} bars ...", flush=True)
    res["ours_small"] = run_ours(small)
    print(f"ours, per-bar, {a.big_bars:,} bars ...", flush=True)
    res["ours_big"] = run_ours(big, repeat=1)
    print(f"ours, sparse, {a.big_bars:,} bars ...", flush=True)
    res["sparse_big"] = run_sparse(big)
    res["peers"] = {}
    if not a.no_peers:
        py = ensure_venv()
        for peer in [x for x in a.peers.split(",") if x]:
            n = a.big_bars if peer == "vectorbt" else a.peer_bars
            if py is None:
                res["peers"][peer] = {"error": "bench venv could not be created"}
                continue
            print(f"{peer}, {n:,} bars ...", flush=True)
            # the machine is shared: time ours right next to each peer, on the same bars
            near = run_ours(small if n == a.peer_bars else big, repeat=3 if n < 10**6 else 1)
            r = run_peer(py, peer, _bars_file(n))
            r["ours_bars_per_s_same_time"] = near["bars_per_s"]
            res["peers"][peer] = r
        ours_rate = res["ours_small"]["bars_per_s"]
        for peer, r in res["peers"].items():
            if "bars_per_s" in r:
                r["ours_ratio"] = r["ours_bars_per_s_same_time"] / r["bars_per_s"]
                r["sparse_ratio"] = res["sparse_big"]["bars_per_s"] / r["bars_per_s"]
            if r.get("fills"):
                theirs = r["fills"]
                if peer == "nautilus":  # its fill event arrives before that bar's on_bar
                    theirs = [[f[0] + 1, f[1], f[2]] for f in theirs]
                r["fills_vs_ours"] = compare_fills(res["ours_small"]["fills"], theirs)
                r["fills_count"] = len(r.pop("fills"))
        _ = ours_rate
    if not a.no_memory:
        print("memory, streamed per-bar replay ...", flush=True)
        res["memory"] = run_memory(sorted({10_000, 100_000, a.big_bars}))
    res["ours_small"]["fills_count"] = len(res["ours_small"].pop("fills"))
    res["ours_big"]["fills_count"] = len(res["ours_big"].pop("fills"))
    text = json.dumps(res, indent=2, default=str)
    stamp = res["date"].replace(":", "").replace("-", "")[:13]
    (OUT / f"replay-{stamp}.json").write_text(text)  # kept: a smoke run cannot erase it
    (OUT / "replay.json").write_text(text)
    print_table(res)
    return res


def print_table(res: dict[str, Any]) -> None:
    """Print the headline numbers as a Markdown table."""
    rows = [("ours, per-bar Python strategy", res["ours_small"]["bars"],
             res["ours_small"]["bars_per_s"], ""),
            ("ours, per-bar Python strategy", res["ours_big"]["bars"],
             res["ours_big"]["bars_per_s"], ""),
            ("ours, sparse (event-skipping)", res["sparse_big"]["bars"],
             res["sparse_big"]["bars_per_s"], "")]
    for peer, r in res.get("peers", {}).items():
        if "bars_per_s" in r:
            rows.append((f"{peer} {r.get('version', '')}", r["bars"], r["bars_per_s"],
                         f"{r['ours_ratio']:.1f} x (ours {r['ours_bars_per_s_same_time']:,.0f})"))
        else:
            rows.append((peer, 0, 0.0, f"failed: {r.get('error')}"))
    print("| run | bars | bars/s | ours (per-bar) / peer |")
    print("|---|---:|---:|---:|")
    for name, n, rate, ratio in rows:
        print(f"| {name} | {n:,} | {rate:,.0f} | {ratio} |")
    for peer, r in res.get("peers", {}).items():
        if "fills_vs_ours" in r:
            print(f"fills vs {peer}: {r['fills_vs_ours']}")
    for m in res.get("memory", []):
        print(f"memory: {m['bars']:,} bars peak RSS {m['peak_rss_kib'] / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
