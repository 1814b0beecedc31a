"""Rules of a deployed agent: which agent trades what, how an action becomes a trade, drift.

Pure: no I/O, no clock. The application's :class:`application.agents.AgentSignalSource`
applies these rules bar by bar.

* :func:`parse_agent_spec` reads ``NAME[@VERSION][:TICKER,TICKER]`` (the ``--agent`` option).
* :func:`action_decision` turns the policy's action ``a`` in ``[-1, 1]`` into BUY, SELL or
  nothing, with the action's magnitude as the confidence (the environment's rule, optionally
  with a dead band).
* :class:`DriftTracker` compares the live observations with the training data's feature
  statistics: per feature, ``|mean(live window) - mean(train)| / std(train)``; the score is
  the largest of them.
* :func:`check_deployable` is the env-config guard: a model runs only on the observation
  features and the action space it was trained with; fields missing from old metadata count
  as their defaults.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from domain.rl.models import IncompatibleEnvConfigError, ModelVersion, parse_model_ref

__all__ = [
    "ACTION_SPACE",
    "AgentSpec",
    "DriftTracker",
    "action_bucket",
    "action_decision",
    "agent_source_name",
    "check_deployable",
    "parse_agent_spec",
]

#: The action space every agent of this project trades with: one number in [-1, 1].
ACTION_SPACE: Mapping[str, Any] = {"type": "box", "low": -1.0, "high": 1.0, "shape": [1]}


@attrs.frozen
class AgentSpec:
    """One ``--agent``: a model name, a pinned version (``None``: follow production) and the
    tickers it trades (empty: every ticker of the data)."""

    name: str
    version: int | None = None
    tickers: tuple[str, ...] = ()


def parse_agent_spec(spec: str) -> AgentSpec:
    """Parse ``NAME``, ``NAME@VERSION``, ``NAME:AAPL,MSFT`` or ``NAME@VERSION:AAPL,MSFT``.

    Raises
    ------
    ValueError
        Naming the spec and what was expected.
    """
    ref, sep, tick = spec.strip().partition(":")
    try:
        name, version = parse_model_ref(ref)
    except ValueError as exc:
        raise ValueError(f"--agent {spec!r}: {exc}; expected NAME[@VERSION][:TICKER,...]") \
            from None
    tickers = tuple(t.strip().upper() for t in tick.split(",") if t.strip())
    if sep and not tickers:
        raise ValueError(f"--agent {spec!r}: no ticker after ':'; expected NAME[@VERSION]"
                         "[:TICKER,...]")
    return AgentSpec(name, version, tickers)


def agent_source_name(name: str, version: int) -> str:
    """Return the ``strategy`` every signal and order of an agent version carries."""
    return f"agent:{name}@{version}"


def action_decision(action: float, trade_threshold: float, holding: bool) -> tuple[str, float]:
    """Return ``(kind, confidence)`` for the policy's action.

    ``kind`` is ``buy`` (``a > 0``, ``a >= trade_threshold`` and nothing held), ``sell``
    (``a < 0``, ``a <= -trade_threshold`` while holding), or ``hold``; with
    ``trade_threshold = 0`` that is the environment's rule (any positive action buys, any
    negative one sells). The confidence is ``|a|`` clipped to ``[0, 1]`` (a NaN action is a
    hold with confidence 0).
    """
    if math.isnan(action):
        return "hold", 0.0
    a = min(1.0, max(-1.0, action))
    conf = abs(a)
    if a >= trade_threshold and a > 0.0 and not holding:
        return "buy", conf
    if a <= -trade_threshold and a < 0.0 and holding:
        return "sell", conf
    return "hold", conf


def action_bucket(action: float, trade_threshold: float) -> str:
    """Return ``buy``, ``sell`` or ``hold``: what the action asks for, before the account
    decides whether it can be done (the action distribution of the monitor)."""
    if math.isnan(action) or abs(action) < trade_threshold:
        return "hold"
    return "buy" if action > 0 else "sell"


def check_deployable(
    model: ModelVersion,
    features: Sequence[str],
    action_space: Mapping[str, Any] = ACTION_SPACE,
) -> None:
    """Refuse a model trained on other observation features or another action space.

    Metadata written before a field existed lacks it: the field then counts as its default
    (the project's features and action space have not changed since), so older models
    still load.

    Raises
    ------
    IncompatibleEnvConfigError
        Naming each difference.
    """
    cfg = model.env_config
    trained_feats = list(cfg.get("observation_features") or features)
    trained_space = dict(cfg.get("action_space") or action_space)
    parts: list[str] = []
    if trained_feats != list(features):
        missing = [f for f in trained_feats if f not in features]
        extra = [f for f in features if f not in trained_feats]
        detail = []
        if missing:
            detail.append(f"trained with {missing} that the live observation lacks")
        if extra:
            detail.append(f"the live observation has {extra} it was not trained with")
        if not detail:
            first = next(i for i, (a, b) in enumerate(zip(trained_feats, features, strict=False))
                         if a != b)
            detail.append(f"feature order differs at position {first}: trained "
                          f"{trained_feats[first]!r}, live {features[first]!r}")
        parts.append("observation features: " + "; ".join(detail))
    if _norm_space(trained_space) != _norm_space(action_space):
        parts.append(f"action space: trained {dict(trained_space)}, live {dict(action_space)}")
    if parts:
        raise IncompatibleEnvConfigError(
            f"model {model.ref} cannot trade here ({'; '.join(parts)}); retrain it on the "
            "current features or deploy a version trained on them")


def _norm_space(space: Mapping[str, Any]) -> tuple[str, float, float, tuple[int, ...]]:
    return (str(space.get("type", "box")), float(space.get("low", -1.0)),
            float(space.get("high", 1.0)), tuple(int(x) for x in space.get("shape", [1])))


@attrs.define
class DriftTracker:
    """Drift of live observations against the training data's feature statistics.

    Parameters
    ----------
    names
        Feature names, in observation order.
    mean, std
        The training data's per-feature mean and standard deviation.
    window
        Live observations in the rolling mean.
    threshold
        A score above it is drift (the monitor warns once per crossing).
    """

    names: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    window: int = 50
    threshold: float = 3.0
    _rows: deque[tuple[float, ...]] = attrs.field(init=False)
    _sums: list[float] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        if not len(self.names) == len(self.mean) == len(self.std):
            raise ValueError("drift statistics: names, mean and std differ in length")
        if self.window < 1:
            raise ValueError(f"drift window {self.window}: expected >= 1")
        self._rows = deque()
        self._sums = [0.0] * len(self.names)

    def add(self, row: Sequence[float]) -> None:
        """Add one live observation (market features, in ``names`` order)."""
        vals = tuple(float(x) for x in row)
        if len(vals) != len(self.names):
            raise ValueError(f"drift: expected {len(self.names)} features, got {len(vals)}")
        self._rows.append(vals)
        for i, v in enumerate(vals):
            self._sums[i] += v
        if len(self._rows) > self.window:
            old = self._rows.popleft()
            for i, v in enumerate(old):
                self._sums[i] -= v

    def scores(self) -> dict[str, float]:
        """Return each feature's drift score (features with zero training spread skipped)."""
        n = len(self._rows)
        if n == 0:
            return {}
        out: dict[str, float] = {}
        for i, name in enumerate(self.names):
            sd = self.std[i]
            if not sd > 0.0 or not math.isfinite(sd):
                continue
            out[name] = abs(self._sums[i] / n - self.mean[i]) / sd
        return out

    def score(self) -> tuple[float, str | None]:
        """Return the largest score and its feature (``(0.0, None)`` before any row)."""
        s = self.scores()
        if not s:
            return 0.0, None
        name = max(s, key=lambda k: s[k])
        return s[name], name

    @property
    def count(self) -> int:
        """Return the live observations in the window."""
        return len(self._rows)
