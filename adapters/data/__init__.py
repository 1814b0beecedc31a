"""Market data adapters: OHLCV files, the Parquet cache, calendars, alerts, features.

pandas lives here (and not in ``application``): frames are converted to the pure
:class:`domain.market_data.OhlcvSeries` arrays before any rule runs.
"""
