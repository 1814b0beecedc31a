"""The fast reading of a Parquet batch whose columns already have the canonical types.

:class:`~adapters.sources.market.DailyBars` reads a time-ordered Parquet file batch by batch.
The general way (``canonicalize`` on a pandas frame, then the row checks) costs far more than
the replay itself; most files, though, are already canonical: ISO date strings or dates or
naive timestamps, string tickers, numeric prices. For such a file, :class:`FastBatches` picks
the needed columns straight from the Arrow batch into numpy, parses each distinct date and
ticker once (with the very same pandas calls ``canonicalize`` makes) and checks the rows on
whole columns. It answers only for a batch with no bad bar at all; any other batch (a bad
bar, a null, a date form it does not know) goes the general way, so the bars served, the bad
bars listed and the errors raised are the same either way (the tests compare both).
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from adapters.data.calendar import session_bounds_ns
from adapters.data.ohlcv import _exchange_dates, canonical_column
from domain.market_data.validation import rows_clean

__all__ = ["FastBatch", "FastBatches"]

_NEEDED = ("date", "ticker", "open", "high", "low", "close", "volume")
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
# the days a datetime64[ns] can hold whole (pandas refuses the others: the general way)
_LO_DAY = int(np.datetime64("1678-01-01", "D").astype(np.int64))
_HI_DAY = int(np.datetime64("2261-12-31", "D").astype(np.int64))


class FastBatch:
    """One clean batch: its rows sorted by day, then ticker (int day numbers, ticker codes
    into ``names``)."""

    __slots__ = ("close", "code", "day", "high", "low", "names", "open", "volume")

    def __init__(self, day: np.ndarray, code: np.ndarray, names: np.ndarray,
                 cols: tuple[np.ndarray, ...]) -> None:
        self.day, self.code, self.names = day, code, names
        self.open, self.high, self.low, self.close, self.volume = cols

    def __len__(self) -> int:
        return len(self.day)


class FastBatches:
    """Reads the batches of one Parquet schema the fast way, or says it cannot.

    ``columns`` is the file's columns to read (the canonical seven, by their names in the
    file), or None when the schema does not suit (then every batch goes the general way).
    """

    def __init__(self, schema: pa.Schema, calendar: str, ticker: str | None) -> None:
        self.calendar = calendar
        self._ticker = ticker
        self._close: dict[int, int] = {}  # day number -> its session's close (int ns)
        self.columns: list[str] | None = self._pick(schema)

    def _pick(self, schema: pa.Schema) -> list[str] | None:
        found: dict[str, str] = {}
        for name in schema.names:
            key = canonical_column(name)
            if key in found:
                if key in _NEEDED:
                    return None  # two columns for one field: canonicalize keeps the first
                continue
            found[key] = name
        if "ticker" not in found and self._ticker is None:
            return None
        if any(k not in found for k in _NEEDED if k != "ticker"):
            return None
        types = {k: schema.field(found[k]).type for k in _NEEDED if k in found}
        d = types["date"]
        if not (pa.types.is_string(d) or pa.types.is_large_string(d) or pa.types.is_date32(d)
                or (pa.types.is_timestamp(d) and d.tz is None)):
            return None
        if "ticker" in types and not (pa.types.is_string(types["ticker"])
                                      or pa.types.is_large_string(types["ticker"])):
            return None
        for k in ("open", "high", "low", "close", "volume"):
            if not (pa.types.is_floating(types[k]) or pa.types.is_integer(types[k])):
                return None
        return [found[k] for k in _NEEDED if k in found]

    # ------------------------------------------------------------------ one batch
    def read(self, rb: pa.RecordBatch, edge: tuple[int | None, set[str]], *,
             check: bool = True) -> FastBatch | None:
        """Return the batch's rows, or None when it must go the general way (a bad bar, a
        value the fast way does not parse). ``edge`` is the last day served before it (day
        number) and its tickers: a ticker's second bar that day is a bad bar too. Without
        ``check`` the batch is known clean (an earlier pass checked it)."""
        n = rb.num_rows
        cols = [rb.column(i) for i in range(rb.num_columns)]
        has_ticker = len(cols) == 7
        day_col = cols[0]
        if day_col.null_count:
            return None
        day = self._days(day_col)
        if day is None:
            return None
        if has_ticker:
            tcol = cols[1]
            if tcol.null_count:
                return None
            enc = pc.dictionary_encode(tcol)
            names_raw = enc.dictionary.to_pandas()
            norm = names_raw.astype(str).str.strip().str.upper().tolist()
            if any("\x00" in t or not t for t in norm):
                return None  # numpy's strings would drop a NUL; an empty ticker is a bad bar
            names, inv = np.unique(np.array(norm, dtype=str), return_inverse=True)
            code = inv.astype(np.int64)[enc.indices.to_numpy(zero_copy_only=False)]
            prices = cols[2:]
        else:
            names = np.array([str(self._ticker).strip().upper()], dtype=str)
            code = np.zeros(n, np.int64)
            prices = cols[1:]
        o, h, lo, c, v = (p.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
                          for p in prices)
        if check:
            if not rows_clean(day, code, o, h, lo, c, v):
                return None
            eday, seen = edge
            if eday is not None and seen:
                at = day == eday
                if bool(at.any()) and not seen.isdisjoint(names[np.unique(code[at])].tolist()):
                    return None
        key = day * len(names) + code
        if n > 1 and not bool(np.all(key[1:] > key[:-1])):
            order = np.argsort(key, kind="stable")
            day, code = day[order], code[order]
            o, h, lo, c, v = o[order], h[order], lo[order], c[order], v[order]
        return FastBatch(day, code, names.astype(object), (o, h, lo, c, v))

    def _days(self, col: pa.Array) -> np.ndarray | None:
        """Return each row's exchange day (int day number), or None (the general way)."""
        t = col.type
        if pa.types.is_date32(t) or pa.types.is_timestamp(t):
            raw = col.to_numpy(zero_copy_only=False)
            days: np.ndarray = np.asarray(raw.astype("datetime64[D]"), np.int64)
        else:
            enc = pc.dictionary_encode(col)
            values = enc.dictionary.to_pylist()
            if all(_ISO_DAY.fullmatch(s) for s in values):
                try:
                    uniq = np.array(values, dtype="datetime64[D]").astype(np.int64)
                except ValueError:
                    return None  # e.g. 2023-02-30: the general way names it
            else:
                try:
                    parsed = _exchange_dates(enc.dictionary.to_pandas())
                except Exception:  # noqa: BLE001 - whatever it is, the general way reports it
                    return None
                uniq = parsed.to_numpy("datetime64[ns]").astype("datetime64[D]").astype(np.int64)
            days = np.asarray(uniq[enc.indices.to_numpy(zero_copy_only=False)], np.int64)
        if len(days) and (int(days.min()) < _LO_DAY or int(days.max()) > _HI_DAY):
            return None
        return days

    def closes(self, days: np.ndarray) -> np.ndarray:
        """Return the session close (int ns) of each day number in ``days``."""
        if len(days) and bool(np.all(days[1:] >= days[:-1])):  # sorted (a clean batch is)
            start = np.flatnonzero(np.concatenate(([True], days[1:] != days[:-1])))
            uniq, inv = days[start], np.repeat(np.arange(len(start)), np.diff(
                np.append(start, len(days))))
        else:
            uniq, inv = np.unique(days, return_inverse=True)
        cache = self._close
        missing = [d for d in uniq.tolist() if d not in cache]
        if missing:
            _, c = session_bounds_ns(np.array(missing, dtype="datetime64[D]")
                                     .astype("datetime64[ns]"), self.calendar)
            cache.update(zip(missing, np.asarray(c, dtype=np.int64).tolist(), strict=True))
        return np.array([cache[d] for d in uniq.tolist()], dtype=np.int64)[inv]

