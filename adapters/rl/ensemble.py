"""Ensemble agent: a weighted average of registered models' continuous actions.

Weights come from each member's validation performance (``metrics["validation"]["sharpe"]``
recorded at registration, or a fresh evaluation):

* ``sharpe`` (default): proportional to ``max(sharpe, 0)``; equal weights if no member
  has a positive Sharpe;
* ``softmax``: ``exp(sharpe / temperature)``, normalised;
* ``equal``: ``1 / n``.

An ensemble is registrable: its artifact is ``ensemble.json`` (member refs and weights),
and :func:`adapters.rl.agents.load_agent` loads it back member by member.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from adapters.rl.evaluate import Agent
from application.ports import ModelRegistry
from domain.rl.models import FEATURE_STATS_KEY, ModelVersion, RegistryError

__all__ = ["EnsembleAgent", "Weighting", "ensemble_weights", "register_ensemble"]

Weighting = Literal["sharpe", "softmax", "equal"]


class EnsembleAgent:
    """Weighted average of the members' actions, clipped to ``[-1, 1]``."""

    def __init__(self, members: Sequence[Agent], weights: Sequence[float]) -> None:
        if not members or len(members) != len(weights):
            raise ValueError("an ensemble needs one weight per member and one member or more")
        w = np.asarray(weights, dtype=np.float64)
        if np.any(w < 0) or not w.sum() > 0:
            raise ValueError(f"ensemble weights must be >= 0 with a positive sum, got {weights}")
        self.members = list(members)
        self.weights = w / w.sum()

    def reset(self) -> None:
        """Reset every member."""
        for m in self.members:
            m.reset()

    def act(self, obs: NDArray[np.float32]) -> NDArray[np.float32]:
        """Return the weighted mean of the members' actions."""
        a = sum(
            float(w) * float(m.act(obs)[0])
            for m, w in zip(self.members, self.weights, strict=True)
        )
        return np.array([min(1.0, max(-1.0, a))], dtype=np.float32)


def ensemble_weights(
    sharpes: Sequence[float], weighting: Weighting = "sharpe", temperature: float = 1.0
) -> list[float]:
    """Return normalised weights from the members' validation Sharpe ratios."""
    n = len(sharpes)
    if n == 0:
        raise ValueError("no members")
    if weighting == "equal":
        return [1.0 / n] * n
    if weighting == "softmax":
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        top = max(sharpes)
        e = [math.exp((s - top) / temperature) for s in sharpes]
        return [x / sum(e) for x in e]
    if weighting == "sharpe":
        pos = [max(0.0, s) for s in sharpes]
        total = sum(pos)
        return [1.0 / n] * n if total <= 0 else [p / total for p in pos]
    raise ValueError(f"weighting must be sharpe, softmax or equal, not {weighting!r}")


def register_ensemble(
    registry: ModelRegistry,
    name: str,
    members: Sequence[ModelVersion],
    weights: Sequence[float],
    weighting: str,
    metrics: dict[str, object],
) -> ModelVersion:
    """Register an ensemble of ``members`` (all trained for the same env config).

    When every member recorded the same training feature statistics (members trained on the
    same data and split), the ensemble carries them too, so drift can be measured against
    them; otherwise it has none and its deployment says why.
    """
    if not members:
        raise RegistryError("an ensemble needs at least one member")
    first = members[0]
    for m in members[1:]:
        from domain.rl.models import env_config_diff

        diff = env_config_diff(first.env_config, m.env_config)
        if diff:
            fields = ", ".join(f for f, _, _ in diff)
            raise RegistryError(
                f"{m.ref} and {first.ref} were trained for different env configs ({fields})"
            )
    stats = [m.metrics.get(FEATURE_STATS_KEY) for m in members]
    if stats[0] is not None and all(st == stats[0] for st in stats[1:]):
        metrics = {**metrics, FEATURE_STATS_KEY: stats[0]}
    spec = {
        "weighting": weighting,
        "members": [
            {"ref": m.ref, "algo": m.algo, "weight": w}
            for m, w in zip(members, weights, strict=True)
        ],
    }
    with tempfile.TemporaryDirectory() as tmp:
        f = Path(tmp) / "ensemble.json"
        f.write_text(json.dumps(spec, indent=2))
        return registry.register(
            name,
            "ensemble",
            str(f),
            hyperparams={"weighting": weighting, "members": spec["members"]},
            data_hash=first.data_hash,
            env_config=dict(first.env_config),
            seed=first.seed,
            library_versions=dict(first.library_versions),
            metrics=metrics,
        )
