"""The alert inbox as an alert source, and the mapping of TradingView-style alert bodies.

:class:`InboxFeed` is an :class:`~application.router.AlertFeed` over the inbox of a unit of
work; :class:`InboxSignalSource` routes what it releases and writes each decision back to the
inbox. Both work inside the transaction the engine opened for its step (they use the engine's
unit of work, already entered), so the inbox statuses commit with the step's orders, cursor
and router memory: after a crash the step is either wholly there or wholly absent, and the
alerts it had released are routed again exactly once.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Collection, Sequence
from datetime import UTC, datetime
from typing import Any

from adapters.sources.parse import AlertIssue
from application.inbox import alert_from_payload, decision_status, release, settle
from application.ports import InboxUnitOfWork
from application.router import AlertSignalSource, SignalRouter
from domain.alerts import Alert
from domain.signal import Signal

__all__ = ["TRADINGVIEW_ACTIONS", "InboxFeed", "InboxSignalSource", "from_tradingview",
           "is_tradingview"]

#: TradingView ``{{strategy.order.action}}`` values and the sentiment each maps to.
TRADINGVIEW_ACTIONS = {"buy": 1.0, "long": 1.0, "sell": -1.0, "short": -1.0}


def is_tradingview(d: dict[str, Any]) -> bool:
    """Return True for a TradingView-style body (``action`` and ``time``, no ``known_at``)."""
    return "known_at" not in d and ("action" in d or "time" in d)


def _tv_time(v: Any) -> Any:
    # ``{{time}}`` is ISO 8601 in UTC; ``{{timenow}}`` too; epoch milliseconds also appear
    if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
        secs = v / 1000.0 if v > 1e11 else float(v)
        try:
            return datetime.fromtimestamp(secs, UTC).isoformat()
        except (OverflowError, OSError, ValueError):
            return v
    return v


def from_tradingview(d: dict[str, Any]) -> dict[str, Any]:
    """Map a TradingView-style alert body to the project's alert schema (a dict to validate).

    ``ticker`` -> ticker (an exchange prefix such as ``NASDAQ:`` is dropped); ``time`` ->
    ``known_at``; ``action`` buy/long -> sentiment +1, sell/short -> -1; ``message`` ->
    headline; ``price`` kept in ``data``; ``score`` defaults to 1.0 (a strategy's order is a
    deliberate signal), ``catalyst_type`` to ``other``. Without an ``id``, one is derived
    from ticker, time, action and message, so TradingView re-sending the same alert is
    recognised as the same alert. Missing fields are left missing for validation to name.
    """
    out: dict[str, Any] = {}
    ticker = d.get("ticker")
    if isinstance(ticker, str) and ":" in ticker:
        ticker = ticker.rsplit(":", 1)[1]
    if ticker is not None:
        out["ticker"] = ticker
    if d.get("time") is not None:
        out["known_at"] = _tv_time(d["time"])
    action = d.get("action")
    if action is not None:
        if not isinstance(action, str) or action.strip().lower() not in TRADINGVIEW_ACTIONS:
            raise _TvError("action", action, "buy, sell, long or short")
        out["sentiment"] = TRADINGVIEW_ACTIONS[action.strip().lower()]
    out["score"] = d.get("score", 1.0)
    out["catalyst_type"] = d.get("catalyst_type", "other")
    out["headline"] = str(d.get("message", ""))[:500]
    out["source"] = "tradingview"
    data: dict[str, Any] = {"action": action}
    for k in ("price", "interval", "exchange", "strategy"):
        if k in d:
            data[k] = d[k]
    out["data"] = data
    if d.get("id") is not None:
        out["id"] = d["id"]
    elif "ticker" in out and "known_at" in out:
        key = json.dumps([str(out["ticker"]), str(out["known_at"]), str(action),
                          out["headline"]], separators=(",", ":"))
        out["id"] = "tv-" + hashlib.sha256(key.encode()).hexdigest()[:32]
    return out


class _TvError(ValueError):
    def __init__(self, field: str, value: Any, expected: str) -> None:
        self.field = field
        super().__init__(f"invalid {field}: got {value!r}, expected {expected}")


class InboxFeed:
    """Released inbox alerts, in ``(known_at, arrival)`` order, for the engine's step.

    ``poll`` must run inside ``with uow:`` (the engine's step). It releases what became known
    by ``now`` and returns those alerts; an alert for a ticker outside ``known_tickers`` is
    marked ``rejected`` at once (the router never sees it). The position in the inbox is the
    inbox itself (each alert's status), so :meth:`dump_state` only reports counts.
    """

    def __init__(self, uow: InboxUnitOfWork, *, known_tickers: Collection[str] | None = None,
                 on_issue: Callable[[AlertIssue], None] | None = None, batch: int = 1000,
                 run: str | None = None) -> None:
        self.uow = uow
        self.known_tickers = None if known_tickers is None else set(known_tickers)
        self.on_issue = on_issue
        self.batch = batch
        self.run = run if run is not None else getattr(uow, "run", None)
        self.released = 0
        self.rejected = 0

    def poll(self, now: datetime) -> Sequence[Alert]:
        """Release the inbox up to ``now`` and return the alerts waiting to be routed."""
        records = release(self.uow.inbox, now, self.batch)
        out: list[Alert] = []
        rejected: list[tuple[str, str, str]] = []
        for rec in records:
            alert = alert_from_payload(rec.payload)
            if self.known_tickers is not None and alert.ticker not in self.known_tickers:
                reason = f"unknown ticker {alert.ticker!r}: no price data for it"
                rejected.append((alert.id, "rejected", reason))
                if self.on_issue is not None:
                    self.on_issue(AlertIssue("inbox", rec.seq, f"{alert.id}: {reason}"))
                continue
            out.append(alert)
        self.rejected += settle(self.uow.inbox, rejected, now, self.run)
        self.released += len(out)
        return out

    def dump_state(self) -> str:
        """Return counts (the inbox statuses are the position)."""
        return json.dumps({"released": self.released, "rejected": self.rejected})

    def load_state(self, raw: str | None) -> None:
        """Restore the counts."""
        d = json.loads(raw) if raw else None
        if isinstance(d, dict):
            self.released = int(d.get("released", 0))
            self.rejected = int(d.get("rejected", 0))


class InboxSignalSource(AlertSignalSource):
    """An :class:`AlertSignalSource` over an :class:`InboxFeed` that settles each decision.

    Every alert the feed released ends the same poll ``routed`` (it made a signal) or
    ``suppressed`` with the router's reason, in the transaction the engine commits.
    """

    feed: InboxFeed

    def __init__(self, feed: InboxFeed, router: SignalRouter | None = None) -> None:
        super().__init__(feed, router)

    def poll(self, now: datetime) -> Sequence[Signal]:
        """Route the released alerts and write each outcome to the inbox."""
        signals = super().poll(now)
        settle(self.feed.uow.inbox,
               ((d.alert.id, *decision_status(d)) for d in self.last_decisions),
               now, self.feed.run)
        return signals
