"""``catalyst rl``: train, tune, register, ensemble and evaluate RL agents.

Each command parses its options, calls a use case (``application.training``,
``application.tuning``, ``application.evaluation``) or the registry, and renders the result.
Heavy imports (torch, Stable-Baselines3, Optuna) happen inside the commands that need them,
so ``catalyst --help`` stays fast.
"""

from entrypoints.cli.rl import evaluation, models, status, training, walk_forward
from entrypoints.cli.rl._common import app

__all__ = ["app", "evaluation", "models", "status", "training", "walk_forward"]
