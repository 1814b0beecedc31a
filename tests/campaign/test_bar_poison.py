"""Bad bars: `data validate` reports each; `backtest`/`run` leave each out of the replay and
quarantine it with its file, line and problem (or refuse the file under strict_bars); no bar
file makes the loader fail with anything but a DataError."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from adapters.data.ohlcv import DataError
from adapters.data.sample import sample_paths
from adapters.sources.market import DailyBars
from entrypoints.cli.app import app
from entrypoints.cli.container import reset_container

HEAD = "date,ticker,open,high,low,close,volume\n2024-01-02,AAA,10,11,9,10,100\n"
BAD = {
    "high below low": ("2024-01-03,AAA,10,9,11,10,100", "high_below_low"),
    "1e-9 price": ("2024-01-03,AAA,1e-9,1e-9,1e-9,1e-9,100", "implausible_price"),
    "infinite high": ("2024-01-03,AAA,10,inf,9,10,100", "non_finite"),
    "duplicated row": ("2024-01-02,AAA,10,11,9,10,100", "duplicate_timestamp"),
    "close above high": ("2024-01-03,AAA,10,11,9,20,100", "close_outside_range"),
    "saturday": ("2024-01-06,AAA,10,11,9,10,100", "not_a_session"),
    "year 1980": ("1980-01-03,AAA,10,11,9,10,100", "out_of_calendar"),
    "year 9999": ("9999-01-03,AAA,10,11,9,10,100", None),  # no loader takes the date
}


@pytest.fixture()
def cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CATALYST_KILL_FILE", str(tmp_path / "KILL"))
    monkeypatch.delenv("CATALYST_STRICT_BARS", raising=False)
    reset_container()
    yield tmp_path
    reset_container()


@pytest.mark.parametrize("name", list(BAD))
def test_bad_bar_is_set_aside_or_refused_naming_file_and_line(tmp_path: Path,
                                                              name: str) -> None:
    row, problem = BAD[name]
    p = tmp_path / "prices.csv"
    p.write_text(HEAD + row + "\n")
    with pytest.raises(DataError) as ei:
        DailyBars(p, strict=True)
    msg = str(ei.value)
    if problem is not None:
        assert "prices.csv line 3" in msg and problem in msg, msg
        bars = DailyBars(p, strict=False)  # the bar left out, the good one kept
        (bad,) = bars.bad_bars
        assert (bad.source, bad.place, bad.number, bad.problem) == (str(p), "line", 3, problem)
        assert bad.ticker == "AAA" and bad.describe().startswith("prices.csv line 3 (AAA ")
        assert bars.rows == 1 and bars.tickers == ["AAA"]
        (chunk,) = bars.chunks()
        assert chunk.close.tolist() == [10.0] and chunk.high.tolist() == [11.0]
    else:
        assert "out of range" in msg, msg
        with pytest.raises(DataError, match="out of range"):
            DailyBars(p, strict=False)  # a date no loader takes: the file, not a bar
    v = CliRunner().invoke(app, ["data", "validate", "--json", str(p)])
    assert v.exit_code in (1, 2), v.output  # 1: problems listed; 2: a date no loader takes
    assert v.exception is None or isinstance(v.exception, SystemExit), v.exception
    if problem is not None:  # validate names a bar outside the calendar as no session
        said = "not_a_session" if problem == "out_of_calendar" else problem
        found = [i for i in json.loads(v.output)["issues"]
                 if i["problem"] == said and i["severity"] == "error"]
        assert found and found[0]["date"] != "2024-01-02" or said == "duplicate_timestamp", \
            v.output[:2000]


def test_duplicated_bar_keeps_its_first_row_and_a_bad_first_row_its_good_twin(
        tmp_path: Path) -> None:
    p = tmp_path / "prices.csv"
    p.write_text(HEAD + "2024-01-02,AAA,20,22,18,20,100\n"  # a second 2024-01-02: dropped
                 "2024-01-03,AAA,10,11,9,30,100\n"  # close above high: dropped
                 "2024-01-03,AAA,10,11,9,10.5,100\n")  # its twin: kept
    bars = DailyBars(p, strict=False)
    assert [(b.number, b.problem) for b in bars.bad_bars] == [
        (3, "duplicate_timestamp"), (4, "close_outside_range")]
    (chunk,) = bars.chunks()
    assert chunk.close.tolist() == [10.0, 10.5]


def test_missing_and_non_positive_prices_are_listed_when_set_aside(tmp_path: Path) -> None:
    p = tmp_path / "prices.csv"
    p.write_text(HEAD + "2024-01-03,AAA,,11,9,10,100\n2024-01-04,AAA,10,11,0,10,100\n")
    assert DailyBars(p, strict=True).rows == 1  # strict: dropped as before, not refused
    bars = DailyBars(p, strict=False)
    assert bars.rows == 1
    assert [(b.number, b.problem) for b in bars.bad_bars] == [(3, "nan"),
                                                              (4, "non_positive_price")]


@pytest.mark.slow
def test_backtest_sets_a_bad_bar_aside_and_strict_bars_refuses_the_file(
        cwd: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = cwd / "prices.csv"
    p.write_text(HEAD + BAD["infinite high"][0] + "\n" + "2024-01-04,AAA,10,11,9,10,100\n")
    a = cwd / "a.jsonl"
    a.write_text(json.dumps({"id": "a1", "ticker": "AAA", "known_at": "2024-01-02T14:00:00Z",
                             "score": 0.9}) + "\n")
    db = f"sqlite:///{cwd / 'b.db'}"
    r = CliRunner().invoke(app, ["backtest", "--data", str(p), "--alerts", str(a), "--db", db,
                                 "--json", "--report", str(cwd / "rep")])
    assert r.exit_code == 0, r.output
    assert "prices.csv line 3 (AAA 2024-01-03): non_finite" in r.output.replace("\n", "")
    assert json.loads(r.output[r.output.index("{"):])["bad_bars"] == 1
    q = CliRunner().invoke(app, ["quarantine", "--db", db, "--json"])
    (row,) = json.loads(q.output)
    assert (row["kind"], row["source"], row["line"]) == ("bar", str(p), 3)
    assert "non_finite" in row["reason"] and "AAA 2024-01-03" in row["reason"]
    monkeypatch.setenv("CATALYST_STRICT_BARS", "true")
    reset_container()
    r = CliRunner().invoke(app, ["backtest", "--data", str(p), "--alerts", str(a), "--db", db])
    assert r.exit_code == 2, r.output
    assert "prices.csv line 3" in r.output.replace("\n", "") and "non_finite" in r.output


@pytest.mark.slow
def test_run_over_bad_bars_goes_on_never_trades_them_and_quarantines_them_once(
        cwd: Path) -> None:
    df = pd.read_csv(sample_paths().prices)
    df = df[(df.date < "2013-12-01") & (df.ticker == "AAPL")].reset_index(drop=True)
    days = ["2013-04-10", "2013-06-12", "2013-09-11"]
    # on the session after each alert (where the entry is sized and filled): a close far
    # above the high, then a doubled duplicate of the next session's bar
    poisoned: list[int] = []
    for d in days:
        i = int(df.index[df.date > d][0])
        df.loc[i, "close"] = df.loc[i, "high"] * 3
        poisoned.append(i)
        dup = df.loc[[i + 1]].copy()
        dup[["open", "high", "low", "close"]] *= 2
        df = pd.concat([df.loc[:i + 1], dup, df.loc[i + 2:]]).reset_index(drop=True)
        poisoned.append(i + 2)
    p = cwd / "prices.csv"
    df.to_csv(p, index=False)
    (cwd / "a.jsonl").write_text("".join(
        json.dumps({"id": f"a{k}", "ticker": "AAPL", "known_at": f"{d}T14:00:00Z",
                    "score": 0.95, "sentiment": 1.0, "catalyst_type": "earnings"}) + "\n"
        for k, d in enumerate(days)))
    db = f"sqlite:///{cwd / 'r.db'}"
    args = ["run", "--broker", "sim", "--data", str(p), "--alerts", str(cwd / "a.jsonl"),
            "--db", db, "--json", "--report", str(cwd / "rep")]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    out = json.loads(r.output[r.output.index("{"):])
    assert out["status"] == "finished" and out["bad_bars"] == 6 and out["orders"] >= 1, out
    rows = json.loads(CliRunner().invoke(app, ["quarantine", "--db", db, "--json"]).output)
    assert sorted(x["line"] for x in rows) == [i + 2 for i in poisoned]
    assert {x["reason"].split(": ")[1] for x in rows} == {"close_outside_range",
                                                         "duplicate_timestamp"}
    import sqlite3

    con = sqlite3.connect(cwd / "r.db")
    try:
        prices = [float(x) for (x,) in con.execute("select price from fills")]
    finally:
        con.close()
    top = float(df.drop(index=poisoned)["high"].max())
    assert prices and max(prices) <= top * 1.01  # nothing traded at a bad bar's price
    reset_container()
    r = CliRunner().invoke(app, args)  # the restart reads the same bars: nothing new
    assert r.exit_code == 0, r.output
    again = json.loads(CliRunner().invoke(app, ["quarantine", "--db", db, "--json"]).output)
    assert len(again) == len(rows)


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
    for strict in (True, False):
        try:
            bars = DailyBars(p, strict=strict)
        except DataError as exc:
            assert str(exc)
            continue
        assert bars.rows >= 1
        if not strict:  # every row is served or set aside, never both
            served = sum(len(c.ts) for c in bars.chunks())
            assert served == bars.rows and len(bars.bad_bars) <= len(rows)
            assert all(b.source == str(p) and b.place == "line" for b in bars.bad_bars)


def test_bad_bar_in_a_streamed_parquet_file_is_refused_naming_its_row(tmp_path: Path) -> None:
    import pandas as pd

    rows = [("2024-01-02", "AAA", 10, 11, 9, 10, 100), ("2024-01-03", "AAA", 10, 11, 9, 10, 100),
            ("2024-01-04", "AAA", 10, math.inf, 9, 10, 100)]
    p = tmp_path / "prices.parquet"
    pd.DataFrame(rows, columns=["date", "ticker", "open", "high", "low", "close", "volume"]
                 ).to_parquet(p)
    with pytest.raises(DataError, match=r"prices.parquet row 3 \(AAA 2024-01-04\): non_finite"):
        DailyBars(p, batch_rows=2)
    bars = DailyBars(p, batch_rows=2, strict=False)
    assert [(b.place, b.number, b.problem) for b in bars.bad_bars] == [("row", 3, "non_finite")]
    assert bars.rows == 2 and sum(len(c.ts) for c in bars.chunks()) == 2
    assert len(bars.bad_bars) == 1  # served again: listed once


@pytest.mark.parametrize("strict", [True, False])
def test_duplicate_across_two_batches_of_a_streamed_parquet_file_is_caught(
        tmp_path: Path, strict: bool) -> None:
    rows = [("2024-01-02", "AAA", 10, 11, 9, 10, 100), ("2024-01-03", "AAA", 10, 11, 9, 10, 100),
            ("2024-01-03", "AAA", 20, 22, 18, 20, 100), ("2024-01-04", "AAA", 10, 11, 9, 10, 100)]
    p = tmp_path / "prices.parquet"
    pd.DataFrame(rows, columns=["date", "ticker", "open", "high", "low", "close", "volume"]
                 ).to_parquet(p)
    if strict:
        with pytest.raises(DataError, match=r"prices.parquet row 3 \(AAA 2024-01-03\): "
                                            "duplicate_timestamp"):
            DailyBars(p, batch_rows=2)
        return
    bars = DailyBars(p, batch_rows=2, strict=False)
    assert bars._stream  # noqa: SLF001 - the streamed path is the one under test
    assert [(b.number, b.problem) for b in bars.bad_bars] == [(3, "duplicate_timestamp")]
    closes = [x for c in bars.chunks() for x in c.close.tolist()]
    assert closes == [10.0, 10.0, 10.0] and len(bars.bad_bars) == 1
