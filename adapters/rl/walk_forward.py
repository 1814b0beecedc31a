"""The RL window runner of ``catalyst rl walk-forward``.

:class:`RlWindowRunner` is a picklable :class:`application.ports.WindowRunner`: for one
window it cuts the panel to the train bars, keeps the train window's last fifth (after an
embargo) as its own validation split, trains the candidates there -- one model, ``K`` tuning
trials, or PPO, SAC and A2C plus their Sharpe-weighted ensemble -- picks the best by
validation Sharpe, and runs every candidate, buy-and-hold and a seeded random agent over the
test bars with the environment's cost model (:data:`domain.costs.DEFAULT_COSTS`, the
backtests' default). Out-of-sample returns are those of an equal-weight portfolio of the
tickers (one sub-account per ticker, their values summed).
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np
from numpy.typing import NDArray

from adapters.rl.agents import load_sb3_model, run_episodes
from adapters.rl.ensemble import EnsembleAgent, ensemble_weights
from adapters.rl.env import EnvConfig
from adapters.rl.evaluate import Agent, BuyAndHoldAgent, RandomAgent
from domain.analytics import metrics as perf
from domain.market_data.features import TickerFeatures
from domain.rl.episodes import EpisodeMetrics, mean_metrics
from domain.validation.jobs import WindowJob, WindowResult

__all__ = ["ALGOS", "RlWindowRunner", "panel_calendar", "portfolio_returns", "slice_panel"]

ALGOS = ("ppo", "sac", "a2c", "ensemble")
F64 = NDArray[np.float64]


def panel_calendar(panel: Mapping[str, TickerFeatures]) -> list[str]:
    """Return every date of the panel's tickers, ascending, as ISO strings."""
    days = np.unique(np.concatenate([tf.dates.astype("datetime64[D]") for tf in panel.values()]))
    return [str(d) for d in days]


def slice_panel(
    panel: Mapping[str, TickerFeatures], first: str, last: str
) -> dict[str, TickerFeatures]:
    """Return each ticker's bars dated ``first``..``last`` (tickers with fewer than 2 left out)."""
    lo, hi = np.datetime64(first, "D"), np.datetime64(last, "D")
    out: dict[str, TickerFeatures] = {}
    for t, tf in panel.items():
        d = tf.dates.astype("datetime64[D]")
        keep = (d >= lo) & (d <= hi)
        if int(keep.sum()) < 2:
            continue
        out[t] = TickerFeatures(
            t, tf.dates[keep], tf.open[keep], tf.close[keep], tf.features[keep],
            None if tf.high is None else tf.high[keep], None if tf.low is None else tf.low[keep],
        )
    return out


def portfolio_returns(episodes: Sequence[EpisodeMetrics]) -> F64:
    """Return the per-period returns of the tickers' summed values (carried over gaps)."""
    if not episodes:
        return np.zeros(0, dtype=np.float64)
    days = sorted({d for e in episodes for d in e.dates})
    index = {d: i for i, d in enumerate(days)}
    total = np.zeros(len(days), dtype=np.float64)
    for e in episodes:
        v = np.full(len(days), np.nan)
        for d, x in zip(e.dates, e.values, strict=True):
            v[index[d]] = x
        first = int(np.argmax(~np.isnan(v)))
        v[:first] = e.values[0]
        for i in range(1, len(v)):
            if np.isnan(v[i]):
                v[i] = v[i - 1]
        total += v
    return np.asarray(perf.returns_from_equity(total), dtype=np.float64)


@attrs.frozen
class _Candidate:
    label: str
    params: dict[str, Any]
    agent: Agent
    val_episodes: list[EpisodeMetrics]


