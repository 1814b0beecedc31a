"""Market data values: bars and the market clock.

Bars carry floats: they are analytics inputs and travel in bulk as arrays on the hot path;
``Decimal`` appears when a price becomes money (an order or a fill).
"""

from __future__ import annotations

from datetime import datetime

import attrs


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
