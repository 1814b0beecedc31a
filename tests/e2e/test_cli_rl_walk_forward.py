"""``catalyst rl walk-forward`` as a user runs it, on the bundled sample (tiny budgets)."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.sqlalchemy.engine import make_engine
from adapters.sqlalchemy.walk_forward import SqlWalkForwardRepo
from entrypoints.cli.rl import app

runner = CliRunner()


def test_walk_forward_json_report_database_and_resume(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'wf.db'}"
    args = [
        "walk-forward", "--windows", "2", "--algo", "a2c", "--timesteps", "256",
        "--tune-trials", "2", "--ticker", "AAPL", "--ticker", "KO",
        "--state-dir", str(tmp_path / "state"), "--report", str(tmp_path / "rep"),
        "--db", db, "--json",
    ]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    js = json.loads(r.output)
    assert len(js["windows"]) == 2
    w0, w1 = js["windows"]
    assert w0["test_end"] < w1["test_start"]
    assert w0["train_end"] < w0["test_start"]
    for w in js["windows"]:
        assert set(w) >= {"train_start", "train_end", "test_start", "test_end", "metrics"}
        assert set(w["baselines"]) == {"buy_and_hold", "random"}
        assert w["candidates"] == 2
    assert js["n_trials"] == 4
    assert js["pbo"] is not None and 0.0 <= js["pbo"]["pbo"] <= 1.0
    assert 0.0 <= js["deflated_sharpe"]["dsr"] <= 1.0
    assert js["aggregate"]["windows"] == 2
    html = (tmp_path / "rep" / "index.html").read_text()
    assert html.count("data:image/png;base64,") == 4
    stored = SqlWalkForwardRepo(make_engine(db)).get(js["run_key"])
    assert stored is not None and len(stored["windows"]) == 2
    assert stored["windows"][1]["test_start"] == w1["test_start"]
    # A rerun finds both windows finished and trains nothing.
    again = json.loads(runner.invoke(app, args).output)
    assert again["resumed_windows"] == 2
    assert again["aggregate"] == js["aggregate"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--train", "3q", "--test", "60"], "--train must be a positive bar count"),
        (["--train", "500"], "give --train and --test, or --windows N"),
        (["--windows", "2", "--test", "60"], "--windows sets the test windows"),
        (["--windows", "2", "--algo", "ensemble", "--tune-trials", "2"], "not --algo ensemble"),
    ],
)
def test_bad_options_fail_with_the_field_named(
    tmp_path: Path, extra: list[str], message: str
) -> None:
    r = runner.invoke(app, ["walk-forward", "--state-dir", str(tmp_path), *extra])
    assert r.exit_code == 2, r.output
    assert message in r.output


def test_walk_forward_ensemble_counts_its_members_as_trials(tmp_path: Path) -> None:
    r = runner.invoke(app, [
        "walk-forward", "--windows", "2", "--algo", "ensemble", "--timesteps", "256",
        "--ticker", "AAPL", "--state-dir", str(tmp_path), "--json",
    ])
    assert r.exit_code == 0, r.output
    js = json.loads(r.output)
    assert [w["candidates"] for w in js["windows"]] == [4, 4]  # PPO, SAC, A2C and the ensemble
    assert js["n_trials"] == 8
    assert all(w["chosen"]["label"] in {"ppo", "sac", "a2c", "ensemble"} for w in js["windows"])
    assert js["pbo"] is not None


def test_two_workers_give_the_report_of_one(tmp_path: Path) -> None:
    # The pool's workers are started before the features are loaded and import the RL
    # stack as they start; the windows, seeded by the run's seed and their index, agree.
    def run(workers: int) -> dict[str, object]:
        r = runner.invoke(app, [
            "walk-forward", "--windows", "2", "--algo", "a2c", "--timesteps", "64",
            "--ticker", "KO", "--workers", str(workers),
            "--state-dir", str(tmp_path / f"w{workers}"), "--json",
        ])
        assert r.exit_code == 0, r.output
        js: dict[str, object] = json.loads(r.output)
        for w in js["windows"]:  # type: ignore[attr-defined]
            w.pop("seconds")
        return js

    assert run(2) == run(1)


def test_bad_options_with_workers_fail_and_stop_the_started_workers(tmp_path: Path) -> None:
    r = runner.invoke(app, ["walk-forward", "--workers", "2", "--train", "500",
                            "--state-dir", str(tmp_path)])
    assert r.exit_code == 2, r.output
    assert "give --train and --test, or --windows N" in r.output
    assert not multiprocessing.active_children()
