"""The training data's feature statistics recorded with a model version, and read back."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from domain.rl.models import (
    FEATURE_STATS_KEY,
    ModelStatus,
    ModelVersion,
    feature_stats_json,
    training_feature_stats,
)


def _version(metrics: dict[str, Any]) -> ModelVersion:
    return ModelVersion(name="m", version=2, algo="ppo", status=ModelStatus.candidate,
                        path="/x", hyperparams={}, data_hash="h", env_config={}, seed=0,
                        library_versions={}, metrics=metrics,
                        created_at=datetime(2026, 1, 1, tzinfo=UTC))


def test_recorded_statistics_read_back_through_json() -> None:
    rec = feature_stats_json(("a", "b"), (1.0, 2.5), (0.5, 3.0))
    mv = ModelVersion.from_json(_version({FEATURE_STATS_KEY: rec}).to_json())
    assert training_feature_stats(mv) == (("a", "b"), (1.0, 2.5), (0.5, 3.0))


def test_lists_of_different_lengths_are_refused_at_recording() -> None:
    with pytest.raises(ValueError, match="2 names, 1 means and 2 standard deviations"):
        feature_stats_json(("a", "b"), (1.0,), (0.5, 3.0))


@pytest.mark.parametrize(("metrics", "reason"), [
    ({}, "m@2 was registered without its training data's feature statistics"),
    ({FEATURE_STATS_KEY: {"names": ["a"], "mean": [1.0]}}, "cannot be read"),
    ({FEATURE_STATS_KEY: {"names": ["a"], "mean": ["x"], "std": [1.0]}}, "cannot be read"),
    ({FEATURE_STATS_KEY: {"names": ["a", "b"], "mean": [1.0], "std": [1.0]}},
     "2 names, 1 means and 1 standard deviations"),
    ({FEATURE_STATS_KEY: {"names": [], "mean": [], "std": []}}, "0 names"),
])
def test_missing_or_unreadable_statistics_give_the_reason(metrics: dict[str, Any],
                                                          reason: str) -> None:
    got = training_feature_stats(_version(metrics))
    assert isinstance(got, str) and reason in got
