"""The quarantine: poison input (an alert line, a price bar) set aside with where and why.

Recorded in its own short transaction, once per input (``key`` is a digest of the source, the
line and the reason): recording the same input again after a restart adds nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

import attrs
from sqlalchemy import select
from sqlalchemy.engine import Engine

from adapters.sqlalchemy.tables import quarantine
from domain.ids import digest

EXCERPT_MAX = 200


@attrs.frozen
class QuarantineEntry:
    """One input set aside."""

    run_id: str
    kind: str  # "alert" or "bar"
    source: str
    line: int | None
    reason: str
    excerpt: str = ""
    created_at: datetime | None = None

    @property
    def key(self) -> str:
        """Return what identifies this input across restarts."""
        return digest(self.kind, self.source, self.line, self.reason, length=32)


def record_quarantine(engine: Engine, entries: Iterable[QuarantineEntry],
                      now: datetime | None = None) -> int:
    """Store the entries not stored yet; return how many were new."""
    rows = {e.key: e for e in entries}
    if not rows:
        return 0
    when = now or datetime.now(UTC)
    new = 0
    with engine.begin() as conn:
        by_run: dict[str, set[str]] = {}
        for e in rows.values():
            by_run.setdefault(e.run_id, set()).add(e.key)
        have: set[tuple[str, str]] = set()
        for run, keys in by_run.items():
            q = select(quarantine.c.key).where(quarantine.c.run_id == run,
                                               quarantine.c.key.in_(sorted(keys)))
            have |= {(run, k) for k in conn.execute(q).scalars()}
        for key, e in rows.items():
            if (e.run_id, key) in have:
                continue
            conn.execute(quarantine.insert().values(
                run_id=e.run_id, kind=e.kind, source=e.source[:1000], line=e.line,
                reason=e.reason[:2000], excerpt=e.excerpt[:EXCERPT_MAX], key=key,
                created_at=when))
            new += 1
    return new


def list_quarantine(engine: Engine, run_id: str | None = None) -> list[QuarantineEntry]:
    """Return the quarantined inputs (of one run, or all), oldest first."""
    q = select(quarantine).order_by(quarantine.c.seq)
    if run_id is not None:
        q = q.where(quarantine.c.run_id == run_id)
    with engine.connect() as conn:
        return [QuarantineEntry(run_id=r.run_id, kind=r.kind, source=r.source, line=r.line,
                                reason=r.reason, excerpt=r.excerpt, created_at=r.created_at)
                for r in conn.execute(q)]
