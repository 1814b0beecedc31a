"""The trade-planning rules, under their older application path.

The rules themselves are pure and live in :mod:`domain.risk.plan`; this module only re-exports
them so that code written against ``application.sizing_plan`` keeps importing the same names.
New code imports from the domain.
"""

from __future__ import annotations

from domain.risk.plan import (
    PlanConfig,
    PlannedLevels,
    latest_atr,
    levels,
    plan_trade,
    round_to_tick,
    size_entry,
    tick_size,
)

__all__ = [
    "PlanConfig",
    "PlannedLevels",
    "latest_atr",
    "levels",
    "plan_trade",
    "round_to_tick",
    "size_entry",
    "tick_size",
]
