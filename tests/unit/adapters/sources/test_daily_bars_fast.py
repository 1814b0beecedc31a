"""The fast reading of canonical Parquet batches serves exactly what the general way serves.

:class:`DailyBars` reads a clean batch of a canonical Parquet file straight from Arrow
(``fast=True``, the default) and any other batch through ``canonicalize``; ``fast=False``
reads every batch the general way. On messy files (missing prices, duplicates, weekend and
out-of-calendar dates, unparseable dates, time zones, extra columns, odd column names and
ticker case, nulls, unsorted rows) both must serve the same bars in the same chunks, list the
same bad bars however often the file is read, and refuse (``strict``) with the same message.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.data.ohlcv import DataError
from adapters.sources.market import DailyBars

_MONDAY = np.datetime64("2021-01-04", "D")
_DATE_FORMS = ("iso", "date32", "ts_ns", "ts_us_hours", "ts_tz", "str_time", "str_tz")
_NAMES = {
    "date": ("date", "Date", "timestamp", " DATE "),
    "ticker": ("ticker", "Ticker", "symbol"),
    "open": ("open", "Open", "o"),
    "high": ("high", "HIGH", "h"),
    "low": ("low", "Low", "l"),
    "close": ("close", "Close", "c"),
    "volume": ("volume", "Volume", "vol"),
}


def _date_column(days: np.ndarray, form: str, hours: np.ndarray) -> pa.Array:
    if form == "iso":
        return pa.array([str(d) for d in days], pa.large_string())
    if form == "date32":
        return pa.array(days.astype("datetime64[D]"), pa.date32())
    if form == "ts_ns":
        return pa.array(days.astype("datetime64[ns]"), pa.timestamp("ns"))
    if form == "ts_us_hours":
        ts = days.astype("datetime64[us]") + hours.astype("timedelta64[h]")
        return pa.array(ts, pa.timestamp("us"))
    if form == "ts_tz":  # 14:00 UTC: the same New York date
        ts = days.astype("datetime64[ns]") + np.timedelta64(14, "h")
        return pa.array(ts, pa.timestamp("ns", tz="UTC"))
    if form == "str_time":
        return pa.array([f"{d} 15:30" for d in days], pa.string())
    return pa.array([f"{d}T15:30:00-05:00" for d in days], pa.string())


@st.composite
def messy_files(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(1, 24))
    tickers = draw(st.lists(st.sampled_from(["AAA", "aaa", " AAA", "BBB", "bbb ", "CcC"]),
                            min_size=n, max_size=n))
    # mostly time-ordered business days, a few rows per day
    steps = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
    offsets = np.cumsum(steps)
    offsets = offsets // 5 * 7 + offsets % 5
    days = _MONDAY + offsets.astype("timedelta64[D]")
    if draw(st.integers(0, 4)) == 0:  # a weekend or a date before the calendars
        days[draw(st.integers(0, n - 1))] = draw(st.sampled_from(
            [np.datetime64("2021-01-09", "D"), np.datetime64("1980-01-02", "D")]))
    if draw(st.integers(0, 5)) == 0:  # out of time order: the loaded path
        i, j = draw(st.integers(0, n - 1)), draw(st.integers(0, n - 1))
        days[[i, j]] = days[[j, i]]
    cols = {k: np.full(n, v) for k, v in (("open", 10.0), ("high", 12.0), ("low", 9.0),
                                           ("close", 11.0), ("volume", 1000.0))}
    for _ in range(draw(st.integers(0, 3))):
        k = draw(st.sampled_from(sorted(cols)))
        cols[k][draw(st.integers(0, n - 1))] = draw(st.sampled_from(
            [float("nan"), float("inf"), 0.0, -1.0, 1e-9, 8.0, 13.0]))
    form = draw(st.sampled_from(_DATE_FORMS))
    hours = np.array(draw(st.lists(st.integers(0, 23), min_size=n, max_size=n)))
    names = {k: draw(st.sampled_from(v)) for k, v in _NAMES.items()}
    arrays: dict[str, pa.Array] = {names["date"]: _date_column(days, form, hours)}
    if draw(st.integers(0, 9)) == 0:  # an impossible date: both refuse the file
        arrays[names["date"]] = pa.array(["2021-02-30"] * n, pa.string())
    no_ticker = draw(st.integers(0, 7)) == 0
    if not no_ticker:
        tick: list[str | None] = list(tickers)
        if draw(st.integers(0, 9)) == 0:
            tick[draw(st.integers(0, n - 1))] = None
        arrays[names["ticker"]] = pa.array(tick, draw(st.sampled_from(
            [pa.string(), pa.large_string()])))
    for k in ("open", "high", "low", "close"):
        typ = draw(st.sampled_from([pa.float64(), pa.float64(), pa.float32()]))
        arrays[names[k]] = pa.array(cols[k], typ)
    if draw(st.booleans()) and np.isfinite(cols["volume"]).all():
        arrays[names["volume"]] = pa.array(cols["volume"].astype(np.int64), pa.int64())
    else:
        arrays[names["volume"]] = pa.array(cols["volume"], pa.float64())
    if draw(st.booleans()):
        arrays["note"] = pa.array(["x"] * n)
    if draw(st.booleans()):  # another column order
        keys = list(arrays)
        arrays = {k: arrays[k] for k in reversed(keys)}
    return {"table": pa.table(arrays), "ticker": "xyz" if no_ticker else None,
            "batch": draw(st.sampled_from([2, 3, 5, 8, 65_536]))}


def _outcome(path: Path, *, fast: bool, strict: bool, batch: int,
             ticker: str | None) -> Any:
    try:
        data = DailyBars(path, batch_rows=batch, strict=strict, fast=fast, ticker=ticker)
    except Exception as exc:  # noqa: BLE001 - the very same error is the expectation
        return type(exc).__name__, str(exc)
    passes = []
    for _ in range(2):  # a second replay serves and lists the same
        passes.append([list(zip(ch.ts.tolist(), ch.ticker.tolist(), ch.open.tolist(),
                                ch.high.tolist(), ch.low.tolist(), ch.close.tolist(),
                                ch.volume.tolist(), strict=True)) for ch in data.chunks()])
    assert passes[0] == passes[1]
    # repr: a null ticker reaches the replay as NaN on both ways, and NaN != NaN
    return repr((passes[0], list(data.bad_bars), list(data.first_ts.items()),
                 data.step_ts.tolist(), data.rows))


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(messy_files(), st.booleans())
def test_daily_bars_when_fast_or_general_way_then_same_bars_bad_bars_and_errors(
        tmp_path: Path, spec: dict[str, Any], strict: bool) -> None:
    path = tmp_path / "bars.parquet"
    pq.write_table(spec["table"], path)
    args = {"strict": strict, "batch": spec["batch"], "ticker": spec["ticker"]}
    assert _outcome(path, fast=True, **args) == _outcome(path, fast=False, **args)


def _canonical(tmp: Path, name: str = "p.parquet", **rename: str) -> Path:
    days = [str(_MONDAY + np.timedelta64(i, "D")) for i in range(5)]  # Mon..Fri
    rows = [(d, t) for d in days for t in ("AAA", "BBB")]
    table = pa.table({rename.get("date", "date"): [d for d, _ in rows],
                      rename.get("ticker", "ticker"): [t for _, t in rows],
                      "open": [10.0] * 10, "high": [12.0] * 10, "low": [9.0] * 10,
                      "close": [11.0] * 10, "volume": [1e3] * 10, "extra": ["x"] * 10})
    path = tmp / name
    pq.write_table(table, path)
    return path


def test_daily_bars_when_canonical_file_then_fast_way_taken_and_same_as_general(
        tmp_path: Path) -> None:
    path = _canonical(tmp_path, date="Date", ticker="Symbol")
    fast, slow = DailyBars(path, batch_rows=3), DailyBars(path, batch_rows=3, fast=False)
    assert fast._clean == [True, True, True, True]  # every batch read straight from Arrow
    assert slow._clean == [False, False, False, False]
    got = [(c.ts.tolist(), c.ticker.tolist(), c.close.tolist()) for c in fast.chunks()]
    assert got == [(c.ts.tolist(), c.ticker.tolist(), c.close.tolist()) for c in slow.chunks()]
    close = int(datetime(2021, 1, 4, 21, tzinfo=UTC).timestamp()) * 1_000_000_000
    assert got[0] == ([close, close], ["AAA", "BBB"], [11.0, 11.0])


def test_daily_bars_when_batch_has_a_bad_bar_then_that_batch_goes_the_general_way(
        tmp_path: Path) -> None:
    path = tmp_path / "p.parquet"
    pq.write_table(pa.table({"date": ["2021-01-04", "2021-01-04", "2021-01-05", "2021-01-06"],
                             "ticker": ["AAA", "AAA", "AAA", "AAA"],
                             "open": [10.0] * 4, "high": [12.0] * 4, "low": [9.0] * 4,
                             "close": [11.0] * 4, "volume": [1e3] * 4}), path)
    data = DailyBars(path, batch_rows=2, strict=False)
    assert data._clean == [False, True]
    assert [(b.number, b.problem) for b in data.bad_bars] == [(2, "duplicate_timestamp")]
    assert data.rows == 3
    with pytest.raises(DataError, match="1 bad bar"):
        DailyBars(path, batch_rows=2, strict=True)


@pytest.mark.parametrize("dates", [
    ["2021-01-04", "2021-01-05T15:30:00-05:00", "2021-01-05", "2021-01-06T02:00:00+00:00"],
    ["2021-01-04", "2021-01-05 10:00", "2021-01-05", "2021-01-06"],
    ["04/01/2021", "2021-01-05", "Jan 6 2021", "2021-01-06"],
])
def test_daily_bars_when_date_forms_mixed_in_a_batch_then_same_as_general_way(
        tmp_path: Path, dates: list[str]) -> None:
    path = tmp_path / "p.parquet"
    pq.write_table(pa.table({"date": dates, "ticker": ["AAA", "AAA", "BBB", "BBB"],
                             "open": [10.0] * 4, "high": [12.0] * 4, "low": [9.0] * 4,
                             "close": [11.0] * 4, "volume": [1e3] * 4}), path)
    for strict in (False, True):
        args = {"strict": strict, "batch": 65_536, "ticker": None}
        assert _outcome(path, fast=True, **args) == _outcome(path, fast=False, **args)


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
@pytest.mark.parametrize("missing", [None, ""])
def test_daily_bars_when_a_ticker_is_missing_then_a_bad_bar_not_a_crash(
        tmp_path: Path, suffix: str, missing: object) -> None:
    df = pd.DataFrame({"date": ["2024-01-02", "2024-01-02", "2024-01-03"],
                       "ticker": ["AAA", missing, "AAA"], "open": [1.0] * 3, "high": [1.0] * 3,
                       "low": [1.0] * 3, "close": [1.0] * 3, "volume": [1.0] * 3})
    path = tmp_path / f"prices{suffix}"
    df.to_parquet(path) if suffix == ".parquet" else df.to_csv(path, index=False)
    bars = DailyBars(path, strict=False)
    assert bars.tickers == ["AAA"] and bars.rows == 2
    assert [(b.problem, b.detail) for b in bars.bad_bars] == [("nan", "ticker missing")]
    with pytest.raises(DataError, match="ticker missing"):
        DailyBars(path, strict=True)
