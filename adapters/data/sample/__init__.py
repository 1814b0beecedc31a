"""A real sample data set bundled with the package (see ``SOURCES.md`` beside this file)."""

from __future__ import annotations

from importlib.resources import as_file, files
from pathlib import Path

import attrs

__all__ = ["SAMPLE_TICKERS", "SamplePaths", "sample_paths"]

SAMPLE_TICKERS = ("AAPL", "AMZN", "GOOG", "JNJ", "JPM", "KO", "MSFT", "XOM")


@attrs.frozen
class SamplePaths:
    """Paths of the bundled sample files."""

    prices: Path
    alerts: Path
    sources: Path


def sample_paths() -> SamplePaths:
    """Return the paths of the bundled daily prices, earnings alerts and their sources note.

    Returns
    -------
    SamplePaths
        ``prices`` (CSV ``date,ticker,open,high,low,close,volume``), ``alerts`` (JSONL in the
        project's alert format) and ``sources`` (origin and licence of each file).
    """
    root = files(__name__)
    # The package is installed as plain files (not zipped), so these paths stay valid.
    with (
        as_file(root / "prices_daily.csv") as prices,
        as_file(root / "alerts_earnings.jsonl") as alerts,
        as_file(root / "SOURCES.md") as sources,
    ):
        return SamplePaths(
            prices=Path(prices), alerts=Path(alerts), sources=Path(sources)
        )
