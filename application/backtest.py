"""Run a replay (a backtest or a simulated paper run) through a wired engine.

The entrypoint builds the engine and the market driver (its container knows the adapters);
this use case runs them: it resumes from the engine's cursor (restoring the venue's books
through ``restore``), plays the operator who resumes after a circuit breaker when asked to
(``auto_resume``), reports each step to ``on_step`` (a progress bar), and returns what happened.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import attrs

from application.engine import Engine, EngineResult, MarketDriver, MarketStep
from application.ports import UnitOfWork
from application.risk import RiskService
from domain.events import RiskState

__all__ = ["AUTO_RESUME_BY", "ReplayOutcome", "remaining_steps", "run_replay"]

#: who the journal records for the resumes a replay simulates with ``auto_resume``
AUTO_RESUME_BY = "backtest --auto-resume"


@attrs.frozen
class ReplayOutcome:
    """How a replay ended and how often the simulated operator resumed trading."""

    result: EngineResult
    auto_resumes: int


def remaining_steps(engine: Engine, driver: MarketDriver) -> int | None:
    """Return how many steps the replay has left after the engine's cursor, if the driver
    knows (for a progress bar)."""
    remaining: Callable[[datetime | None], int] | None = getattr(driver, "remaining", None)
    return None if remaining is None else remaining(engine.cursor())


def run_replay(
    engine: Engine,
    driver: MarketDriver,
    risk: RiskService,
    *,
    auto_resume: bool = False,
    restore: Callable[[UnitOfWork], None] | None = None,
    on_step: Callable[[MarketStep], None] | None = None,
    commit_every: int = 1,
) -> ReplayOutcome:
    """Run (or resume) the replay to its end or until ``engine.request_stop()`` is called.

    Parameters
    ----------
    engine, driver
        The wired engine and the driver that moves its simulated market.
    risk
        The engine's risk service (read and resumed by ``auto_resume``).
    auto_resume
        After each step, resume trading if a circuit breaker tripped (never after a kill),
        as an operator would after the close of the session: the next session trades again.
    restore
        Rebuilds the venue's books from the store when the run resumes.
    on_step
        Called after each step (and after any resume it caused).
    commit_every
        Steps per durable commit (see :attr:`EngineConfig.commit_every`): more than 1 only
        when nothing else writes the database while the replay runs (a file of alerts or a
        strategy, not the webhook inbox; on SQLite a held transaction makes other writers
        wait).
    """
    resumes = 0

    def after_step(step: MarketStep) -> None:
        nonlocal resumes
        if auto_resume:
            st = risk.current()
            if st.state is not RiskState.ACTIVE and not st.killed:
                risk.resume(AUTO_RESUME_BY, "simulated operator resume after "
                            f"{', '.join(st.tripped_rules) or 'a trip'}", approve=True,
                            ts=step.ts)
                resumes += 1
        if on_step is not None:
            on_step(step)

    engine.on_step = after_step
    if commit_every != engine.config.commit_every:
        engine.config = attrs.evolve(engine.config, commit_every=commit_every)
    result = engine.run(driver, on_resume=restore)
    return ReplayOutcome(result=result, auto_resumes=resumes)
