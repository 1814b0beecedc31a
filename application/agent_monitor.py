"""What a deployed agent version did, and what its observations are compared with.

:class:`AgentMonitor` keeps, per agent version: the action distribution, inference latency,
signals emitted and the drift of live observations against the training data's statistics
(:class:`FeatureStats`), or why drift is not measured.
:class:`application.agents.AgentSignalSource` fills one per version; ``catalyst rl status``
and the dashboard read them as JSON.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import attrs
import numpy as np

from domain.rl.deployment import DriftTracker

__all__ = ["AgentMonitor", "FeatureStats"]


@attrs.frozen
class FeatureStats:
    """The training data's per-feature mean and standard deviation (market features)."""

    names: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]


@attrs.define
class AgentMonitor:
    """What one agent version did: actions, signals, latency and drift."""

    ref: str
    actions: Counter[str] = attrs.field(factory=Counter)
    signals: int = 0
    latency_ms: list[float] = attrs.field(factory=list)
    drift: DriftTracker | None = None
    #: why there is no drift monitoring (``drift`` is None), for the operator
    drift_unavailable: str | None = None
    drift_warned: bool = False
    first_ts: str | None = None
    last_ts: str | None = None

    def latency_summary(self) -> dict[str, float]:
        """Return count, mean, p50, p99 and max of the inference latency in milliseconds."""
        if not self.latency_ms:
            return {"count": 0}
        a = np.asarray(self.latency_ms)
        return {"count": int(a.size), "mean_ms": float(a.mean()),
                "p50_ms": float(np.percentile(a, 50)), "p99_ms": float(np.percentile(a, 99)),
                "max_ms": float(a.max())}

    def to_json(self) -> dict[str, Any]:
        """Return the monitor as JSON."""
        total = sum(self.actions.values())
        score, feature = self.drift.score() if self.drift is not None else (0.0, None)
        return {
            "ref": self.ref,
            "actions": dict(self.actions),
            "action_share": {k: v / total for k, v in self.actions.items()} if total else {},
            "signals": self.signals,
            "latency": self.latency_summary(),
            "drift": None if self.drift is None else {
                "score": score, "feature": feature, "threshold": self.drift.threshold,
                "window": self.drift.count, "warned": self.drift_warned},
            "drift_unavailable": self.drift_unavailable,
            "first_ts": self.first_ts,
            "last_ts": self.last_ts,
        }
