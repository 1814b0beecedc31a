"""Deployed agents: live observations equal the training data's, the guard, hot-swap, monitor.

One tiny PPO model is trained per module (a few hundred timesteps: the tests are about the
plumbing, not the policy's quality) and registered twice in a temporary registry.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pandas as pd
import pytest

from adapters.data.alerts import read_alerts
from adapters.data.features import benchmark_close, feature_panel, sample_features
from adapters.data.ohlcv import load_ohlcv
from adapters.data.sample import sample_paths
from adapters.rl.agents import env_config_json, library_versions, load_agent
from adapters.rl.env import CatalystTradingEnv, EnvConfig
from adapters.rl.inference import (
    FeatureObservations,
    RegistryPolicyLoader,
    feature_stats,
)
from adapters.rl.registry import FileSystemModelRegistry, JsonMetadataStore
from adapters.sources.market import load_daily_bars
from application.agents import AgentSignalSource
from domain.alerts import Alert
from domain.audit import Notification
from domain.market import Bar
from domain.market_data.features import WARMUP_BARS
from domain.rl.deployment import AgentSpec
from domain.rl.models import (
    FEATURE_STATS_KEY,
    IncompatibleEnvConfigError,
    ModelVersion,
    feature_stats_json,
)

TICKER = "KO"


@pytest.fixture(scope="module")
def features() -> pd.DataFrame:
    return sample_features()


@pytest.fixture(scope="module")
def bench() -> Mapping[np.datetime64, float]:
    s = benchmark_close(load_ohlcv(sample_paths().prices))
    return {np.datetime64(pd.Timestamp(k).date().isoformat(), "ns"): float(v)
            for k, v in s.items()}


@pytest.fixture(scope="module")
def bars() -> list[Bar]:
    return load_daily_bars(sample_paths().prices)


@pytest.fixture(scope="module")
def alerts() -> list[Alert]:
    return [a for a in read_alerts(sample_paths().alerts) if a.ticker == TICKER]


def _builder(bench: Mapping[np.datetime64, float], alerts: list[Alert]) -> FeatureObservations:
    # every alert is handed over up front: each counts only from the bar its availability
    # allows, exactly as when it arrives live
    obs = FeatureObservations(TICKER, _lookup(bench))
    for a in alerts:
        obs.push_alert(a)
    return obs


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory,
             features: pd.DataFrame) -> FileSystemModelRegistry:
    from stable_baselines3 import PPO

    tmp = tmp_path_factory.mktemp("agents")
    panel = feature_panel(features, split="train", tickers=[TICKER])
    cfg = EnvConfig(episode_length=64)
    model = PPO("MlpPolicy", CatalystTradingEnv(panel, cfg), n_steps=64, batch_size=32,
                n_epochs=1, seed=3, device="cpu", policy_kwargs={"net_arch": [32, 32]})
    model.learn(256)
    art = tmp / "model.zip"
    model.save(str(art))
    reg = FileSystemModelRegistry(tmp / "models", JsonMetadataStore(tmp / "models"))
    for seed in (3, 4):
        reg.register("ko", "ppo", str(art), hyperparams={}, data_hash="sha256:x",
                     env_config=env_config_json(cfg), seed=seed,
                     library_versions=library_versions(), metrics={})
    reg.promote("ko", 1)
    return reg


def _lookup(bench: Mapping[np.datetime64, float]) -> Any:
    return lambda d: bench.get(d, float("nan"))


@pytest.mark.parametrize("ticker", ["KO", "AAPL", "GOOG", "XOM"])
def test_live_rows_are_bit_identical_to_the_feature_file(
    features: pd.DataFrame, bars: list[Bar], bench: Mapping[np.datetime64, float],
    ticker: str,
) -> None:
    obs = FeatureObservations(ticker, _lookup(bench))
    for a in read_alerts(sample_paths().alerts):
        obs.push_alert(a)  # other tickers' alerts are ignored by the builder
    want = features[features["ticker"] == ticker].sort_values("date")
    cols = [c for c in want.columns if c.startswith("f_")]
    expected = want[cols].to_numpy(np.float32)
    rows = []
    for b in (b for b in bars if b.ticker == ticker):
        obs.push_bar(b)
        row = obs.market_row()
        if len(obs) <= WARMUP_BARS:
            assert row is None
        else:
            assert row is not None
            rows.append(row)
    got = np.vstack(rows)
    assert got.shape == expected[WARMUP_BARS:].shape
    # bit-identical, not merely close: the incremental rows and the one-pass reference
    assert got.tobytes() == expected[WARMUP_BARS:].tobytes()
    assert obs.market_matrix().tobytes() == expected.tobytes()


def test_incremental_rows_without_a_benchmark_match_the_one_pass_matrix(
    bars: list[Bar], alerts: list[Alert],
) -> None:
    obs = FeatureObservations(TICKER, None, warmup=0)
    for a in alerts:
        obs.push_alert(a)
    rows = []
    for b in (b for b in bars if b.ticker == TICKER):
        obs.push_bar(b)
        row = obs.market_row()
        assert row is not None
        rows.append(row)
    assert np.vstack(rows).tobytes() == obs.market_matrix().tobytes()


def test_agent_takes_the_envs_actions_on_the_held_back_stretch(
    features: pd.DataFrame, bars: list[Bar], bench: Mapping[np.datetime64, float],
    registry: FileSystemModelRegistry, alerts: list[Alert],
) -> None:
    panel = feature_panel(features, split="test", tickers=[TICKER])[TICKER]
    env = CatalystTradingEnv(panel, EnvConfig())
    agent, _ = load_agent(registry, "ko@1")
    builder = _builder(bench, alerts)
    first = np.datetime64(str(panel.dates[0]), "ns")
    own = [b for b in bars if b.ticker == TICKER]
    it = iter(own)
    # history up to the stretch's first bar, as a live run would have it
    for b in it:
        builder.push_bar(b)
        if builder._dates[-1] == first:
            break
    o, _ = env.reset(options={"ticker": TICKER, "start": 0})
    n = 0
    trades = 0
    while True:
        row = builder.market_row()
        assert row is not None
        live = np.concatenate([o[:3], row]).astype(np.float32)
        assert live.tobytes() == o.tobytes()
        a_env = agent.act(o)
        a_live = agent.act(live)
        assert a_env.tobytes() == a_live.tobytes()
        o, _, term, trunc, info = env.step(a_env)
        trades = info["trades"]
        n += 1
        if term or trunc:
            break
        builder.push_bar(next(it))
    assert n == len(panel) - 1 > 100
    assert trades >= 0


def test_guard_names_the_feature_and_action_space_difference(
    registry: FileSystemModelRegistry,
) -> None:
    mv = registry.get("ko", 1)
    feats = list(mv.env_config["observation_features"])
    bad = attrs.evolve(mv, env_config={**mv.env_config,
                                       "observation_features": [*feats[:-1], "vix"]})
    with pytest.raises(IncompatibleEnvConfigError, match="vix"):
        RegistryPolicyLoader(registry).load(bad)
    bad_space = attrs.evolve(mv, env_config={
        **mv.env_config, "action_space": {"type": "discrete", "n": 3}})
    with pytest.raises(IncompatibleEnvConfigError, match="action space"):
        RegistryPolicyLoader(registry).load(bad_space)


def test_metadata_without_the_cost_fields_still_loads(
    registry: FileSystemModelRegistry,
) -> None:
    mv = registry.get("ko", 1)
    old = dict(mv.env_config)
    old["costs"] = {k: v for k, v in old["costs"].items()
                    if k in ("commission_bps", "base_slippage_bps")}
    old.pop("observation_features")
    legacy = attrs.evolve(mv, env_config=old)
    from domain.rl.models import check_env_config

    check_env_config(legacy, env_config_json(EnvConfig(episode_length=64)),
                     defaults=env_config_json(EnvConfig()))
    RegistryPolicyLoader(registry).load(legacy)
    with pytest.raises(IncompatibleEnvConfigError, match="commission_bps"):
        check_env_config(legacy, env_config_json(EnvConfig(
            costs=attrs.evolve(EnvConfig().costs, commission_bps=99.0))),
            defaults=env_config_json(EnvConfig()))


# ------------------------------------------------------------------ source, swap, monitor


class _Notes:
    def __init__(self) -> None:
        self.sent: list[Notification] = []

    def notify(self, n: Notification) -> None:
        self.sent.append(n)


class _FailingLoader:
    def __init__(self, inner: RegistryPolicyLoader, bad: int) -> None:
        self.inner, self.bad = inner, bad

    def load(self, version: ModelVersion) -> Any:
        if version.version == self.bad:
            raise OSError(f"model file of {version.ref} is unreadable")
        return self.inner.load(version)


def _source(registry: FileSystemModelRegistry, bench: Mapping[np.datetime64, float],
            loader: Any = None, notes: _Notes | None = None, **kw: Any) -> AgentSignalSource:
    src = AgentSignalSource(
        [AgentSpec("ko", None, (TICKER,))], registry, loader or RegistryPolicyLoader(registry),
        lambda t: FeatureObservations(t, _lookup(bench)), initial_balance=100_000.0,
        account=lambda t: (100_000.0, 0.0, 100_000.0), notifier=notes, background=False,
        **kw)
    return src


def _steps(bars: list[Bar], n: int) -> Iterator[dict[str, Bar]]:
    own = [b for b in bars if b.ticker == TICKER][:n]
    for b in own:
        yield {TICKER: b}


def test_signals_carry_the_agent_and_version(
    registry: FileSystemModelRegistry, bars: list[Bar], bench: Mapping[np.datetime64, float],
) -> None:
    src = _source(registry, bench)
    sigs = []
    for step in _steps(bars, 200):
        src.observe(step)
        sigs += src.poll(step[TICKER].ts)
    mon = src.monitors["ko@1"]
    assert sum(mon.actions.values()) == 200 - WARMUP_BARS
    assert mon.latency_summary()["count"] == 200 - WARMUP_BARS
    assert all(s.strategy == "ko@1".join(["agent:", ""]) for s in sigs)
    assert all(s.signal_id.startswith("agent:ko@1:KO:") for s in sigs)
    assert len(sigs) == mon.signals


def test_promotion_mid_run_swaps_between_two_bars(
    registry: FileSystemModelRegistry, bars: list[Bar], bench: Mapping[np.datetime64, float],
) -> None:
    notes = _Notes()
    src = _source(registry, bench, notes=notes)
    seen: list[tuple[str, str]] = []
    for i, step in enumerate(_steps(bars, 120)):
        if i == 90:
            registry.promote("ko", 2)
        src.observe(step)
        src.poll(step[TICKER].ts)
        seen.append((step[TICKER].ts.isoformat(), src.versions()["ko"]))
    registry.rollback("ko")
    # the swap lands at the bar after the one during which the new version was loaded
    refs = [r for _, r in seen]
    assert refs[:91] == ["ko@1"] * 91
    assert refs[91:] == ["ko@2"] * (120 - 91)
    assert [s["to"] for s in src.swaps] == ["ko@2"]
    assert src.swaps[0]["ts"] == seen[91][0]
    # every bar was seen by some version: none skipped
    counted = sum(sum(m.actions.values()) for m in src.monitors.values())
    assert counted == 120 - WARMUP_BARS
    assert any("ko@1 -> ko@2" in n.title for n in notes.sent)


def test_a_version_that_fails_to_load_is_not_swapped_in(
    registry: FileSystemModelRegistry, bars: list[Bar], bench: Mapping[np.datetime64, float],
) -> None:
    notes = _Notes()
    src = _source(registry, bench, loader=_FailingLoader(RegistryPolicyLoader(registry), 2),
                  notes=notes)
    for i, step in enumerate(_steps(bars, 80)):
        if i == 70:
            registry.promote("ko", 2)
        src.observe(step)
        src.poll(step[TICKER].ts)
    registry.rollback("ko")
    assert src.versions()["ko"] == "ko@1"
    assert src.swaps == []
    failed = [n for n in notes.sent if "not deployed" in n.title]
    assert len(failed) == 1 and "unreadable" in failed[0].body


def test_drift_warns_once_past_the_threshold(
    registry: FileSystemModelRegistry, bars: list[Bar], bench: Mapping[np.datetime64, float],
    features: pd.DataFrame,
) -> None:
    st = feature_stats(features)
    # a training spread far narrower than the live data's: the live mean is many stds away
    narrow = attrs.evolve(st, std=tuple(s / 1000.0 for s in st.std))
    notes = _Notes()
    src = _source(registry, bench, notes=notes, feature_stats=narrow, drift_window=10)
    for step in _steps(bars, 100):
        src.observe(step)
        src.poll(step[TICKER].ts)
    drift = [n for n in notes.sent if "drift" in n.title]
    assert len(drift) == 1
    assert src.status()["versions"]["ko@1"]["drift"]["score"] > 3.0
    calm = _source(registry, bench, notes=(quiet := _Notes()), feature_stats=st,
                   drift_window=50, drift_threshold=1e9)
    for step in _steps(bars, 100):
        calm.observe(step)
        calm.poll(step[TICKER].ts)
    assert not [n for n in quiet.sent if "drift" in n.title]


def test_tickers_cannot_belong_to_two_agents(registry: FileSystemModelRegistry) -> None:
    with pytest.raises(ValueError, match="KO is given to two agents"):
        AgentSignalSource([AgentSpec("ko", 1, ("KO",)), AgentSpec("ko", 2, ("KO", "XOM"))],
                          registry, RegistryPolicyLoader(registry),
                          lambda t: FeatureObservations(t), initial_balance=1.0)




def test_incremental_rows_with_benchmark_gaps_match_the_one_pass_matrix(
    bars: list[Bar], bench: Mapping[np.datetime64, float], alerts: list[Alert],
) -> None:
    # every 7th date without a benchmark close: beta runs on the common dates
    gappy = {d: (float("nan") if i % 7 == 3 else v)
             for i, (d, v) in enumerate(sorted(bench.items()))}
    obs = FeatureObservations(TICKER, _lookup(gappy), warmup=0)
    for a in alerts:
        obs.push_alert(a)
    rows = []
    for b in (b for b in bars if b.ticker == TICKER):
        obs.push_bar(b)
        row = obs.market_row()
        assert row is not None
        rows.append(row)
    assert np.vstack(rows).tobytes() == obs.market_matrix().tobytes()


def test_an_agent_without_a_version_needs_a_production_version(
    registry: FileSystemModelRegistry, tmp_path: Path,
) -> None:
    reg = FileSystemModelRegistry(tmp_path / "m", JsonMetadataStore(tmp_path / "m"))
    art = Path(registry.get("ko", 1).path) / "model.zip"
    reg.register("fresh", "ppo", str(art), hyperparams={}, data_hash="x",
                 env_config=dict(registry.get("ko", 1).env_config), seed=0,
                 library_versions={}, metrics={})
    with pytest.raises(ValueError, match=r"no production version .*fresh@1, candidate"):
        AgentSignalSource([AgentSpec("fresh", None, ("KO",))], reg,
                          RegistryPolicyLoader(reg), lambda t: FeatureObservations(t),
                          initial_balance=1.0)
    pinned = AgentSignalSource([AgentSpec("fresh", 1, ("KO",))], reg,
                               RegistryPolicyLoader(reg), lambda t: FeatureObservations(t),
                               initial_balance=1.0)
    assert pinned.versions() == {"fresh": "fresh@1"}


def _register_with_stats(registry: FileSystemModelRegistry, name: str,
                         stats: Any) -> ModelVersion:
    """Register the module's model again as ``name``, its metrics carrying ``stats``
    (a JSON record of training statistics, or anything to be read as one)."""
    mv = registry.get("ko", 1)
    new = registry.register(name, "ppo", str(Path(mv.path) / "model.zip"), hyperparams={},
                            data_hash="sha256:x", env_config=dict(mv.env_config), seed=3,
                            library_versions=library_versions(),
                            metrics={FEATURE_STATS_KEY: stats})
    registry.promote(name, new.version)
    return new


def test_drift_without_a_feature_file_uses_the_versions_training_statistics(
    registry: FileSystemModelRegistry, bars: list[Bar], bench: Mapping[np.datetime64, float],
    features: pd.DataFrame,
) -> None:
    st = feature_stats(features)
    # recorded at registration: a spread far narrower than the live data's
    _register_with_stats(registry, "ko-narrow", feature_stats_json(
        st.names, st.mean, tuple(s / 1000.0 for s in st.std)))
    _register_with_stats(registry, "ko-same", feature_stats_json(st.names, st.mean, st.std))
    seen = {}
    for name in ("ko-narrow", "ko-same"):
        notes = _Notes()
        src = AgentSignalSource(
            [AgentSpec(name, None, (TICKER,))], registry, RegistryPolicyLoader(registry),
            lambda t: FeatureObservations(t, _lookup(bench)), initial_balance=100_000.0,
            account=lambda t: (100_000.0, 0.0, 100_000.0), notifier=notes, background=False,
            drift_window=10)
        for step in _steps(bars, 100):
            src.observe(step)
            src.poll(step[TICKER].ts)
        mon = src.status()["versions"][f"{name}@1"]
        assert mon["drift_unavailable"] is None
        seen[name] = (mon["drift"]["score"], [n for n in notes.sent if "drift" in n.title])
    score, warned = seen["ko-narrow"]
    assert score > 3.0 and len(warned) == 1
    score, warned = seen["ko-same"]
    assert score < 3.0 and not warned


def test_drift_is_reported_unavailable_for_a_version_without_statistics(
    registry: FileSystemModelRegistry, bars: list[Bar], bench: Mapping[np.datetime64, float],
    features: pd.DataFrame,
) -> None:
    src = _source(registry, bench)  # the module's versions were registered without them
    for step in _steps(bars, 80):
        src.observe(step)
        src.poll(step[TICKER].ts)
    mon = src.status()["versions"]["ko@1"]
    assert mon["drift"] is None
    assert "ko@1 was registered without its training data's feature statistics" in \
        mon["drift_unavailable"]
    assert "no feature file was given" in mon["drift_unavailable"]
    # a feature file given: its statistics serve, the version's record is not needed
    st = feature_stats(features)
    with_file = _source(registry, bench, feature_stats=st)
    for step in _steps(bars, 80):
        with_file.observe(step)
        with_file.poll(step[TICKER].ts)
    mon = with_file.status()["versions"]["ko@1"]
    assert mon["drift"] is not None and mon["drift_unavailable"] is None
    # a record of other features is not used against the observation's
    _register_with_stats(registry, "ko-other", feature_stats_json(
        ("a", "b"), (0.0, 0.0), (1.0, 1.0)))
    other = AgentSignalSource(
        [AgentSpec("ko-other", None, (TICKER,))], registry, RegistryPolicyLoader(registry),
        lambda t: FeatureObservations(t, _lookup(bench)), initial_balance=100_000.0,
        account=lambda t: (100_000.0, 0.0, 100_000.0), background=False)
    mon = other.status()["versions"]["ko-other@1"]
    assert mon["drift"] is None and "of 2 features (a, b" in mon["drift_unavailable"]
