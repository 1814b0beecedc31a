"""RL model versions: what a trained model records, and the rules of its life cycle.

Pure: no I/O. The :class:`application.ports.ModelRegistry` port stores these records; the
file-system adapter (``adapters.rl.registry``) keeps the model files under
``var/models/<name>/<version>/`` and the metadata in a JSON file or the database.

Life cycle of a version: ``candidate`` when registered; ``promote`` makes one version
``production`` and archives the previous production version; ``rollback`` archives the
production version and restores the most recently promoted earlier one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

import attrs

__all__ = [
    "FEATURE_STATS_KEY",
    "SAMPLING_FIELDS",
    "IncompatibleEnvConfigError",
    "ModelNotFoundError",
    "ModelStatus",
    "ModelVersion",
    "RegistryError",
    "check_env_config",
    "env_config_diff",
    "feature_stats_json",
    "parse_model_ref",
    "plan_promotion",
    "plan_rollback",
    "training_feature_stats",
    "validate_model_name",
]

# EnvConfig fields that only decide how training episodes are drawn; a model trained on
# 252-bar random windows trades a whole ticker the same way, so they may differ.
SAMPLING_FIELDS = frozenset({"episode_length", "random_start", "ticker_weighting"})

#: The key of ``ModelVersion.metrics`` holding the training data's per-feature statistics.
FEATURE_STATS_KEY = "feature_stats"

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class RegistryError(Exception):
    """A registry operation that cannot be done (message says why)."""


class ModelNotFoundError(RegistryError, KeyError):
    """No such model name or version."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "model not found"


class IncompatibleEnvConfigError(RegistryError, ValueError):
    """A model was asked to act in an environment it was not trained for."""


class ModelStatus(StrEnum):
    """Where a version is in its life cycle."""

    candidate = "candidate"
    production = "production"
    archived = "archived"