@attrs.frozen(kw_only=True)
class RlWindowRunner:
    """Train and test one walk-forward window (see the module docstring).

    Parameters
    ----------
    panel
        Every bar of every ticker (warm-up dropped), e.g. ``feature_panel(frame)``.
    calendar
        The run's dates (:func:`panel_calendar`); jobs' bar ranges index it.
    algo
        ``ppo``, ``sac``, ``a2c`` or ``ensemble``.
    timesteps
        Training budget of each model.
    tune_trials
        Hyper-parameter trials per window (0: the defaults); not with ``ensemble``.
    seed
        Seeds training, the tuning sampler and the random baseline.
    env_config
        Costs, fill rule and reward of the environment.
    validation_share, embargo
        The train window's own validation split: its last ``validation_share`` of bars,
        ``embargo`` bars after the bars trained on.
    """

    panel: Mapping[str, TickerFeatures]
    calendar: tuple[str, ...]
    algo: str = "ppo"
    timesteps: int = 20_000
    tune_trials: int = 0
    seed: int = 0
    env_config: EnvConfig = attrs.field(factory=EnvConfig)
    validation_share: float = 0.2
    embargo: int = 5

    def __attrs_post_init__(self) -> None:
        if self.algo not in ALGOS:
            raise ValueError(f"--algo must be one of {', '.join(ALGOS)}, got {self.algo!r}")
        if self.timesteps < 1:
            raise ValueError(f"--timesteps must be >= 1, got {self.timesteps}")
        if self.tune_trials < 0:
            raise ValueError(f"--tune-trials must be >= 0, got {self.tune_trials}")
        if self.tune_trials and self.algo == "ensemble":
            raise ValueError("--tune-trials works with one algorithm, not --algo ensemble")

    def __call__(self, job: WindowJob) -> WindowResult:
        """Train on the job's train bars, test on its test bars."""
        started = time.perf_counter()
        a, b, c, d = job.bars
        n_val = max(2, round((b - a) * self.validation_share))
        fit_stop = b - n_val - self.embargo
        if fit_stop - a < 3:
            raise ValueError(
                f"window {job.index}: {b - a} train bars are too few for a validation split "
                f"of {n_val} bars and an embargo of {self.embargo}"
            )
        cal = self.calendar
        fit = slice_panel(self.panel, cal[a], cal[fit_stop - 1])
        val = slice_panel(self.panel, cal[b - n_val], cal[b - 1])
        test = slice_panel(self.panel, cal[c], cal[d - 1])
        if not fit or not val or not test:
            raise ValueError(f"window {job.index}: no ticker has bars in every split")
        length = max(2, min(252, min(len(tf) for tf in fit.values()) - 1))
        train_env = attrs.evolve(self.env_config, episode_length=length)
        with tempfile.TemporaryDirectory(prefix="catalyst-wf-") as tmp:
            cands = self._candidates(fit, val, train_env, Path(tmp), job.index)
            sharpes = [_period_sharpe(portfolio_returns(x.val_episodes)) for x in cands]
            chosen = int(np.nanargmax(np.asarray(sharpes))) if cands else 0
            out_cands: list[dict[str, Any]] = []
            chosen_eps: list[EpisodeMetrics] = []
            for k, cand in enumerate(cands):
                eps = run_episodes(test, cand.agent, self.env_config)
                vr = portfolio_returns(cand.val_episodes)
                out_cands.append({
                    "label": cand.label,
                    "params": _jsonable(cand.params),
                    "is_sharpe": sharpes[k],
                    "is_annual_return": perf.annual_return(vr),
                    "oos_returns": [float(x) for x in portfolio_returns(eps)],
                })
                if k == chosen:
                    chosen_eps = eps
        bh = run_episodes(test, BuyAndHoldAgent(), self.env_config)
        rnd = run_episodes(test, RandomAgent(self.seed + job.index), self.env_config)
        return WindowResult(
            index=job.index, train_start=job.train_start, train_end=job.train_end,
            test_start=job.test_start, test_end=job.test_end, chosen=chosen,
            metrics=mean_metrics(chosen_eps),
            baselines={"buy_and_hold": mean_metrics(bh), "random": mean_metrics(rnd)},
            oos_returns=tuple(out_cands[chosen]["oos_returns"]),
            bh_returns=tuple(float(x) for x in portfolio_returns(bh)),
            random_returns=tuple(float(x) for x in portfolio_returns(rnd)),
            candidates=tuple(out_cands),
            seconds=round(time.perf_counter() - started, 3),
        )

    # ------------------------------------------------------------------ candidates

    def _train_one(
        self,
        algo: str,
        hyperparams: Mapping[str, Any],
        fit: Mapping[str, TickerFeatures],
        val: Mapping[str, TickerFeatures],
        env: EnvConfig,
        out: Path,
    ) -> _Candidate:
        from adapters.rl.training import TrainConfig, train

        cfg = TrainConfig(
            algo=algo, timesteps=self.timesteps, seed=self.seed, hyperparams=dict(hyperparams),
            env_config=env,
        )
        res = train(fit, val, cfg, out)
        agent = _model_agent(algo, res.model_path)
        return _Candidate(algo, dict(res.hyperparams), agent,
                          run_episodes(val, agent, self.env_config))

    def _candidates(
        self,
        fit: Mapping[str, TickerFeatures],
        val: Mapping[str, TickerFeatures],
        env: EnvConfig,
        tmp: Path,
        index: int,
    ) -> list[_Candidate]:
        if self.algo == "ensemble":
            members = [
                self._train_one(a, {}, fit, val, env, tmp / a) for a in ("ppo", "sac", "a2c")
            ]
            sharpes = [_period_sharpe(portfolio_returns(m.val_episodes)) for m in members]
            weights = ensemble_weights([s if math.isfinite(s) else 0.0 for s in sharpes])
            ens = EnsembleAgent([m.agent for m in members], weights)
            members.append(_Candidate(
                "ensemble", {"weights": [round(w, 4) for w in weights]}, ens,
                run_episodes(val, ens, self.env_config),
            ))
            return members
        if self.tune_trials == 0:
            return [self._train_one(self.algo, {}, fit, val, env, tmp / "model")]
        import optuna

        from adapters.rl.tune import sample_hyperparams

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(
            direction="maximize", sampler=optuna.samplers.TPESampler(seed=self.seed + index)
        )
        out: list[_Candidate] = []
        for k in range(self.tune_trials):
            trial = study.ask()
            hp = sample_hyperparams(trial, self.algo)
            cand = self._train_one(self.algo, hp, fit, val, env, tmp / f"trial{k}")
            value = _period_sharpe(portfolio_returns(cand.val_episodes))
            study.tell(trial, value if math.isfinite(value) else 0.0)
            out.append(attrs.evolve(cand, label=f"{self.algo} trial {k}"))
        return out


def _model_agent(algo: str, path: Path) -> Agent:
    from adapters.rl.agents import ModelAgent

    return ModelAgent(load_sb3_model(algo, path))


def _period_sharpe(r: F64) -> float:
    if r.size < 2:
        return math.nan
    sd = float(r.std(ddof=1))
    return float(r.mean()) / sd if sd > 0 else 0.0


def _jsonable(v: Any) -> Any:
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, bool | int | float | str) or v is None:
        return v
    if isinstance(v, np.generic):
        return v.item()
    return repr(v)
