"""Bad bars: `data validate` reports each, `backtest`/`run` refuse them naming file and line,
and no bar file makes the loader fail with anything but a DataError."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from adapters.data.ohlcv import DataError
from adapters.sources.market import DailyBars
from entrypoints.cli.app import app

HEAD = "date,ticker,open,high,low,close,volume\n2024-01-02,AAA,10,11,9,10,100\n"
BAD = {
    "high below low": ("2024-01-03,AAA,10,9,11,10,100", "high_below_low"),
    "1e-9 price": ("2024-01-03,AAA,1e-9,1e-9,1e-9,1e-9,100", "implausible_price"),
    "infinite high": ("2024-01-03,AAA,10,inf,9,10,100", "non_finite"),
    "duplicated row": ("2024-01-02,AAA,10,11,9,10,100", "duplicate_timestamp"),
    "close above high": ("2024-01-03,AAA,10,11,9,20,100", "close_outside_range"),
    "saturday": ("2024-01-06,AAA,10,11,9,10,100", "not_a_session"),
    "year 1980": ("1980-01-03,AAA,10,11,9,10,100", None),
    "year 9999": ("9999-01-03,AAA,10,11,9,10,100", None),
}


@pytest.mark.parametrize("name", list(BAD))
def test_bad_bar_is_refused_naming_file_and_line(tmp_path: Path, name: str) -> None:
    row, problem = BAD[name]
    p = tmp_path / "prices.csv"
    p.write_text(HEAD + row + "\n")
    with pytest.raises(DataError) as ei:
        DailyBars(p)
    msg = str(ei.value)
    if problem is not None:
        assert "prices.csv line 3" in msg and problem in msg, msg
    else:
        assert "out_of_calendar" in msg or "out of range" in msg, msg
    v = CliRunner().invoke(app, ["data", "validate", "--json", str(p)])
    assert v.exit_code in (1, 2), v.output  # 1: problems listed; 2: a date no loader takes
    assert v.exception is None or isinstance(v.exception, SystemExit), v.exception
    if problem is not None:
        assert problem in v.output, v.output


@pytest.mark.slow
def test_backtest_refuses_a_bad_bar_file_with_exit_2(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    p = tmp_path / "prices.csv"
    p.write_text(HEAD + BAD["infinite high"][0] + "\n")
    r = CliRunner().invoke(app, ["backtest", "--data", str(p), "--db",
                                 f"sqlite:///{tmp_path / 'b.db'}"])
    assert r.exit_code == 2, r.output
    assert "prices.csv line 3" in r.output.replace("\n", "") and "non_finite" in r.output


cell = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10, 10**6),
                 st.sampled_from(["", "x", "1e400", "-0", "nan"]))
day = st.one_of(st.dates().map(str), st.sampled_from(["2024-02-30", "x", "", "0001-01-01"]))


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(day, st.sampled_from(["AAA", "BBB", ""]), cell, cell, cell, cell,
                          cell), max_size=6))
@example([("2024-01-02", "AAA", 10, math.inf, 9, 10, 100)])
def test_fuzz_bar_file_loads_or_raises_data_error(tmp_path: Path, rows: list[tuple]) -> None:
    p = tmp_path / "fuzz.csv"
    p.write_text(HEAD + "".join(",".join(str(x) for x in r) + "\n" for r in rows))
    try:
        bars = DailyBars(p)
    except DataError as exc:
        assert str(exc)
        return
    assert bars.rows >= 1


def test_bad_bar_in_a_streamed_parquet_file_is_refused_naming_its_row(tmp_path: Path) -> None:
    import pandas as pd

    rows = [("2024-01-02", "AAA", 10, 11, 9, 10, 100), ("2024-01-03", "AAA", 10, 11, 9, 10, 100),
            ("2024-01-04", "AAA", 10, math.inf, 9, 10, 100)]
    p = tmp_path / "prices.parquet"
    pd.DataFrame(rows, columns=["date", "ticker", "open", "high", "low", "close", "volume"]
                 ).to_parquet(p)
    with pytest.raises(DataError, match=r"prices.parquet row 3 \(AAA 2024-01-04\): non_finite"):
        DailyBars(p, batch_rows=2)