@attrs.frozen
class ModelVersion:
    """One registered model version and everything needed to reproduce it.

    Parameters
    ----------
    name, version
        The model's name and its version number (1, 2, ...).
    algo
        ``ppo``, ``sac``, ``a2c`` or ``ensemble``.
    status
        :class:`ModelStatus`.
    path
        Directory holding the artifact (``model.zip`` or ``ensemble.json``).
    hyperparams
        The algorithm's hyper-parameters (JSON-able).
    data_hash
        Content hash of the training and validation data.
    env_config
        The environment's settings as JSON (``EnvConfig`` plus the observation features).
    seed
        Training seed.
    library_versions
        Python, numpy, torch, stable-baselines3, gymnasium, catalyst-trader.
    metrics
        Validation (and optionally test) metrics.
    created_at, promoted_at
        UTC times of registration and of the last promotion.
    """

    name: str
    version: int
    algo: str
    status: ModelStatus
    path: str
    hyperparams: Mapping[str, Any]
    data_hash: str
    env_config: Mapping[str, Any]
    seed: int
    library_versions: Mapping[str, str]
    metrics: Mapping[str, Any]
    created_at: datetime
    promoted_at: datetime | None = None

    @property
    def ref(self) -> str:
        """Return ``name@version``."""
        return f"{self.name}@{self.version}"

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-able dict (times in ISO 8601)."""
        d = attrs.asdict(self, recurse=False)
        d["status"] = self.status.value
        d["hyperparams"] = dict(self.hyperparams)
        d["env_config"] = dict(self.env_config)
        d["library_versions"] = dict(self.library_versions)
        d["metrics"] = dict(self.metrics)
        d["created_at"] = self.created_at.isoformat()
        d["promoted_at"] = None if self.promoted_at is None else self.promoted_at.isoformat()
        return d

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> ModelVersion:
        """Inverse of :meth:`to_json`."""
        promoted = d.get("promoted_at")
        return cls(
            name=str(d["name"]),
            version=int(d["version"]),
            algo=str(d["algo"]),
            status=ModelStatus(d["status"]),
            path=str(d["path"]),
            hyperparams=dict(d.get("hyperparams") or {}),
            data_hash=str(d.get("data_hash", "")),
            env_config=dict(d.get("env_config") or {}),
            seed=int(d.get("seed", 0)),
            library_versions=dict(d.get("library_versions") or {}),
            metrics=dict(d.get("metrics") or {}),
            created_at=datetime.fromisoformat(str(d["created_at"])),
            promoted_at=None if promoted is None else datetime.fromisoformat(str(promoted)),
        )


def feature_stats_json(names: Sequence[str], mean: Sequence[float],
                       std: Sequence[float]) -> dict[str, list[Any]]:
    """Return per-feature training statistics as the JSON recorded with a version
    (``metrics[FEATURE_STATS_KEY]``); raise ``ValueError`` for lists of different lengths."""
    if not len(names) == len(mean) == len(std):
        raise ValueError(f"feature statistics: {len(names)} names, {len(mean)} means and "
                         f"{len(std)} standard deviations; expected one of each per feature")
    return {"names": [str(n) for n in names], "mean": [float(x) for x in mean],
            "std": [float(x) for x in std]}


def training_feature_stats(
    version: ModelVersion,
) -> tuple[tuple[str, ...], tuple[float, ...], tuple[float, ...]] | str:
    """Return the ``(names, mean, std)`` of the features ``version`` was trained on, or why
    there are none: a version registered without them (before they were recorded, or by a
    trainer that does not record them), or a record that cannot be read."""
    raw = version.metrics.get(FEATURE_STATS_KEY)
    if raw is None:
        return (f"{version.ref} was registered without its training data's feature "
                "statistics")
    try:
        names = tuple(str(n) for n in raw["names"])
        mean = tuple(float(x) for x in raw["mean"])
        std = tuple(float(x) for x in raw["std"])
    except (KeyError, TypeError, ValueError) as exc:
        return f"{version.ref}: its recorded feature statistics cannot be read ({exc!r})"
    if not names or not len(names) == len(mean) == len(std):
        return (f"{version.ref}: its recorded feature statistics have {len(names)} names, "
                f"{len(mean)} means and {len(std)} standard deviations")
    return names, mean, std


def validate_model_name(name: str) -> str:
    """Return ``name`` if it is a usable model name, else raise ``ValueError``."""
    if not _NAME.match(name):
        raise ValueError(
            f"model name {name!r} must be 1-64 characters of letters, digits, '_', '.', '-'"
            " and start with a letter or digit"
        )
    return name


def parse_model_ref(ref: str) -> tuple[str, int | None]:
    """Split ``name`` or ``name@version`` (``version`` an integer).

    Raises
    ------
    ValueError
        If the version is not a positive integer or the name is invalid.
    """
    name, sep, ver = ref.partition("@")
    validate_model_name(name)
    if not sep:
        return name, None
    if not ver.isdigit() or int(ver) < 1:
        raise ValueError(f"model reference {ref!r}: version must be a positive integer")
    return name, int(ver)


def env_config_diff(
    trained: Mapping[str, Any],
    given: Mapping[str, Any],
    ignore: frozenset[str] = SAMPLING_FIELDS,
    defaults: Mapping[str, Any] | None = None,
) -> list[tuple[str, Any, Any]]:
    """Return ``(field, trained value, given value)`` for every field that differs.

    Nested mappings (e.g. ``costs``) are compared field by field with dotted names. With
    ``defaults`` (the config's default values, nested the same way), a field the trained
    metadata lacks -- it was recorded before the field existed -- counts as its default.
    """
    out: list[tuple[str, Any, Any]] = []
    missing = object()

    def walk(prefix: str, a: Mapping[str, Any], b: Mapping[str, Any],
             d: Mapping[str, Any] | None) -> None:
        for key in sorted(set(a) | set(b)):
            if not prefix and key in ignore:
                continue
            name = f"{prefix}{key}"
            va, vb = a.get(key, missing), b.get(key)
            dv = d.get(key) if isinstance(d, Mapping) else None
            if va is missing:
                va = dv
            if isinstance(va, Mapping) and isinstance(vb, Mapping):
                walk(name + ".", va, vb, dv if isinstance(dv, Mapping) else None)
            elif _norm(va) != _norm(vb):
                out.append((name, va, vb))

    walk("", trained, given, defaults)
    return out


def _norm(v: Any) -> Any:
    if isinstance(v, list | tuple):
        return [_norm(x) for x in v]
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, int | float):
        return float(v)
    return v


def check_env_config(
    model: ModelVersion, given: Mapping[str, Any], ignore: frozenset[str] = SAMPLING_FIELDS,
    defaults: Mapping[str, Any] | None = None,
) -> None:
    """Raise :class:`IncompatibleEnvConfigError` naming each differing field (fields the
    model's metadata lacks count as ``defaults``, see :func:`env_config_diff`)."""
    diff = env_config_diff(model.env_config, given, ignore, defaults)
    if diff:
        parts = "; ".join(f"{f}: trained {a!r}, given {b!r}" for f, a, b in diff)
        raise IncompatibleEnvConfigError(
            f"model {model.ref} was trained for another environment config ({parts}); "
            "evaluate it with the config it was trained for or retrain it"
        )


def plan_promotion(
    versions: Sequence[ModelVersion], version: int, now: datetime
) -> list[ModelVersion]:
    """Return the versions that change when ``version`` is promoted to production.

    The promoted version becomes ``production`` (``promoted_at = now``); a previous
    production version becomes ``archived``. Promoting the production version is a no-op.
    """
    target = _find(versions, version)
    if target.status is ModelStatus.production:
        return []
    changed = [
        attrs.evolve(v, status=ModelStatus.archived)
        for v in versions
        if v.status is ModelStatus.production
    ]
    changed.append(attrs.evolve(target, status=ModelStatus.production, promoted_at=now))
    return changed


def plan_rollback(versions: Sequence[ModelVersion]) -> list[ModelVersion]:
    """Return the versions that change when production is rolled back.

    The production version is archived; the most recently promoted version before it (by
    ``promoted_at``, which a rollback keeps) becomes production again, so repeated
    rollbacks walk back through the promotion history.

    Raises
    ------
    RegistryError
        If there is no production version or no earlier promoted version.
    """
    prod = [v for v in versions if v.status is ModelStatus.production]
    if not prod:
        name = versions[0].name if versions else "?"
        raise RegistryError(f"model {name!r} has no production version to roll back")
    cur = prod[0]
    earlier = [
        v
        for v in versions
        if v.version != cur.version
        and v.promoted_at is not None
        and (cur.promoted_at is None or v.promoted_at <= cur.promoted_at)
    ]
    if not earlier:
        raise RegistryError(
            f"model {cur.name!r}: no earlier promoted version to roll back to from {cur.ref}"
        )
    prev = max(earlier, key=lambda v: (v.promoted_at, v.version))
    return [
        attrs.evolve(cur, status=ModelStatus.archived),
        attrs.evolve(prev, status=ModelStatus.production),
    ]


def _find(versions: Sequence[ModelVersion], version: int) -> ModelVersion:
    for v in versions:
        if v.version == version:
            return v
    name = versions[0].name if versions else "?"
    raise ModelNotFoundError(f"model {name}@{version} is not registered")
