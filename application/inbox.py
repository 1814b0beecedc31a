"""The alert inbox's use cases: receive alerts durably, release them, settle how they routed.

The intake (``entrypoints/webhook``) calls :func:`receive`, which commits before it returns,
so an acknowledged alert is never lost. The engine's alert source calls :func:`release` and
:func:`settle` inside the engine's own step transaction: the inbox status, the router's memory
and the orders of the step commit together, so a crash between receipt and routing loses
nothing and a restart routes nothing twice.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import attrs

from application.ports import INBOX_FINAL, AlertInbox, InboxRecord, InboxUnitOfWork
from application.router import RouteDecision
from domain.alerts import Alert

__all__ = [
    "Receipt",
    "alert_from_payload",
    "alert_payload",
    "body_hash",
    "decision_status",
    "receive",
    "release",
    "settle",
]


@attrs.frozen
class Receipt:
    """What the inbox did with one received alert: stored it now, or had it already."""

    record: InboxRecord
    created: bool


def body_hash(body: bytes) -> str:
    """Return the SHA-256 hex digest of a request body (kept with each alert it carried)."""
    return hashlib.sha256(body).hexdigest()


def alert_payload(alert: Alert) -> str:
    """Return ``alert`` in the project's JSON alert schema (what the inbox stores)."""
    d: dict[str, Any] = {
        "id": alert.id, "ticker": alert.ticker, "known_at": alert.known_at.isoformat(),
        "catalyst_type": alert.catalyst_type.value, "score": alert.score,
        "sentiment": alert.sentiment, "headline": alert.headline, "source": alert.source,
        "data": dict(alert.data),
    }
    return json.dumps(d, sort_keys=True, separators=(",", ":"), default=str)


def alert_from_payload(payload: str) -> Alert:
    """Rebuild the :class:`Alert` stored by :func:`alert_payload`."""
    d = json.loads(payload)
    return Alert(id=d["id"], ticker=d["ticker"], known_at=datetime.fromisoformat(d["known_at"]),
                 catalyst_type=d["catalyst_type"], score=d["score"], sentiment=d["sentiment"],
                 headline=d.get("headline", ""), source=d.get("source", ""),
                 data=d.get("data") or {})


def receive(uow: InboxUnitOfWork, alerts: Sequence[Alert], *, source: str, digest: str,
            now: datetime) -> list[Receipt]:
    """Store ``alerts`` (one request's) in one committed transaction; return one receipt each.

    An alert id already in the inbox (or earlier in the same batch) is not stored again: its
    receipt carries the first record and ``created=False``.
    """
    out: list[Receipt] = []
    with uow:
        for a in alerts:
            rec = InboxRecord(alert_id=a.id, received_at=now, known_at=a.known_at,
                              source=source, body_hash=digest, payload=alert_payload(a))
            first = uow.inbox.add(rec)
            if first is None:
                out.append(Receipt(uow.inbox.get(a.id) or rec, True))
            else:
                out.append(Receipt(first, False))
        uow.commit()
    return out


def release(inbox: AlertInbox, now: datetime, limit: int = 1000) -> list[InboxRecord]:
    """Release what became known by ``now``; return the released records waiting to route."""
    inbox.release(now)
    return list(inbox.released(limit))


def decision_status(decision: RouteDecision) -> tuple[str, str]:
    """Return the inbox status and reason of a routing decision."""
    if decision.signal is not None:
        return "routed", f"signal {decision.signal.signal_id}"
    return "suppressed", decision.reason


def settle(inbox: AlertInbox, outcomes: Iterable[tuple[str, str, str]], now: datetime,
           run: str | None) -> int:
    """Give each ``(alert id, status, reason)`` its final status; return how many."""
    n = 0
    for alert_id, status, reason in outcomes:
        if status not in INBOX_FINAL:
            raise ValueError(f"inbox status {status!r}: expected one of {', '.join(INBOX_FINAL)}")
        inbox.mark(alert_id, status, reason, now, run)
        n += 1
    return n
