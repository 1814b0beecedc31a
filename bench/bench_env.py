"""Benchmark: CatalystTradingEnv against a tickets-style baseline on real AAPL bars.

Run from the repository root::

    .venv/bin/python bench/bench_env.py [--steps 300000] [--baseline-steps 3000]
                                        [--ppo-steps 8192] [--json out.json]

It reports, in one run on one machine:

1. steps per second of the baseline (per-step ``df.loc`` and pandas windows) and of our
   env, stepping with the same seeded random actions over the bundled AAPL daily bars,
   and their ratio;
2. that both produce equal observations and rewards over a whole AAPL episode (the
   largest absolute difference per feature, in float32);
3. the env's share of the wall time of Stable-Baselines3 PPO training.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.data.features import sample_features, sample_panel
from adapters.rl.env import CatalystTradingEnv, EnvConfig
from bench.baseline_env import TicketStyleEnv
from domain.market_data.features import OBSERVATION_FEATURES

TICKER = "AAPL"


def _rate(env: Any, actions: np.ndarray) -> float:
    env.reset(seed=0)
    t0 = time.perf_counter()
    for a in actions:
        _, _, term, trunc, _ = env.step(a)
        if term or trunc:
            env.reset()
    return len(actions) / (time.perf_counter() - t0)


def speed(steps: int, baseline_steps: int) -> dict[str, float]:
    """Return steps/s of both envs and the ratio."""
    frame = sample_features()
    df = frame[frame["ticker"] == TICKER].reset_index(drop=True)
    ours = CatalystTradingEnv(sample_panel()[TICKER])
    base = TicketStyleEnv(df)
    rng = np.random.default_rng(0)
    acts = rng.uniform(-1, 1, size=(max(steps, baseline_steps), 1)).astype(np.float32)
    _rate(ours, acts[:2000])  # warm caches
    base_rate = _rate(base, acts[:baseline_steps])
    our_rate = max(_rate(ours, acts[:steps]) for _ in range(3))
    return {
        "baseline_steps_per_s": base_rate,
        "env_steps_per_s": our_rate,
        "ratio": our_rate / base_rate,
        "bars": float(len(df)),
    }


def parity() -> dict[str, Any]:
    """Step both envs through a whole AAPL episode with the same actions; compare."""
    frame = sample_features()
    df = frame[frame["ticker"] == TICKER].reset_index(drop=True)
    ours = CatalystTradingEnv(sample_panel()[TICKER])
    base = TicketStyleEnv(df)
    o1, _ = ours.reset(options={"start": 0})
    o2, _ = base.reset()
    obs_a, obs_b, rew_a, rew_b = [o1], [o2], [], []
    rng = np.random.default_rng(42)
    done = False
    while not done:
        a = rng.uniform(-1, 1, size=1).astype(np.float32)
        o1, r1, d1, _, _ = ours.step(a)
        o2, r2, d2, _, _ = base.step(a)
        obs_a.append(o1)
        obs_b.append(o2)
        rew_a.append(r1)
        rew_b.append(r2)
        assert d1 == d2
        done = d1
    a_, b_ = np.array(obs_a, dtype=np.float64), np.array(obs_b, dtype=np.float64)
    diff = np.abs(a_ - b_)
    rel = diff / np.maximum(np.abs(b_), 1e-3)
    worst = {n: float(rel[:, j].max()) for j, n in enumerate(OBSERVATION_FEATURES)}
    return {
        "steps": len(rew_a),
        "max_rel_diff_by_feature": worst,
        "max_rel_diff": float(rel.max()),
        "max_reward_abs_diff": float(np.max(np.abs(np.array(rew_a) - np.array(rew_b)))),
    }


class _Timed:
    """Gymnasium wrapper that adds up the wall time spent in reset() and step()."""

    def __init__(self, env: CatalystTradingEnv) -> None:
        import gymnasium as gym

        class W(gym.Wrapper):  # type: ignore[type-arg]
            spent = 0.0

            def step(self, action: Any) -> Any:
                t = time.perf_counter()
                out = self.env.step(action)
                W.spent += time.perf_counter() - t
                return out

            def reset(self, **kw: Any) -> Any:
                t = time.perf_counter()
                out = self.env.reset(**kw)
                W.spent += time.perf_counter() - t
                return out

        self.cls = W
        self.env = W(env)


def ppo_share(total: int) -> dict[str, float]:
    """Return the env's share of SB3 PPO ``learn()`` wall time."""
    import torch
    from stable_baselines3 import PPO

    torch.set_num_threads(1)
    timed = _Timed(
        CatalystTradingEnv(sample_panel("train"), EnvConfig(episode_length=252))
    )
    model = PPO(
        "MlpPolicy", timed.env, n_steps=2048, batch_size=64, seed=0, device="cpu"
    )
    t0 = time.perf_counter()
    model.learn(total_timesteps=total)
    wall = time.perf_counter() - t0
    return {
        "ppo_steps": float(total),
        "ppo_wall_s": wall,
        "env_s": timed.cls.spent,
        "env_share": timed.cls.spent / wall,
    }


def main() -> None:
    """Run the benchmark and print (or save) its results."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=300_000)
    p.add_argument("--baseline-steps", type=int, default=3_000)
    p.add_argument("--ppo-steps", type=int, default=8_192)
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    res: dict[str, Any] = {
        "machine": f"{platform.processor() or platform.machine()}, Python {platform.python_version()}",
        "speed": speed(args.steps, args.baseline_steps),
        "parity": parity(),
    }
    if args.ppo_steps > 0:
        res["ppo"] = ppo_share(args.ppo_steps)
    s = res["speed"]
    print(f"baseline (tickets' style): {s['baseline_steps_per_s']:>12,.0f} steps/s")
    print(f"CatalystTradingEnv:        {s['env_steps_per_s']:>12,.0f} steps/s")
    print(f"ratio:                     {s['ratio']:>12,.0f} x")
    pr = res["parity"]
    print(
        f"parity over {pr['steps']} steps: max relative obs diff {pr['max_rel_diff']:.2e}, "
        f"max reward diff {pr['max_reward_abs_diff']:.2e}"
    )
    if "ppo" in res:
        q = res["ppo"]
        print(
            f"PPO {q['ppo_steps']:.0f} steps: {q['ppo_wall_s']:.1f} s, env {q['env_s']:.2f} s "
            f"= {100 * q['env_share']:.2f} % of training time"
        )
    if args.json:
        args.json.write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
