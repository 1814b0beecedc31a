"""When a training run validates, and the verdict on its best model."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from domain.rl.training import assess_training, update_cadence, validation_interval


def test_cadence_when_on_policy_then_rollout_length_times_envs() -> None:
    assert update_cadence("ppo", {"n_steps": 512}, 2) == 1024
    assert update_cadence("a2c", {"n_steps": 8}, 4) == 32


def test_cadence_when_sac_then_train_freq_times_envs() -> None:
    assert update_cadence("sac", {"train_freq": 1}, 1) == 1
    assert update_cadence("sac", {}, 3) == 3


@pytest.mark.parametrize(
    ("algo", "hp", "n_envs", "match"),
    [
        ("dqn", {"n_steps": 8}, 1, "algo must be one of"),
        ("ppo", {"n_steps": 0}, 1, "n_steps must be >= 1, got 0"),
        ("ppo", {"n_steps": 8}, 0, "n_envs must be >= 1, got 0"),
    ],
)
def test_cadence_when_bad_input_then_error_names_it(
    algo: str, hp: dict[str, int], n_envs: int, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        update_cadence(algo, hp, n_envs)


def test_interval_when_ppo_4096_steps_then_validates_on_updates_not_every_410() -> None:
    cadence = update_cadence("ppo", {"n_steps": 512}, 2)
    assert validation_interval(max(4096 // 10, 256), cadence) == 1024


@given(requested=st.integers(1, 10**7), cadence=st.integers(1, 10**5))
@example(requested=409, cadence=1024)
@example(requested=1024, cadence=1024)
def test_interval_is_the_smallest_multiple_of_the_cadence_not_below_the_request(
    requested: int, cadence: int
) -> None:
    got = validation_interval(requested, cadence)
    assert got % cadence == 0
    assert got >= requested
    assert got - cadence < requested


def test_interval_when_zero_then_error() -> None:
    with pytest.raises(ValueError, match="must be >= 1, got 0 and 8"):
        validation_interval(0, 8)


GOOD = {"total_return": 0.40, "sharpe": 1.2}
BH = {"total_return": 0.314, "sharpe": 1.0}


def test_verdict_when_updated_model_beats_buy_and_hold_then_no_warning() -> None:
    v = assess_training(4, 4096, GOOD, BH, [{"step": 4096.0}])
    assert v.trustworthy and v.beats_buy_and_hold and not v.best_is_initial_policy
    assert v.to_json()["warnings"] == []


def test_verdict_when_best_is_initial_policy_then_warns_with_the_step() -> None:
    v = assess_training(0, 410, {"total_return": 0.0019}, BH, [{"step": 410.0}])
    assert v.best_is_initial_policy and not v.beats_buy_and_hold
    assert any("initial, untrained policy" in w and "410" in w for w in v.warnings)
    assert any("+0.19% against +31.40%" in w for w in v.warnings)


def test_verdict_when_no_baseline_or_no_validation_then_not_trusted() -> None:
    v = assess_training(3, 10, GOOD, {}, [])
    assert not v.beats_buy_and_hold
    assert "the model was never validated" in v.warnings


def test_verdict_when_equal_to_buy_and_hold_then_does_not_beat_it() -> None:
    v = assess_training(2, 10, {"total_return": 0.1}, {"total_return": 0.1}, [{}])
    assert not v.beats_buy_and_hold and len(v.warnings) == 1
