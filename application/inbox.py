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
    "Delivery",
    "Receipt",
    "alert_from_payload",
    "alert_payload",
    "body_hash",
    "decision_status",
    "receive",
    "receive_many",
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


@attrs.frozen
class Delivery:
    """The alerts of one request, with where they came from and the hash of the body."""

    alerts: Sequence[Alert]
    source: str
    digest: str


def receive_many(uow: InboxUnitOfWork, deliveries: Sequence[Delivery], now: datetime
                 ) -> list[list[Receipt]]:
    """Store the alerts of several requests in one committed transaction (a group commit).

    Returns one list of receipts per delivery, one receipt per alert. An alert id already in
    the inbox (or earlier in the same transaction) is not stored again: its receipt carries
    the first record and ``created=False``.
    """
    out: list[list[Receipt]] = []
    with uow:
        for dl in deliveries:
            mine: list[Receipt] = []
            for a in dl.alerts:
                rec = InboxRecord(alert_id=a.id, received_at=now, known_at=a.known_at,
                                  source=dl.source, body_hash=dl.digest,
                                  payload=alert_payload(a), updated_at=now)
                first = uow.inbox.add(rec)
                mine.append(Receipt(rec, True) if first is None else Receipt(first, False))
            out.append(mine)
        uow.commit()
    return out


def receive(uow: InboxUnitOfWork, alerts: Sequence[Alert], *, source: str, digest: str,
            now: datetime) -> list[Receipt]:
    """Store one request's ``alerts`` in one committed transaction; return a receipt each."""
    return receive_many(uow, [Delivery(alerts, source, digest)], now)[0]


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
