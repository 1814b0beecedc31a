"""``catalyst backtest-walk-forward GRID.toml`` on the bundled sample."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from entrypoints.cli.app import app

runner = CliRunner()


def test_grid_walk_forward_json(tmp_path: Path) -> None:
    grid = tmp_path / "grid.toml"
    grid.write_text('[grid]\nthreshold = [0.5, 0.7]\nsizing = ["fixed", "confidence"]\n'
                    "stop_atr = [1.5, 3.0]\ntarget_atr = [0, 2.0]\n")
    r = runner.invoke(app, ["backtest-walk-forward", str(grid), "--windows", "3",
                            "--state-dir", str(tmp_path / "s"), "--json"])
    assert r.exit_code == 0, r.output
    js = json.loads(r.output)
    assert len(js["windows"]) == 3 and js["n_trials"] == 3 * 16
    for w in js["windows"]:
        assert w["train_end"] < w["test_start"]
        assert set(w["chosen"]["params"]) == {"threshold", "sizing", "stop_atr", "target_atr"}
        assert set(w["baselines"]) == {"buy_and_hold", "random"}
    assert js["pbo"] is not None and js["pbo"]["splits"] > 0
    stab = js["aggregate"]["parameter_stability"]
    assert set(stab) == {"threshold", "sizing", "stop_atr", "target_atr"}
    assert len(stab["sizing"]["values"]) == 3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[grid]\nthreshold = [1.5]\n", "grid key 'threshold': value 1.5 is not a confidence"),
        ("[grid]\nsizing = ['martingale']\n", "grid key 'sizing': value 'martingale'"),
        ("[grid]\nleverage = [2]\n", "grid key 'leverage' is unknown"),
        ("[grid\n", "is not TOML"),
        ("[grid]\ntarget_atr = [-1]\n", "grid key 'target_atr': value -1 is not an ATR multiple"),
    ],
)
def test_bad_grid_files_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    grid = tmp_path / "grid.toml"
    grid.write_text(text)
    r = runner.invoke(app, ["backtest-walk-forward", str(grid), "--windows", "2"])
    assert r.exit_code == 2
    assert message in " ".join(r.output.split())


def test_backtest_walk_forward_option_runs_four_windows_under_the_state_home(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from entrypoints.cli.container import reset_container

    monkeypatch.setenv("CATALYST_HOME", str(tmp_path / "home"))
    reset_container()
    grid = tmp_path / "grid.toml"
    grid.write_text('[grid]\nthreshold = [0.5, 0.7]\nsizing = ["fixed"]\n')
    try:
        r = runner.invoke(app, ["backtest", "--walk-forward", str(grid), "--json"])
    finally:
        reset_container()
    assert r.exit_code == 0, r.output
    js = json.loads(r.stdout)
    assert len(js["windows"]) == 4 and js["n_trials"] == 4 * 2
    assert (tmp_path / "home" / "walk_forward").is_dir()
