"""``catalyst data`` as a user runs it (through Typer's test runner)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from adapters.data.ohlcv import load_ohlcv
from adapters.data.sample import sample_paths
from entrypoints.cli.data import app
from tests.synthetic_bars import (
    crash_volume,
    to_frame,
    unadjusted_split,
    walk,
    with_move,
    with_volume,
)

runner = CliRunner()


@pytest.fixture()
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_validate_when_bundled_sample_then_ok_exit_0(in_tmp: Path) -> None:
    r = runner.invoke(app, ["validate"])
    assert r.exit_code == 0, r.output
    assert "ok" in r.output and "9,788 bars" in r.output


def test_validate_when_broken_file_then_table_names_problems_and_exit_1(
    in_tmp: Path,
) -> None:
    df = load_ohlcv(sample_paths().prices)
    df.loc[5, "close"] = float("nan")
    df.loc[7, "high"] = 1.0
    df = pd.concat([df, df.iloc[[9]]]).sort_values(["ticker", "date"])
    df.to_csv(in_tmp / "bad.csv", index=False)
    r = runner.invoke(app, ["validate", "bad.csv", "--json"])
    assert r.exit_code == 1
    report = json.loads(r.output)
    probs = {(i["ticker"], i["date"], i["problem"]) for i in report["issues"]}
    d = df["date"].dt.strftime("%Y-%m-%d").tolist()
    assert ("AAPL", d[5], "nan") in probs and ("AAPL", d[7], "high_below_low") in probs
    assert ("AAPL", d[9], "duplicate_timestamp") in probs
    assert report["ok"] is False

    r = runner.invoke(
        app, ["validate", "bad.csv", "--repair", "--out", "fixed.parquet"]
    )
    assert r.exit_code == 0, r.output
    assert "dropped the bar" in r.output and (in_tmp / "fixed.parquet").exists()
    assert runner.invoke(app, ["validate", "fixed.parquet"]).exit_code == 0


def test_validate_when_gap_then_warning_and_strict_fails(in_tmp: Path) -> None:
    df = load_ohlcv(sample_paths().prices).drop(index=100)
    df.to_parquet(in_tmp / "gap.parquet")
    assert runner.invoke(app, ["validate", "gap.parquet"]).exit_code == 0
    r = runner.invoke(app, ["validate", "gap.parquet", "--strict"])
    assert r.exit_code == 1 and "missing_session" in r.output


def test_import_then_build_when_sample_then_feature_file_with_splits(
    in_tmp: Path,
) -> None:
    r = runner.invoke(app, ["import", str(sample_paths().prices), "--out", "o.parquet"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(
        app,
        [
            "build",
            "--data",
            "o.parquet",
            "--alerts",
            str(sample_paths().alerts),
            "--out",
            "f.parquet",
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    summary = json.loads(r.output)
    assert summary["cached"] is False and summary["alerts"] == 151
    assert summary["splits"]["AAPL"]["embargo"] == 10
    f = pd.read_parquet(in_tmp / "f.parquet")
    assert len(f) == 9788 and "f_open_close" in f.columns
    again = runner.invoke(
        app,
        [
            "build",
            "--data",
            "o.parquet",
            "--alerts",
            str(sample_paths().alerts),
            "--out",
            "f.parquet",
            "--json",
        ],
    )
    assert json.loads(again.output)["cached"] is True
    assert list((in_tmp / "var" / "cache").glob("features-*.parquet"))


def test_import_when_missing_file_then_clear_error_exit_2(in_tmp: Path) -> None:
    r = runner.invoke(app, ["import", "nope.csv"])
    assert r.exit_code == 2
    assert "no such file" in r.output and "Traceback" not in r.output


def test_fetch_when_no_keys_then_clear_message_not_traceback(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("APCA_API_KEY_ID", raising=False)
    monkeypatch.delenv("APCA_API_SECRET_KEY", raising=False)
    r = runner.invoke(app, ["fetch", "AAPL", "--start", "2020-01-01"])
    assert r.exit_code == 2
    assert (
        "APCA_API_KEY_ID" in r.output
        and r.exception is None
        or isinstance(r.exception, SystemExit)
    )


# ------------------------------------------------ split evidence, --splits, --force


def _evidence_file(path: Path) -> dict[str, str]:
    """Three tickers shaped like real cases: a 4:1 split (volume x4 for good), a -65.8 %
    drug-study crash (volume spike), a 2:1 split whose volume is already adjusted."""
    true = with_move(walk(300, seed=2, ticker="SPLT"), 250, 0.2585 * 4)
    splt = unadjusted_split(true, 250, 4.0).raw
    c = with_move(walk(300, seed=1, ticker="CRSH"), 167, 1 - 0.658)
    crsh = with_volume(c, crash_volume(c, 167, 20.0, (8.0, 5.0, 3.0, 2.0), 1.3))
    ambg = unadjusted_split(
        with_move(walk(300, seed=7, ticker="AMBG"), 150, 0.963), 150, 2.0, volume_too=False
    ).raw
    to_frame(splt, crsh, ambg).to_csv(path, index=False)
    return {"SPLT": str(splt.dates[250]), "CRSH": str(crsh.dates[167]),
            "AMBG": str(ambg.dates[150])}


def test_validate_repair_when_split_crash_and_ambiguous_then_evidence_decides(
    in_tmp: Path,
) -> None:
    days = _evidence_file(in_tmp / "raw.csv")
    r = runner.invoke(app, ["validate", "raw.csv", "--repair", "--out", "fixed.parquet",
                            "--json"])
    assert r.exit_code == 1, r.output  # the ambiguous jump remains
    rep = json.loads(r.output)
    repairs = {(i["ticker"], i["problem"]): i for i in rep["repairs"]}
    assert "4:1 split" in repairs[("SPLT", "split_like_jump")]["detail"]
    assert repairs[("CRSH", "large_move")]["severity"] == "warning"
    assert [(i["ticker"], i["date"]) for i in rep["ambiguous"]] == [("AMBG", days["AMBG"])]
    assert rep["ambiguous"][0]["evidence"]
    fixed = pd.read_parquet(in_tmp / "fixed.parquet")
    crsh = fixed[fixed["ticker"] == "CRSH"]["close"].to_numpy()
    raw = pd.read_csv(in_tmp / "raw.csv")
    np.testing.assert_array_equal(crsh, raw[raw["ticker"] == "CRSH"]["close"].to_numpy())

    # The table shows the ambiguous case with its evidence.
    r = runner.invoke(app, ["validate", "raw.csv"])
    assert r.exit_code == 1 and "ambiguous jumps" in r.output and "AMBG" in r.output

    (in_tmp / "splits.csv").write_text(f"ticker,date,ratio\nAMBG,{days['AMBG']},2:1\n")
    r = runner.invoke(app, ["validate", "raw.csv", "--splits", "splits.csv", "--repair",
                            "--out", "fixed2.parquet", "--json"])
    assert r.exit_code == 0, r.output
    rep = json.loads(r.output)
    amb = [i for i in rep["repairs"] if i["ticker"] == "AMBG"]
    assert amb[0]["evidence"] == "splits file: 2:1" and rep["ambiguous"] == []


def test_validate_when_splits_file_bad_then_exit_2_names_line(in_tmp: Path) -> None:
    _evidence_file(in_tmp / "raw.csv")
    (in_tmp / "s.csv").write_text("ticker,date,ratio\nAMBG,2019-08-01,zero\n")
    r = runner.invoke(app, ["validate", "raw.csv", "--splits", "s.csv"])
    assert r.exit_code == 2 and "s.csv:2: field ratio='zero'" in r.output


def test_build_when_unrepaired_errors_then_refused_unless_force(in_tmp: Path) -> None:
    days = _evidence_file(in_tmp / "raw.csv")
    r = runner.invoke(app, ["build", "--data", "raw.csv", "--out", "f.parquet", "--json"])
    assert r.exit_code == 1
    assert f"AMBG {days['AMBG']} split_like_jump" in r.output and "--force" in r.output
    assert not (in_tmp / "f.parquet").exists()
    r = runner.invoke(app, ["build", "--data", "raw.csv", "--out", "f.parquet", "--json",
                            "--force"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["unrepaired_errors"] == 2  # SPLT not adjusted, AMBG
    (in_tmp / "splits.csv").write_text(f"ticker,date,ratio\nAMBG,{days['AMBG']},2\n")
    assert runner.invoke(app, ["validate", "raw.csv", "--splits", "splits.csv", "--repair",
                               "--out", "fixed.parquet"]).exit_code == 0
    r = runner.invoke(app, ["build", "--data", "fixed.parquet", "--out", "g.parquet",
                            "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["unrepaired_errors"] == 0


# ------------------------------------------------------------------ pipeline edges


def test_build_when_benchmark_spy_lacks_a_date_then_beta_kept(in_tmp: Path) -> None:
    spy = walk(250, seed=11, ticker="SPY", daily_vol=0.01)
    df = to_frame(spy, walk(250, seed=12, ticker="TEST"))
    df = df[~((df["ticker"] == "SPY") & (df["date"] == pd.Timestamp(spy.dates[100])))]
    df.to_parquet(in_tmp / "ohlcv.parquet")
    # the command as docs/data.md writes it
    r = runner.invoke(app, ["build", "--data", "ohlcv.parquet", "--benchmark", "SPY",
                            "--out", "f.parquet", "--json"])
    assert r.exit_code == 0, r.output
    f = pd.read_parquet(in_tmp / "f.parquet")
    t = f[f["ticker"] == "TEST"]
    assert t["beta"].iloc[60:].notna().all() and (t["f_beta"].iloc[60:] != 0).all()
    r = runner.invoke(app, ["build", "--data", "ohlcv.parquet", "--benchmark", "QQQ"])
    assert r.exit_code == 2 and "benchmark 'QQQ' is not in the data" in r.output


def test_build_when_alerts_before_first_bar_then_dropped_and_reported(in_tmp: Path) -> None:
    to_frame(walk(120, seed=3, ticker="TEST")).to_csv(in_tmp / "p.csv", index=False)
    lines = [
        {"id": f"old{i}", "ticker": "TEST", "known_at": f"2018-05-0{i + 1}T14:00:00Z",
         "catalyst_type": "fda", "score": 0.9}
        for i in range(4)
    ] + [{"id": "new", "ticker": "TEST", "known_at": "2019-01-03T14:00:00Z", "score": 0.3}]
    (in_tmp / "a.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    r = runner.invoke(app, ["build", "--data", "p.csv", "--alerts", "a.jsonl", "--out",
                            "f.parquet", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["alerts_before_first_bar"] == {"TEST": 4}
    assert "dropped 4 alert(s) dated before their ticker's first bar: TEST 4" in r.stderr
    f = pd.read_parquet(in_tmp / "f.parquet")
    assert f["catalyst_score"].iloc[0] == 0.0 and f["catalyst_score"].max() == 0.3


def test_build_when_alert_misses_a_field_then_exit_2_names_it(in_tmp: Path) -> None:
    to_frame(walk(80, seed=3, ticker="TEST")).to_csv(in_tmp / "p.csv", index=False)
    (in_tmp / "a.jsonl").write_text(
        json.dumps({"ticker": "TEST", "known_at": "2019-01-03T14:00:00Z", "score": 0.3})
        + "\n"
    )
    r = runner.invoke(app, ["build", "--data", "p.csv", "--alerts", "a.jsonl"])
    assert r.exit_code == 2
    assert "alert line 1: missing field 'id' (expected a non-empty string)" in r.output


def test_build_when_single_ticker_file_then_hint_names_real_options(in_tmp: Path) -> None:
    to_frame(walk(80, seed=3, ticker="TEST")).drop(columns="ticker").to_csv(
        in_tmp / "one.csv", index=False
    )
    r = runner.invoke(app, ["build", "--data", "one.csv", "--out", "f.parquet"])
    assert r.exit_code == 2 and "--ticker" in r.output
    said = " ".join(r.output.split())
    assert "no ticker column" in said and "pass --ticker SYMBOL" in said
    r = runner.invoke(app, ["build", "--data", "one.csv", "--ticker", "test", "--out",
                            "f.parquet", "--json"])
    assert r.exit_code == 0, r.output
    assert set(pd.read_parquet(in_tmp / "f.parquet")["ticker"]) == {"TEST"}


def test_rl_train_when_file_has_no_features_then_exit_2_not_key_error(in_tmp: Path) -> None:
    from entrypoints.cli.rl import app as rl_app
    to_frame(walk(80, seed=3)).to_parquet(in_tmp / "prices.parquet")
    r = runner.invoke(rl_app, ["train", "--data", "prices.parquet", "--timesteps", "10"])
    assert r.exit_code == 2, r.output
    assert "prices.parquet is not a feature file: missing column(s) split" in r.output
    assert "KeyError" not in r.output
