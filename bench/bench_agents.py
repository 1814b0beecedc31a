"""Benchmark: a deployed agent's cost per bar, and the pause of a hot-swap.

Run from the repository root::

    .venv/bin/python bench/bench_agents.py [--json out.json]

One core (``torch.set_num_threads(1)``, ``OMP_NUM_THREADS=1``), the default PPO MLP policy
(64 x 64, untrained weights cost the same to run as trained ones), the bundled sample's KO
bars (1,259 daily bars) with their alerts and the equal-weighted benchmark. Measured per bar
after the 60-bar warm-up:

* ``observation``: ``FeatureObservations.push_bar`` + ``market_row`` (the incremental
  market features, bit-identical to the feature file);
* ``inference``: the policy's deterministic action for the 33-feature observation;
* ``step``: the whole ``AgentSignalSource.observe`` + ``poll`` (account features from a
  fixed function, the signal built, the monitor updated, the registry re-read each bar).

Then the swap: the same replay with background loading; version 2 is promoted at bar 600;
reported are the background load time (off the trading path), the pause of the swap itself
at the bar boundary, and the slowest step while the load was in flight against the p99 step.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def _pct(xs: list[float]) -> dict[str, float]:
    a = np.asarray(xs) * 1e3
    return {"mean_ms": round(float(a.mean()), 4), "p50_ms": round(float(np.percentile(a, 50)), 4),
            "p99_ms": round(float(np.percentile(a, 99)), 4), "max_ms": round(float(a.max()), 4),
            "n": int(a.size)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser()
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--ticker", default="KO")
    args = p.parse_args(argv)

    import torch
    from stable_baselines3 import PPO

    torch.set_num_threads(1)
    from adapters.data.alerts import read_alerts
    from adapters.data.features import benchmark_close, feature_panel, sample_features
    from adapters.data.ohlcv import load_ohlcv
    from adapters.data.sample import sample_paths
    from adapters.rl.agents import env_config_json, library_versions
    from adapters.rl.env import CatalystTradingEnv, EnvConfig
    from adapters.rl.inference import FeatureObservations, RegistryPolicyLoader
    from adapters.rl.registry import FileSystemModelRegistry, JsonMetadataStore
    from adapters.sources.market import load_daily_bars
    from application.agents import AgentSignalSource
    from domain.rl.deployment import AgentSpec

    tk = args.ticker
    paths = sample_paths()
    bench = benchmark_close(load_ohlcv(paths.prices))
    closes = {np.datetime64(pd.Timestamp(str(k)).date().isoformat(), "ns"): float(v)
              for k, v in bench.items()}

    def lookup(d: np.datetime64) -> float:
        return closes.get(d, float("nan"))

    alerts = [a for a in read_alerts(paths.alerts) if a.ticker == tk]
    bars = [b for b in load_daily_bars(paths.prices) if b.ticker == tk]
    tmp = Path(tempfile.mkdtemp(prefix="bench_agents_"))
    panel = feature_panel(sample_features(), split="train", tickers=[tk])
    cfg = EnvConfig(episode_length=64)
    model = PPO("MlpPolicy", CatalystTradingEnv(panel, cfg), n_steps=64, batch_size=64,
                seed=0, device="cpu")
    model.save(str(tmp / "model.zip"))
    reg = FileSystemModelRegistry(tmp / "models", JsonMetadataStore(tmp / "models"))
    for seed in (0, 1):
        reg.register("bench", "ppo", str(tmp / "model.zip"), hyperparams={}, data_hash="x",
                     env_config=env_config_json(cfg), seed=seed,
                     library_versions=library_versions(), metrics={})
    reg.promote("bench", 1)
    policy = RegistryPolicyLoader(reg).load(reg.get("bench", 1))

    # observation and inference, separately
    obs_t: list[float] = []
    inf_t: list[float] = []
    fo = FeatureObservations(tk, lookup)
    for a in alerts:
        fo.push_alert(a)
    account = np.array([1.0, 0.0, 1.0], dtype=np.float32)
    for b in bars:
        t0 = time.perf_counter()
        fo.push_bar(b)
        row = fo.market_row()
        t1 = time.perf_counter()
        if row is None:
            continue
        obs = np.concatenate([account, row])
        t2 = time.perf_counter()
        policy.act(obs)
        t3 = time.perf_counter()
        obs_t.append(t1 - t0)
        inf_t.append(t3 - t2)

    def source(background: bool) -> AgentSignalSource:
        src = AgentSignalSource(
            [AgentSpec("bench", None, (tk,))], reg, RegistryPolicyLoader(reg),
            lambda t: FeatureObservations(t, lookup), initial_balance=100_000.0,
            account=lambda t: (100_000.0, 0.0, 100_000.0), background=background,
            check_every=1)
        for a in alerts:
            src.push_alert(a)
        return src

    # whole step, no swap
    src = source(background=False)
    step_t: list[float] = []
    for i, b in enumerate(bars):
        t0 = time.perf_counter()
        src.observe({tk: b})
        src.poll(b.ts)
        if i >= 60:
            step_t.append(time.perf_counter() - t0)

    # hot-swap with background loading
    src = source(background=True)
    during: list[float] = []
    other: list[float] = []
    promoted_at: float | None = None
    ready_after_steps = None
    load_s = None
    for i, b in enumerate(bars):
        if i == 600:
            reg.promote("bench", 2)
            promoted_at = time.perf_counter()
        t0 = time.perf_counter()
        loading = any(s.loading is not None for s in src.slots)
        src.observe({tk: b})
        src.poll(b.ts)
        dt = time.perf_counter() - t0
        if i >= 60:
            (during if loading else other).append(dt)
        if promoted_at is not None and ready_after_steps is None and src.swaps:
            ready_after_steps = i - 600
            load_s = round(time.perf_counter() - promoted_at, 3)
    reg.rollback("bench")
    out = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
                   f"python {platform.python_version()}, torch {torch.__version__}",
        "ticker": tk, "bars": len(bars),
        "observation": _pct(obs_t), "inference": _pct(inf_t),
        "observation_plus_inference": _pct([a + b for a, b in zip(obs_t, inf_t, strict=True)]),
        "step": _pct(step_t),
        "swap": {
            "swaps": src.swaps,
            "pause_ms": src.swaps[0]["pause_ms"] if src.swaps else None,
            "bars_until_swap": ready_after_steps,
            "steps_during_load": _pct(during) if during else None,
            "steps_otherwise": _pct(other),
            "seconds_from_promotion_to_swap": load_s,
        },
    }
    print(json.dumps(out, indent=2, default=str))
    if args.json is not None:
        args.json.write_text(json.dumps(out, indent=2, default=str))
    return out


if __name__ == "__main__":
    main()
