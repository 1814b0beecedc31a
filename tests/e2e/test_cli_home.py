"""One home for state: every command finds the same state from any folder through
CATALYST_HOME, and read commands refuse a database that does not exist."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from entrypoints.cli.app import app
from entrypoints.cli.container import reset_container
from tests.e2e.trading_cli_support import make_small_data

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def small_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_small_data(tmp_path_factory.mktemp("data"))


@pytest.fixture()
def home_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for var in ("CATALYST_DATABASE_URL", "CATALYST_KILL_FILE", "CATALYST_VAR_DIR",
                "CATALYST_BROKER"):
        monkeypatch.delenv(var, raising=False)
    home = tmp_path / "state"
    monkeypatch.setenv("CATALYST_HOME", str(home))
    monkeypatch.setenv("CATALYST_LOG_LEVEL", "WARNING")
    monkeypatch.delenv("CATALYST_CONFIG", raising=False)  # no catalyst.toml in the test folders
    reset_container()
    yield home
    reset_container()


def _in(folder: Path, args: list[str], monkeypatch: pytest.MonkeyPatch) -> Result:
    folder.mkdir(parents=True, exist_ok=True)
    monkeypatch.chdir(folder)
    reset_container()
    return CliRunner().invoke(app, args)


def test_home_when_backtest_in_one_folder_then_another_folder_reads_the_same_state(
        small_data: Path, home_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = _in(tmp_path / "a", ["backtest", "--data", str(small_data / "prices.csv"), "--alerts",
                             str(small_data / "alerts.jsonl"), "--json", "--no-progress"],
            monkeypatch)
    assert r.exit_code == 0, r.output[-2000:]
    out = json.loads(r.stdout)
    assert out["closed_trades"] > 0
    assert out["database"] == f"sqlite:///{home_env}/backtest.db"
    assert Path(out["report"]).parent == home_env / "reports" / "backtest"
    assert (home_env / "backtest.db").is_file()
    r = _in(tmp_path / "b", ["trades", "--json", "--limit", "0"], monkeypatch)
    assert r.exit_code == 0, r.output[-2000:]
    assert len(json.loads(r.stdout)) == out["closed_trades"]
    r = _in(tmp_path / "b", ["export", "trades"], monkeypatch)
    assert r.exit_code == 0, r.output[-2000:]
    assert (home_env / "exports" / "trades.csv").is_file()
    r = _in(tmp_path / "b", ["risk", "kill", "--reason", "test", "--by", "tester"], monkeypatch)
    assert r.exit_code == 0, r.output[-2000:]
    assert (home_env / "KILL").is_file()
    r = _in(tmp_path / "c", ["doctor", "--json"], monkeypatch)
    settings = json.loads(r.stdout)["settings"]
    assert settings["home"] == str(home_env)
    assert settings["database_url"] == f"sqlite:///{home_env}/catalyst.db"
    # nothing was written where the commands ran
    assert not any((tmp_path / d / "var").exists() for d in "abc")


@pytest.mark.parametrize("args", [["positions"], ["orders"], ["trades"], ["account"],
                                  ["report"], ["export", "trades"], ["runs"]])
def test_read_command_when_db_file_missing_then_exit_2_naming_it_and_nothing_created(
        args: list[str], home_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    typo = tmp_path / "typo.db"
    r = _in(tmp_path / "a", [*args, "--db", f"sqlite:///{typo}"], monkeypatch)
    assert r.exit_code == 2, r.output
    assert str(typo) in r.output.replace("\n", "")
    assert "no such database" in r.output
    assert not typo.exists()
