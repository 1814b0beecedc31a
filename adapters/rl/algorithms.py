"""The Stable-Baselines3 algorithms we train, their default hyper-parameters and classes.

Stable-Baselines3 (and torch) are imported only when a class is asked for, so that modules
that merely name the algorithms stay light to import (``catalyst --help``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stable_baselines3.common.base_class import BaseAlgorithm

__all__ = [
    "ALGORITHMS",
    "DEFAULT_HYPERPARAMS",
    "algorithm_class",
    "resolve_hyperparams",
    "sb3_kwargs",
]

ALGORITHMS = ("ppo", "sac", "a2c")

DEFAULT_HYPERPARAMS: dict[str, dict[str, Any]] = {
    "ppo": {
        "learning_rate": 3e-4,
        "n_steps": 512,
        "batch_size": 64,
        "n_epochs": 10,
        "gamma": 0.99,
        "gae_lambda": 0.95,
        "clip_range": 0.2,
        "ent_coef": 0.0,
        "net_arch": [64, 64],
    },
    "sac": {
        "learning_rate": 3e-4,
        "buffer_size": 100_000,
        "batch_size": 256,
        "learning_starts": 100,
        "tau": 0.005,
        "gamma": 0.99,
        "train_freq": 1,
        "gradient_steps": 1,
        "net_arch": [64, 64],
    },
    "a2c": {
        "learning_rate": 7e-4,
        "n_steps": 8,
        "gamma": 0.99,
        "gae_lambda": 1.0,
        "ent_coef": 0.0,
        "net_arch": [64, 64],
    },
}


def algorithm_class(algo: str) -> type[BaseAlgorithm]:
    """Return the SB3 class of ``ppo``, ``sac`` or ``a2c``."""
    from stable_baselines3 import A2C, PPO, SAC

    classes: dict[str, type[BaseAlgorithm]] = {"ppo": PPO, "sac": SAC, "a2c": A2C}
    try:
        return classes[algo]
    except KeyError:
        raise ValueError(f"algo must be one of {', '.join(ALGORITHMS)}, not {algo!r}") from None


def resolve_hyperparams(algo: str, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Return the defaults of ``algo`` updated with ``overrides`` (unknown keys rejected)."""
    algorithm_class(algo)
    hp = dict(DEFAULT_HYPERPARAMS[algo])
    for k, v in (overrides or {}).items():
        if k not in hp:
            raise ValueError(
                f"hyper-parameter {k!r} is not one of {algo}'s: {', '.join(sorted(hp))}"
            )
        hp[k] = list(v) if k == "net_arch" else v
    return hp


def sb3_kwargs(hp: Mapping[str, Any]) -> dict[str, Any]:
    """Return SB3 constructor keywords (``net_arch`` goes into ``policy_kwargs``)."""
    kw = {k: v for k, v in hp.items() if k != "net_arch"}
    kw["policy_kwargs"] = {"net_arch": list(hp["net_arch"])}
    return kw
