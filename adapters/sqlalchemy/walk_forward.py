"""Walk-forward runs in the database (tables ``walk_forward_runs``/``walk_forward_windows``).

:class:`SqlWalkForwardRepo` is the :class:`application.ports.WalkForwardRepo` on an engine;
each save is one transaction (a failed save leaves the earlier rows of the key untouched).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, delete, insert, select

from adapters.sqlalchemy.engine import make_engine
from adapters.sqlalchemy.tables import walk_forward_runs as runs_t
from adapters.sqlalchemy.tables import walk_forward_windows as windows_t

__all__ = ["SqlWalkForwardRepo", "save_walk_forward_run"]


class SqlWalkForwardRepo:
    """Walk-forward runs on a SQLAlchemy engine."""

    def __init__(self, engine: Engine, clock: Any = None) -> None:
        self.engine = engine
        self._now = clock or (lambda: datetime.now(UTC))

    def save(
        self, run_key: str, kind: str, settings: Mapping[str, Any], report: Mapping[str, Any]
    ) -> None:
        """Replace the run ``run_key`` and its windows in one transaction."""
        with self.engine.begin() as conn:
            conn.execute(delete(windows_t).where(windows_t.c.run_key == run_key))
            conn.execute(delete(runs_t).where(runs_t.c.run_key == run_key))
            conn.execute(insert(runs_t).values(
                run_key=run_key, kind=kind, settings=dict(settings),
                aggregate=dict(report["aggregate"]),
                deflated_sharpe=dict(report["deflated_sharpe"]),
                pbo=None if report.get("pbo") is None else dict(report["pbo"]),
                n_trials=int(report.get("n_trials", 0)),
                created_at=self._now(),
            ))
            rows = [
                {
                    "run_key": run_key,
                    "window_index": int(w["index"]),
                    "train_start": w["train_start"],
                    "train_end": w["train_end"],
                    "test_start": w["test_start"],
                    "test_end": w["test_end"],
                    "metrics": dict(w["metrics"]),
                    "baselines": dict(w.get("baselines", {})),
                    "chosen": dict(w.get("chosen", {})),
                }
                for w in report["windows"]
            ]
            if rows:
                conn.execute(insert(windows_t), rows)

    def get(self, run_key: str) -> dict[str, Any] | None:
        """Return the run with its windows, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(select(runs_t).where(runs_t.c.run_key == run_key)).mappings().first()
            if row is None:
                return None
            wins = conn.execute(
                select(windows_t).where(windows_t.c.run_key == run_key)
                .order_by(windows_t.c.window_index)
            ).mappings().all()
        out = dict(row)
        out["windows"] = [dict(w) for w in wins]
        return out

    def list(self) -> list[dict[str, Any]]:
        """Return every run (no windows), newest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(runs_t).order_by(runs_t.c.created_at.desc())).mappings()
            return [dict(r) for r in rows]


def save_walk_forward_run(
    url: str, run_key: str, settings: Mapping[str, Any], report: Mapping[str, Any]
) -> None:
    """Open the database at ``url`` (migrating an empty one) and save the run there."""
    engine = make_engine(url)
    try:
        SqlWalkForwardRepo(engine).save(run_key, str(settings.get("kind", "rl")), settings, report)
    finally:
        engine.dispose()
