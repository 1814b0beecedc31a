"""Rules of deployed agents: the --agent spec, action to trade, drift, the deployment guard."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from domain.rl.deployment import (
    ACTION_SPACE,
    AgentSpec,
    DriftTracker,
    action_bucket,
    action_decision,
    check_deployable,
    parse_agent_spec,
)
from domain.rl.models import IncompatibleEnvConfigError, ModelStatus, ModelVersion

actions = st.floats(min_value=-5.0, max_value=5.0) | st.just(float("nan"))


@given(actions, st.floats(min_value=0.0, max_value=1.0), st.booleans())
@example(0.0, 0.0, False)
@example(float("nan"), 0.0, True)
def test_action_decision_never_buys_when_holding_nor_sells_when_flat(
    a: float, band: float, holding: bool
) -> None:
    kind, conf = action_decision(a, band, holding)
    assert 0.0 <= conf <= 1.0
    if kind == "buy":
        assert not holding and a > 0 and a >= band
        assert conf == min(1.0, a)
    elif kind == "sell":
        assert holding and a < 0 and a <= -band
        assert conf == min(1.0, -a)
    else:
        assert kind == "hold"
        assert math.isnan(a) or a == 0 or (a > 0 and (holding or a < band)) or (
            a < 0 and (not holding or -a < band))


@given(actions)
def test_action_bucket_matches_the_sign_outside_the_hold_band(a: float) -> None:
    b = action_bucket(a, 0.1)
    if math.isnan(a) or abs(a) < 0.1:
        assert b == "hold"
    else:
        assert b == ("buy" if a > 0 else "sell")


@pytest.mark.parametrize(("spec", "want"), [
    ("ppo", AgentSpec("ppo", None, ())),
    ("ppo@3", AgentSpec("ppo", 3, ())),
    ("ppo:aapl, msft", AgentSpec("ppo", None, ("AAPL", "MSFT"))),
    ("ppo@12:GOOG", AgentSpec("ppo", 12, ("GOOG",))),
])
def test_parse_agent_spec(spec: str, want: AgentSpec) -> None:
    assert parse_agent_spec(spec) == want


@pytest.mark.parametrize(("spec", "msg"), [
    ("ppo@0", "positive integer"), ("ppo@x", "positive integer"), ("ppo:", "no ticker"),
    ("@1", "model name"),
])
def test_parse_agent_spec_refuses_naming_the_spec(spec: str, msg: str) -> None:
    with pytest.raises(ValueError, match=msg) as exc:
        parse_agent_spec(spec)
    assert repr(spec) in str(exc.value)


def test_drift_score_is_the_largest_standardised_mean_gap() -> None:
    d = DriftTracker(("a", "b", "c"), (0.0, 10.0, 5.0), (1.0, 2.0, 0.0), window=2)
    assert d.score() == (0.0, None)
    d.add([1.0, 10.0, 99.0])
    d.add([3.0, 14.0, 99.0])
    # a: mean 2 -> 2 std; b: mean 12 -> 1 std; c has no training spread and is skipped
    assert d.scores() == {"a": 2.0, "b": 1.0}
    d.add([0.0, 10.0, 0.0])  # the window keeps the last two rows
    assert d.score() == (1.5, "a") and d.count == 2


@given(st.lists(st.floats(min_value=-1e3, max_value=1e3), min_size=1, max_size=40))
def test_drift_window_mean_equals_the_mean_of_its_rows(xs: list[float]) -> None:
    d = DriftTracker(("x",), (0.0,), (1.0,), window=5)
    for x in xs:
        d.add([x])
    tail = xs[-5:]
    assert d.scores()["x"] == pytest.approx(abs(sum(tail) / len(tail)), abs=1e-9)


def _mv(env_config: dict[str, object]) -> ModelVersion:
    return ModelVersion("m", 1, "ppo", ModelStatus.production, "/x", {}, "h", env_config, 0, {},
                        {}, datetime(2026, 1, 1, tzinfo=UTC))


def test_guard_names_missing_extra_and_reordered_features_and_the_action_space() -> None:
    live = ("a", "b", "c")
    check_deployable(_mv({"observation_features": ["a", "b", "c"]}), live)
    check_deployable(_mv({}), live)  # metadata without the field: the defaults
    with pytest.raises(IncompatibleEnvConfigError, match=r"\['z'\].*lacks.*\['c'\]"):
        check_deployable(_mv({"observation_features": ["a", "b", "z"]}), live)
    with pytest.raises(IncompatibleEnvConfigError, match="position 1: trained 'c', live 'b'"):
        check_deployable(_mv({"observation_features": ["a", "c", "b"]}), live)
    with pytest.raises(IncompatibleEnvConfigError, match="action space"):
        check_deployable(_mv({"action_space": {**ACTION_SPACE, "shape": [2]}}), live)
