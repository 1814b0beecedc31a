"""``catalyst data`` as a user runs it (through Typer's test runner)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from adapters.data.ohlcv import load_ohlcv
from adapters.data.sample import sample_paths
from entrypoints.cli.data import app

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
