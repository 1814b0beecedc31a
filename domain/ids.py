"""Deterministic identifiers: the same input always yields the same id (no random source)."""

from __future__ import annotations

import hashlib
import re

MAX_CLIENT_ORDER_ID = 48  # Alpaca's limit
_SAFE = re.compile(r"[^A-Za-z0-9]")


def digest(*parts: object, length: int = 24) -> str:
    """Return a hex digest of ``parts`` joined with a separator that cannot occur in them."""
    h = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()
    return h[:length]


def client_order_id(
    signal_id: str, purpose: str = "entry", strategy: str = "", run: str = ""
) -> str:
    """Return the client order id of the order that ``signal_id`` places for ``purpose``.

    The id is a pure function of its inputs, so a restarted engine that replays the same
    signal asks the broker for the same order instead of placing a second one. ``run`` (a
    run name; empty for the default run) enters the hash, so two runs trading the same
    signal place different orders. At most 48 characters: ``ct-<strategy>-<purpose>-<hash>``.
    """
    strat = _SAFE.sub("", strategy)[:8].lower()
    purp = _SAFE.sub("", purpose)[:6].lower()
    head = "-".join(p for p in ("ct", strat, purp) if p)
    parts = (signal_id, purpose, strategy, run) if run else (signal_id, purpose, strategy)
    cid = f"{head}-{digest(*parts, length=24)}"
    assert len(cid) <= MAX_CLIENT_ORDER_ID
    return cid


def event_id(kind: str, *parts: object) -> str:
    """Return a deterministic event id for ``kind`` and identifying ``parts``."""
    return f"{kind}-{digest(kind, *parts, length=20)}"
