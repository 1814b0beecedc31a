"""CatalystTradingEnv: API contract, fills and costs, reward, no look-ahead, seeding."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import attrs
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.data.alerts import read_alerts
from adapters.data.features import build_features, feature_panel, sample_panel
from adapters.data.ohlcv import load_ohlcv
from adapters.data.sample import sample_paths
from adapters.rl.env import CatalystTradingEnv, EnvConfig
from adapters.rl.evaluate import BuyAndHoldAgent, RandomAgent, evaluate
from domain.costs import RL_TICKET_COSTS, CostModel
from domain.market_data.features import OBSERVATION_FEATURES, TickerFeatures

gym_checker = pytest.importorskip("stable_baselines3.common.env_checker")


@pytest.fixture(scope="module")
def panel() -> dict[str, TickerFeatures]:
    return sample_panel()


@pytest.fixture(scope="module")
def aapl(panel: dict[str, TickerFeatures]) -> TickerFeatures:
    return panel["AAPL"]


def test_check_env_when_panel_or_single_ticker_then_passes(
    panel: dict[str, TickerFeatures],
) -> None:
    gym_checker.check_env(CatalystTradingEnv(panel), warn=False)
    gym_checker.check_env(
        CatalystTradingEnv(panel["KO"], EnvConfig(episode_length=50)), warn=False
    )


def test_reset_when_fresh_then_33_float32_features_and_flat_account(
    aapl: TickerFeatures,
) -> None:
    env = CatalystTradingEnv(aapl)
    obs, info = env.reset(seed=1)
    assert (
        obs.shape == (33,)
        and obs.dtype == np.float32
        and len(OBSERVATION_FEATURES) == 33
    )
    assert obs[:3].tolist() == [1.0, 0.0, 1.0]
    np.testing.assert_array_equal(obs[3:], aapl.features[0])
    assert info["portfolio_value"] == 100_000.0 and env.current_date == str(
        aapl.dates[0]
    )


def _rule(side: int, ref: float, f: TickerFeatures, t: int, bps: float = 5.0) -> float:
    # The simulated exchange's market fill: slipped, inside [low, high] of the bar, 4 decimals.
    assert f.high is not None and f.low is not None
    return round(min(max(ref * (1 + side * bps * 1e-4), float(f.low[t])), float(f.high[t])), 4)


def test_step_when_buy_all_then_fills_at_next_open_with_slippage_and_commission(
    aapl: TickerFeatures,
) -> None:
    env = CatalystTradingEnv(aapl)
    env.reset(options={"start": 10})
    _, _, _, _, info = env.step(np.array([1.0], dtype=np.float32))
    costs = RL_TICKET_COSTS
    px = _rule(1, float(aapl.open[11]), aapl, 11)
    assert info["fill_price"] == px
    assert px == pytest.approx(aapl.open[11] * 1.0005, abs=5e-5)
    qty = info["shares"]
    assert info["commission"] == pytest.approx(costs.commission(qty, px), rel=1e-12)
    assert qty * px + info["commission"] == pytest.approx(100_000.0, rel=1e-12)
    assert info["cash"] == pytest.approx(0.0, abs=1e-6)
    assert info["portfolio_value"] == pytest.approx(qty * aapl.close[11], rel=1e-12)


def test_step_when_sell_fraction_then_sells_that_fraction_of_holdings(
    aapl: TickerFeatures,
) -> None:
    env = CatalystTradingEnv(aapl)
    env.reset(options={"start": 0})
    _, _, _, _, i1 = env.step(np.array([0.5], dtype=np.float32))
    assert i1["cash"] == pytest.approx(50_000.0, rel=1e-12)
    held = i1["shares"]
    _, _, _, _, i2 = env.step(np.array([-0.25], dtype=np.float32))
    assert i2["shares"] == pytest.approx(0.75 * held, rel=1e-12)
    px = _rule(-1, float(aapl.open[2]), aapl, 2)
    proceeds = 0.25 * held * px - RL_TICKET_COSTS.commission(0.25 * held, px)
    assert i2["cash"] == pytest.approx(i1["cash"] + proceeds, rel=1e-12)
    _, _, _, _, i3 = env.step(np.array([-1.0], dtype=np.float32))
    assert i3["shares"] == 0.0
    # Nothing to sell and nothing to do: no trade, no cost.
    _, _, _, _, i4 = env.step(np.array([-1.0], dtype=np.float32))
    assert i4["trades"] == 3 and "fill_price" not in i4


@pytest.mark.parametrize(
    ("fill_at", "price"),
    [
        ("next_open", lambda f, t: (f.open[t + 1], t + 1)),
        ("next_close", lambda f, t: (f.close[t + 1], t + 1)),
        ("close", lambda f, t: (f.close[t], t)),
    ],
)
def test_fill_at_when_configured_then_reference_price_follows(
    aapl: TickerFeatures, fill_at: str, price: object
) -> None:
    env = CatalystTradingEnv(aapl, EnvConfig(fill_at=fill_at))  # type: ignore[arg-type]
    env.reset(options={"start": 100})
    _, _, _, _, info = env.step(np.array([1.0], dtype=np.float32))
    ref, bar = price(aapl, 100)  # type: ignore[operator]
    assert info["fill_price"] == _rule(1, float(ref), aapl, bar)


def test_costs_when_shared_model_with_fees_then_env_charges_the_same(
    aapl: TickerFeatures,
) -> None:
    costs = CostModel(
        commission_bps=3.0,
        commission_per_share=0.005,
        commission_per_order=1.0,
        slippage_bps=7.0,
    )
    env = CatalystTradingEnv(aapl, EnvConfig(costs=costs, initial_balance=10_000.0))
    env.reset(options={"start": 5})
    _, _, _, _, info = env.step(np.array([0.8], dtype=np.float32))
    px = _rule(1, float(aapl.open[6]), aapl, 6, bps=7.0)
    qty = info["shares"]
    assert info["fill_price"] == px
    assert info["commission"] == pytest.approx(costs.commission(qty, px), rel=1e-12)
    budget = float(np.float32(0.8)) * 10_000.0
    assert qty * px + info["commission"] == pytest.approx(budget, rel=1e-12)


def test_reward_when_random_actions_then_equals_direct_sharpe_with_penalty_and_bonus(
    aapl: TickerFeatures,
) -> None:
    cfg = EnvConfig()
    env = CatalystTradingEnv(aapl, cfg)
    env.reset(options={"start": 0})
    rng = np.random.default_rng(7)
    values = [cfg.initial_balance]
    for _ in range(len(aapl) - 1):
        a = float(rng.choice([-1.0, -0.3, -0.05, 0.0, 0.05, 0.4, 1.0]))
        _, reward, term, _, info = env.step(np.array([a], dtype=np.float32))
        values.append(info["portfolio_value"])
        rets = np.diff(values) / np.asarray(values[:-1])
        window = rets[-20:]
        expected = 0.0
        if len(window) >= 2 and window.std() > 1e-9:
            expected = window.mean() / window.std() * math.sqrt(252)
        if "fill_price" in info and abs(a) > 0.1:
            expected -= 0.01
        elif abs(a) < 0.1 and info["shares"] > 0:
            expected += 0.005
        assert reward == pytest.approx(expected, rel=1e-7, abs=1e-9)
        if term:
            break
    assert term and env.bar_index == len(aapl) - 1


def test_episode_when_last_bar_then_terminated_and_further_step_raises(
    aapl: TickerFeatures,
) -> None:
    short = aapl.slice(0, 5)
    env = CatalystTradingEnv(short)
    env.reset(seed=0)
    flags = [env.step(np.zeros(1, dtype=np.float32))[2] for _ in range(4)]
    assert flags == [False, False, False, True]
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.zeros(1, dtype=np.float32))


def test_episode_length_when_set_then_truncated_after_that_many_steps(
    aapl: TickerFeatures,
) -> None:
    env = CatalystTradingEnv(aapl, EnvConfig(episode_length=30))
    env.reset(seed=3)
    out = [env.step(np.zeros(1, dtype=np.float32)) for _ in range(30)]
    assert [o[3] for o in out].count(True) == 1 and out[-1][3] and not out[-1][2]


def test_seed_when_same_then_identical_episodes_and_different_seed_differs(
    panel: dict[str, TickerFeatures],
) -> None:
    def run(seed: int) -> list[tuple[str, int, float, bytes]]:
        env = CatalystTradingEnv(panel, EnvConfig(episode_length=40))
        env.action_space.seed(seed)
        trace = []
        obs, _ = env.reset(seed=seed)
        for _ in range(200):
            obs, r, term, trunc, _ = env.step(env.action_space.sample())
            trace.append((env.current_ticker, env.bar_index, r, obs.tobytes()))
            if term or trunc:
                obs, _ = env.reset()
        return trace

    assert run(11) == run(11)
    assert run(11) != run(12)


def test_reset_when_panel_then_samples_several_tickers_and_pinning_works(
    panel: dict[str, TickerFeatures],
) -> None:
    env = CatalystTradingEnv(panel, EnvConfig(episode_length=20))
    env.reset(seed=0)
    seen = {env.reset()[1]["ticker"] for _ in range(60)}
    assert len(seen) >= 6
    _, info = env.reset(options={"ticker": "jpm", "start": 3})
    assert info["ticker"] == "JPM" and info["t"] == 3
    with pytest.raises(ValueError, match="not in the panel"):
        env.reset(options={"ticker": "ZZZ"})


def test_step_when_action_outside_range_then_clipped_and_nan_rejected(
    aapl: TickerFeatures,
) -> None:
    env = CatalystTradingEnv(aapl)
    env.reset(options={"start": 0})
    _, _, _, _, info = env.step(np.array([7.0], dtype=np.float32))
    assert info["cash"] == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="NaN"):
        env.step(np.array([np.nan], dtype=np.float32))


# ----------------------------------------------------------------- no look-ahead


@pytest.fixture(scope="module")
def two_tickers() -> tuple[pd.DataFrame, list]:
    df = load_ohlcv(sample_paths().prices)
    df = df[df["ticker"].isin(["AAPL", "MSFT"])].reset_index(drop=True)
    alerts = [
        a for a in read_alerts(sample_paths().alerts) if a.ticker in ("AAPL", "MSFT")
    ]
    return df, alerts


def _observations(
    df: pd.DataFrame, alerts: list, actions: np.ndarray, fill_at: str
) -> list[np.ndarray]:
    panel = feature_panel(build_features(df, alerts), tickers=["AAPL"])
    env = CatalystTradingEnv(panel, EnvConfig(fill_at=fill_at))  # type: ignore[arg-type]
    obs, _ = env.reset(options={"ticker": "AAPL", "start": 0})
    out = [obs]
    for a in actions:
        obs, *_ = env.step(np.array([a], dtype=np.float32))
        out.append(obs)
    return out


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    t=st.integers(0, 300),
    factor=st.floats(0.3, 3.0).filter(lambda f: abs(f - 1) > 1e-3),
    seed=st.integers(0, 1000),
    fill_at=st.sampled_from(["next_open", "next_close", "close"]),
)
def test_leak_when_data_after_t_perturbed_then_no_observation_up_to_t_changes(
    two_tickers: tuple[pd.DataFrame, list],
    t: int,
    factor: float,
    seed: int,
    fill_at: str,
) -> None:
    df, alerts = two_tickers
    steps = 320
    actions = np.random.default_rng(seed).uniform(-1, 1, steps)
    base = _observations(df, alerts, actions, fill_at)

    # Bar t of the episode is bar t + 60 of the ticker (the warm-up is dropped).
    aapl_dates = np.sort(df.loc[df["ticker"] == "AAPL", "date"].unique())
    cut = pd.Timestamp(aapl_dates[t + 60])
    bumped = df.copy()
    later = bumped["date"] > cut
    rng = np.random.default_rng(seed + 1)
    noise = rng.uniform(0.8, 1.25, int(later.sum()))
    for c in ("open", "high", "low", "close"):
        bumped.loc[later, c] = bumped.loc[later, c] * factor * noise
    bumped.loc[later, "volume"] = bumped.loc[later, "volume"] * rng.uniform(
        0.1, 10.0, int(later.sum())
    )
    # Alerts known after bar t's close are withdrawn, and a fake one is added the next day.
    close_t = cut.tz_localize("America/New_York") + pd.Timedelta(hours=16)
    kept = [a for a in alerts if a.known_at <= close_t.to_pydatetime()]
    fake = attrs.evolve(
        kept[0], id="fake", known_at=(close_t + pd.Timedelta(minutes=1)).to_pydatetime()
    )
    other = _observations(bumped, [*kept, fake], actions, fill_at)

    for i in range(t + 1):
        np.testing.assert_array_equal(
            base[i], other[i], err_msg=f"observation {i} (t={t})"
        )
    assert not all(np.array_equal(base[i], other[i]) for i in range(t + 1, steps + 1))


# -------------------------------------------------------------------- evaluation


def test_evaluate_when_buy_and_hold_then_return_tracks_price_minus_costs(
    panel: dict[str, TickerFeatures],
) -> None:
    test = sample_panel("test")
    res = {r.ticker: r for r in evaluate(test, BuyAndHoldAgent)}
    ko = test["KO"]
    expected = ko.close[-1] / (_rule(1, float(ko.open[1]), ko, 1) * 1.001) - 1
    assert res["KO"].total_return == pytest.approx(expected, rel=1e-9)
    assert res["KO"].trades == 1 and res["KO"].max_drawdown <= 0
    rnd = evaluate(test, lambda: RandomAgent(0))
    assert rnd == evaluate(test, lambda: RandomAgent(0))
    assert all(r.trades > 50 for r in rnd)


@pytest.mark.slow
def test_sb3_when_ppo_trains_1000_steps_then_no_crash(
    panel: dict[str, TickerFeatures],
) -> None:
    from stable_baselines3 import PPO

    env = CatalystTradingEnv(panel, EnvConfig(episode_length=100))
    model = PPO(
        "MlpPolicy", env, n_steps=256, batch_size=64, seed=0, verbose=0, device="cpu"
    )
    model.learn(total_timesteps=1024)
    obs, _ = env.reset(seed=0)
    action, _ = model.predict(obs, deterministic=True)
    assert env.action_space.contains(action.astype(np.float32))


def test_timestamps_sanity_when_known_at_in_utc() -> None:
    # The leak test builds a close time in New York; make sure its UTC value is right.
    close = pd.Timestamp("2014-04-24").tz_localize("America/New_York") + pd.Timedelta(
        hours=16
    )
    assert close.to_pydatetime().astimezone(UTC) == datetime(
        2014, 4, 24, 20, 0, tzinfo=UTC
    )
