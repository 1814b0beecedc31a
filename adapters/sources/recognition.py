"""Recognising a file given as alerts that is something else (a price file, Parquet).

Only the start of the file is read, so a wrong ``--alerts`` is refused before anything runs.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Collection
from pathlib import Path

from adapters.sources.parse import MAX_LINE_BYTES, loads_bounded

__all__ = ["NotAlertsError", "not_alerts_reason"]

_PRICE_COLUMNS = frozenset({"open", "high", "low", "close"})
_ALERT_KEYS = frozenset({"id", "known_at"})


class NotAlertsError(ValueError):
    """The file given as alerts is something else (a price file, Parquet)."""


def _price_like(columns: Collection[str]) -> bool:
    cols = {str(c).strip().lower() for c in columns}
    return not (_ALERT_KEYS & cols) and (
        cols >= _PRICE_COLUMNS or ("close" in cols and bool({"date", "timestamp"} & cols))
    )


def not_alerts_reason(path: str | Path) -> str | None:
    """Return why the file at ``path`` is not an alert file (a price file, Parquet), or None.

    Only the start of the file is read: a first line (JSON object or CSV header) that has price
    columns (``open``, ``high``, ``low``, ``close``) and no alert keys (``id``, ``known_at``).
    """
    p = Path(path)
    with p.open("rb") as fh:
        head = fh.read(MAX_LINE_BYTES)
    if head.startswith(b"PAR1"):
        return "is a Parquet file (a price file?); alerts are JSON lines or CSV"
    first = next((ln for ln in head.splitlines() if ln.strip()), b"")
    try:
        text = first.decode("utf-8-sig").strip()
    except UnicodeDecodeError:
        return None
    columns: list[str] = []
    if text.startswith("{"):
        try:
            obj = loads_bounded(text)
        except ValueError:
            return None
        if isinstance(obj, dict):
            columns = [str(k) for k in obj]
    else:
        columns = next(csv.reader(io.StringIO(text)), [])
    if columns and _price_like(columns):
        shown = ", ".join(c.strip() for c in columns[:8])
        return f"looks like a price file (columns {shown}), not alerts"
    return None
