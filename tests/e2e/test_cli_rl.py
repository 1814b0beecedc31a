"""``catalyst rl evaluate`` as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from entrypoints.cli.data import app as data_app
from entrypoints.cli.rl import app

runner = CliRunner()


def test_evaluate_when_buy_and_hold_on_sample_test_split_then_table(
    tmp_path: Path,
) -> None:
    r = runner.invoke(app, ["evaluate", "--agent", "buy-and-hold"], terminal_width=200)
    assert r.exit_code == 0, r.output
    assert "buy-and-hold agent on the test split" in r.output
    assert "AAPL" in r.output and "mean" in r.output


def test_evaluate_when_random_json_then_metrics_reproducible_by_seed() -> None:
    args = [
        "evaluate",
        "--agent",
        "random",
        "--split",
        "validation",
        "--seed",
        "3",
        "--json",
    ]
    a = json.loads(runner.invoke(app, args).output)
    b = json.loads(runner.invoke(app, args).output)
    assert a == b
    assert {r["ticker"] for r in a["results"]} >= {"AAPL", "KO"}
    for r in a["results"]:
        assert r["max_drawdown"] <= 0 and r["trades"] > 0
    assert set(a["mean"]) == {"total_return", "sharpe", "max_drawdown", "trades"}


def test_evaluate_when_built_feature_file_then_uses_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert runner.invoke(data_app, ["build", "--out", "f.parquet"]).exit_code == 0
    r = runner.invoke(
        app,
        [
            "evaluate",
            "--data",
            "f.parquet",
            "--ticker",
            "KO",
            "--agent",
            "buy-and-hold",
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    assert [x["ticker"] for x in json.loads(r.output)["results"]] == ["KO"]


def test_evaluate_when_missing_file_then_clear_error_exit_2(tmp_path: Path) -> None:
    r = runner.invoke(app, ["evaluate", "--data", str(tmp_path / "none.parquet")])
    assert r.exit_code == 2 and "catalyst data build" in r.output
