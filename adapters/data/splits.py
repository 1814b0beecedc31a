"""Read a splits file: known stock splits that decide ambiguous large moves.

CSV with a header row and the columns ``ticker,date,ratio`` (any order, any case; more
columns are ignored). ``date`` is the ex-date, the first session at the new price;
``ratio`` is new shares per old share: ``4`` or ``4:1`` for a 4-for-1 split, ``0.1`` or
``1:10`` for a 1-for-10 reverse split, ``3:2`` for 3-for-2.
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from pathlib import Path

import pandas as pd

from adapters.data.ohlcv import DataError

__all__ = ["Splits", "parse_ratio", "read_splits"]

#: Per ticker, its listed splits as ``(ISO date, ratio)``.
Splits = dict[str, list[tuple[str, float]]]

_COLUMNS = ("ticker", "date", "ratio")


def parse_ratio(text: str) -> float:
    """Return ``"4"``, ``"4:1"``, ``"1:10"`` or ``"3/2"`` as new shares per old share.

    Raises
    ------
    ValueError
        If it is not a positive number or ``a:b`` of positive numbers.
    """
    t = text.strip()
    for sep in (":", "/", "-for-"):
        if sep in t:
            a, b = t.split(sep, 1)
            value = float(a) / float(b)
            break
    else:
        value = float(t)
    if not (math.isfinite(value) and value > 0.0) or value == 1.0:
        raise ValueError(text)
    return value


def read_splits(path: str | Path) -> Splits:
    """Read a splits file into ``{ticker: [(date, ratio), ...]}``.

    Raises
    ------
    DataError
        Naming the file, line, field, value and what was expected, for a missing file,
        a missing column or a bad value.
    """
    p = Path(path)
    if not p.exists():
        raise DataError(f"no such splits file: {p}")
    out: Splits = defaultdict(list)
    with p.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        header = {str(h).strip().lower(): h for h in (reader.fieldnames or [])}
        missing = [c for c in _COLUMNS if c not in header]
        if missing:
            raise DataError(
                f"{p}: missing column(s) {', '.join(missing)}; expected a header "
                f"'ticker,date,ratio', got {list(reader.fieldnames or [])}"
            )
        for no, row in enumerate(reader, 2):
            ticker = str(row[header["ticker"]] or "").strip().upper()
            if not ticker:
                raise DataError(f"{p}:{no}: field ticker is empty: expected a symbol")
            raw_date = str(row[header["date"]] or "").strip()
            try:
                day = pd.Timestamp(raw_date).strftime("%Y-%m-%d")
            except (ValueError, TypeError):
                raise DataError(
                    f"{p}:{no}: field date={raw_date!r}: expected a date (YYYY-MM-DD)"
                ) from None
            raw_ratio = str(row[header["ratio"]] or "")
            try:
                ratio = parse_ratio(raw_ratio)
            except (ValueError, ZeroDivisionError):
                raise DataError(
                    f"{p}:{no}: field ratio={raw_ratio!r}: expected new shares per old "
                    "share other than 1, e.g. 4, 4:1, 3:2 or 1:10"
                ) from None
            out[ticker].append((day, ratio))
    return dict(out)
