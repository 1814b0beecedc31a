"""Market data values: bars and the market clock.

Bars carry floats: they are analytics inputs and travel in bulk as arrays on the hot path;
``Decimal`` appears when a price becomes money (an order or a fill).
"""

from __future__ import annotations

import re
from datetime import datetime

import attrs

from domain.errors import InvalidInput

_TIMEFRAME = re.compile(r"^(\d+)\s*(Min|Hour|Day|Week|Month)$", re.IGNORECASE)
TIMEFRAME_UNITS = ("min", "hour", "day", "week", "month")


def parse_timeframe(text: str) -> tuple[int, str]:
    """Return ``(amount, unit)`` of a bar size such as ``1Min``, ``15Min``, ``1Hour``, ``1Day``.

    The unit is one of :data:`TIMEFRAME_UNITS`; anything else raises :class:`InvalidInput`
    naming the field ``timeframe``, so every price feed refuses a misspelt bar size alike.
    """
    m = _TIMEFRAME.match(text.strip()) if isinstance(text, str) else None
    if not m or int(m.group(1)) < 1:
        raise InvalidInput("timeframe", text, "like 1Min, 5Min, 1Hour, 1Day, 1Week or 1Month")
    return int(m.group(1)), m.group(2).lower()


@attrs.frozen(slots=True)
class Bar:
    """One OHLCV bar; ``ts`` is the bar's close time (UTC)."""

    ticker: str
    ts: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float


@attrs.frozen
class MarketClock:
    """Whether the market is open now, and when it next opens and closes."""

    timestamp: datetime
    is_open: bool
    next_open: datetime
    next_close: datetime
