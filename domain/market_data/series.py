"""Daily bars of one ticker as arrays, and the thresholds that weigh a split."""

from __future__ import annotations

import attrs
import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
Dates = NDArray[np.datetime64]

#: Common stock-split ratios (new shares per old share) that price and volume alone may
#: confirm; a reverse split is a ratio below 1 (0.1 = 1-for-10).
SPLIT_RATIOS = (
    2.0,
    3.0,
    4.0,
    5.0,
    7.0,
    8.0,
    10.0,
    1.5,
    20.0,
    0.5,
    1 / 3,
    0.25,
    0.2,
    0.1,
)

#: Ratios accepted when ``adj_close`` measures the factor exactly (a wider set, since the
#: measurement leaves no doubt about the size).
EXACT_SPLIT_RATIOS = tuple(
    sorted(
        {
            *SPLIT_RATIOS,
            *(float(n) for n in (6, 9, 12, 15, 25, 30, 40, 50, 100)),
            *(1.0 / n for n in (6, 7, 8, 9, 12, 15, 20, 25, 30, 40, 50, 100)),
            1.25,
            4 / 3,
            2.5,
            2 / 3,
            0.75,
            0.8,
            0.4,
        }
    )
)


@attrs.frozen
class SplitRules:
    """How much evidence a large move needs before it is called a split or a real move.

    Parameters
    ----------
    price_tolerance
        Without ``adj_close``: how far (relative) the close-to-close ratio may be from
        ``1 / ratio`` of a :data:`SPLIT_RATIOS` entry for that ratio to be considered. The
        day's own return moves the raw ratio off the split ratio (a real 4:1 split closed at
        x0.2585, 3.4 % off), so this is loose; the volume evidence decides.
    volume_window
        Bars on each side of the jump whose median volume is compared.
    min_volume_bars
        Fewer bars than this on either side: the volume evidence is missing (ambiguous).
    volume_tolerance
        A split by ``r`` multiplies the share volume by ``r`` for good: the after/before
        ratio of the median volumes must lie within ``r`` times or divided by this factor.
    volume_margin
        ...and be closer to ``r`` than to 1 (no change) and to any other candidate ratio
        by at least this factor.
    volume_spike
        The jump day's volume over the larger of the two median levels; at or above this
        the day looks like news (a crash or a squeeze), not a split.
    adj_tolerance
        With ``adj_close``: how close (relative) the implied factor
        ``(adj_close ratio) / (close ratio)`` must be to a ratio of
        :data:`EXACT_SPLIT_RATIOS`.
    dividend_allowance
        An implied factor within this of 1 is a dividend (or nothing), not a split.
    """

    price_tolerance: float = 0.10
    volume_window: int = 20
    min_volume_bars: int = 5
    volume_tolerance: float = 1.5
    volume_margin: float = 1.25
    volume_spike: float = 2.0
    adj_tolerance: float = 0.02
    dividend_allowance: float = 0.05


# --------------------------------------------------------------------------- series


@attrs.frozen(eq=False)
class OhlcvSeries:
    """Daily OHLCV bars of one ticker as arrays (the adapters build it from a frame).

    Parameters
    ----------
    ticker
        Symbol.
    dates
        Exchange dates (``datetime64[D]``), in file order.
    open, high, low, close, volume
        ``float64`` arrays of the same length as ``dates``.
    adj_close
        Optional split- and dividend-adjusted closes (the vendor's ``adj_close``): evidence
        for split repair, never used as a price. ``NaN`` where unknown.
    """

    ticker: str
    dates: Dates
    open: F64
    high: F64
    low: F64
    close: F64
    volume: F64
    adj_close: F64 | None = None

    def __attrs_post_init__(self) -> None:
        n = len(self.dates)
        for name in ("open", "high", "low", "close", "volume"):
            if len(getattr(self, name)) != n:
                raise ValueError(
                    f"{self.ticker}: {name} has a different length than dates"
                )
        if self.adj_close is not None and len(self.adj_close) != n:
            raise ValueError(f"{self.ticker}: adj_close has a different length than dates")

    def __len__(self) -> int:
        return len(self.dates)

    def take(self, index: NDArray[np.intp] | NDArray[np.bool_]) -> OhlcvSeries:
        """Return the rows selected by an integer or boolean index."""
        return OhlcvSeries(
            self.ticker,
            self.dates[index],
            self.open[index],
            self.high[index],
            self.low[index],
            self.close[index],
            self.volume[index],
            None if self.adj_close is None else self.adj_close[index],
        )
