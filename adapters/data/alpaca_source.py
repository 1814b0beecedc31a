"""Historical bars from Alpaca's market-data API as a :class:`adapters.data.ohlcv.BarSource`.

A stop-gap until the Alpaca price-feed adapter (``PriceFeedPort``) lands: anything with
``get_bars(ticker, start, end, timeframe)`` can replace it. Errors are translated into
:class:`adapters.data.ohlcv.DataError` with a message a user can act on; keys never appear
in a message.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from adapters.data.ohlcv import DataError

__all__ = ["AlpacaBarSource", "MissingCredentials"]

_TIMEFRAMES = {"1Day": ("Day", 1), "1Hour": ("Hour", 1), "1Min": ("Minute", 1)}


class MissingCredentials(DataError):
    """Alpaca keys are not in the environment."""


class AlpacaBarSource:
    """Fetch bars with alpaca-py's ``StockHistoricalDataClient``.

    Parameters
    ----------
    api_key, secret_key
        Keys; default ``APCA_API_KEY_ID`` / ``APCA_API_SECRET_KEY`` from the environment.
    feed
        Alpaca data feed (``iex`` works with free paper accounts, ``sip`` needs a plan).
    adjustment
        Corporate-action adjustment: ``raw``, ``split``, ``dividend`` or ``all``.
    """

    def __init__(
        self,
        api_key: str | None = None,
        secret_key: str | None = None,
        *,
        feed: str = "iex",
        adjustment: str = "split",
    ) -> None:
        key = api_key or os.environ.get("APCA_API_KEY_ID")
        secret = secret_key or os.environ.get("APCA_API_SECRET_KEY")
        if not key or not secret:
            raise MissingCredentials(
                "Alpaca keys are not set: export APCA_API_KEY_ID and APCA_API_SECRET_KEY "
                "(paper-account keys work), or import a CSV/Parquet file with "
                "'catalyst data import PATH'"
            )
        from alpaca.data.historical import StockHistoricalDataClient

        self._client = StockHistoricalDataClient(key, secret)
        self._feed = feed
        self._adjustment = adjustment

    def get_bars(
        self, ticker: str, start: datetime, end: datetime, timeframe: str = "1Day"
    ) -> list[dict[str, Any]]:
        """Return the bars of ``ticker`` between ``start`` and ``end`` as dict rows."""
        from alpaca.common.exceptions import APIError
        from alpaca.data.enums import Adjustment, DataFeed
        from alpaca.data.requests import StockBarsRequest
        from alpaca.data.timeframe import TimeFrame, TimeFrameUnit

        if timeframe not in _TIMEFRAMES:
            raise DataError(
                f"unknown timeframe {timeframe!r}: use one of {sorted(_TIMEFRAMES)}"
            )
        unit, amount = _TIMEFRAMES[timeframe]
        req = StockBarsRequest(
            symbol_or_symbols=ticker,
            start=start,
            end=end,
            timeframe=TimeFrame(amount, TimeFrameUnit(unit)),
            feed=DataFeed(self._feed),
            adjustment=Adjustment(self._adjustment),
        )
        try:
            result: Any = self._client.get_stock_bars(req)
        except APIError as exc:
            raise DataError(
                f"Alpaca refused the bars request for {ticker}: {exc}"
            ) from None
        except OSError as exc:  # requests' ConnectionError is an OSError
            raise DataError(
                f"cannot reach Alpaca's data API (offline?): {type(exc).__name__}"
            ) from None
        except ValueError as exc:  # pydantic's ValidationError is a ValueError
            raise DataError(
                f"Alpaca sent bars for {ticker} that do not parse: {exc}"
            ) from None
        bars = result.data.get(ticker, []) if hasattr(result, "data") else []
        return [
            {
                "ts": b.timestamp,
                "ticker": ticker,
                "open": b.open,
                "high": b.high,
                "low": b.low,
                "close": b.close,
                "volume": b.volume,
            }
            for b in bars
        ]
