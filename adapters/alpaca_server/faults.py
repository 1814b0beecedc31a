"""Seeded fault injection for the loopback Alpaca-compatible server.

A spec is a comma-separated list of ``kind:probability`` (plus ``seed=N``, ``delay=SECONDS``)::

    429:0.05,500:0.03,504_after:0.05,delay_after:0.03,delay_before:0.02,drop:0.03,gap:0.1,seed=7

Kinds (each decided independently per request, in this order, first hit wins):

=================  ===========================================================================
``429``            answer 429 before doing anything (rate limited)
``500`` / ``503``  answer 500 / 503 before doing anything
``drop``           start the response, then cut the connection (the request was *not* applied)
``delay_before``   sleep ``delay`` seconds, then process normally (the client has timed out)
``stale_404``      answer 404 "order not found" (a lookup that lags behind an accepted order)
``500_after``      apply the request, then answer 500 (the order *was* accepted)
``504_after``      apply the request, then answer 504 (the order *was* accepted)
``delay_after``    apply the request, then sleep ``delay`` seconds before answering
``drop_after``     apply the request, then cut the connection
``gap``            (stream) drop this trade-update message
``ws_drop``        (stream) close the websocket after sending this message
=================  ===========================================================================

REST faults apply to every ``/v2`` request except the account/clock reads unless
``all_paths=1``; ``only=POST`` (or GET, DELETE) restricts them to one method; the ``*_after``
kinds only make sense for writes and are applied to writes; ``stale_404`` only to order reads.
Tests can also :meth:`FaultPlan.script` an exact sequence of faults for the next requests.
"""

from __future__ import annotations

import random
import threading
from collections import deque

import attrs

REST_BEFORE = ("429", "500", "503", "drop", "delay_before", "stale_404")
REST_AFTER = ("500_after", "504_after", "delay_after", "drop_after")
STREAM = ("gap", "ws_drop")
KINDS = REST_BEFORE + REST_AFTER + STREAM


class FaultSpecError(ValueError):
    """A fault spec could not be parsed; the message names the bad item."""


@attrs.define
class FaultPlan:
    """Probabilities per fault kind, drawn from one seeded generator (thread-safe)."""

    rates: dict[str, float] = attrs.field(factory=dict)
    seed: int = 0
    delay: float = 0.5
    all_paths: bool = False
    only: str | None = None
    _script: deque[str | None] = attrs.field(init=False, factory=deque)
    _rng: random.Random = attrs.field(init=False)
    _lock: threading.Lock = attrs.field(init=False, factory=threading.Lock)
    counts: dict[str, int] = attrs.field(init=False, factory=dict)

    def __attrs_post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    @classmethod
    def parse(cls, spec: str | None) -> FaultPlan:
        """Parse ``spec`` (see the module docstring); an empty spec injects nothing."""
        rates: dict[str, float] = {}
        seed, delay, all_paths, only = 0, 0.5, False, None
        for raw in (spec or "").split(","):
            item = raw.strip()
            if not item:
                continue
            sep = "=" if "=" in item else ":"
            key, _, value = item.partition(sep)
            key = key.strip()
            try:
                if key == "seed":
                    seed = int(value)
                elif key == "delay":
                    delay = float(value)
                elif key == "only":
                    only = value.strip().upper() or None
                elif key == "all_paths":
                    all_paths = value.strip() not in ("0", "false", "")
                elif key in KINDS:
                    p = float(value)
                    if not 0.0 <= p <= 1.0:
                        raise ValueError
                    rates[key] = p
                else:
                    raise FaultSpecError(
                        f"fault spec item {item!r}: unknown kind {key!r}, expected one of "
                        f"{', '.join(KINDS)}, seed=N, delay=SECONDS"
                    )
            except ValueError as exc:
                if isinstance(exc, FaultSpecError):
                    raise
                raise FaultSpecError(
                    f"fault spec item {item!r}: expected {key}:PROBABILITY in [0, 1]"
                    if key in KINDS else f"fault spec item {item!r}: bad number {value!r}"
                ) from None
        return cls(rates=rates, seed=seed, delay=delay, all_paths=all_paths, only=only)

    def script(self, *kinds: str | None) -> None:
        """Make the next eligible requests meet exactly ``kinds`` (None: no fault), in order.

        Each scripted entry is consumed by the first draw whose kinds include it (or by any
        draw, for None); random rates apply again once the script is used up.
        """
        with self._lock:
            self._script.extend(kinds)

    def draw(self, kinds: tuple[str, ...]) -> str | None:
        """Return the first of ``kinds`` that fires on this draw, or None."""
        with self._lock:
            if self._script:
                head = self._script[0]
                if head is None or head in kinds:
                    self._script.popleft()
                    if head is not None:
                        self.counts[head] = self.counts.get(head, 0) + 1
                    return head
                return None
            for kind in kinds:
                p = self.rates.get(kind, 0.0)
                if p > 0.0 and self._rng.random() < p:
                    self.counts[kind] = self.counts.get(kind, 0) + 1
                    return kind
        return None

    def set(self, **rates: float) -> None:
        """Change probabilities at run time (tests switch faults on and off)."""
        with self._lock:
            self.rates.update(rates)

    def clear(self) -> None:
        """Stop injecting anything."""
        with self._lock:
            self.rates.clear()
            self._script.clear()
