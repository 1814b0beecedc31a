"""The CLI's composition: lazy commands, the one choice of vendor, signals at the entrypoint."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from dependency_injector import providers
from typer import _click as click

from entrypoints.cli.app import LAZY_COMMANDS, app, load_command
from entrypoints.cli.container import get_container, reset_container
from entrypoints.settings import Settings
from entrypoints.signals import stop_on_signals

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def _fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.chdir(tmp_path)
    for var in ("CATALYST_BROKER", "CATALYST_CONFIG", "CATALYST_DATABASE_URL", "CATALYST_HOME",
                "CATALYST_VAR_DIR", "CATALYST_KILL_FILE"):
        monkeypatch.delenv(var, raising=False)
    reset_container()
    yield
    reset_container()


def test_import_cli_app_when_listing_help_then_no_heavy_library_is_imported() -> None:
    code = ("import sys; import entrypoints.cli.app as a; sys.argv = ['catalyst', '--help']\n"
            "try:\n    a.main()\nexcept SystemExit:\n    pass\n"
            "heavy = ['pandas', 'torch', 'sqlalchemy', 'alpaca', 'numpy', 'stable_baselines3']\n"
            "print('HEAVY=' + ','.join(m for m in heavy if m in sys.modules))")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                       timeout=120, check=True)
    assert "backtest" in r.stdout and "doctor" in r.stdout
    assert r.stdout.strip().splitlines()[-1] == "HEAVY="


@pytest.mark.parametrize("name", list(LAZY_COMMANDS))
def test_lazy_command_when_loaded_then_its_help_is_the_one_listed(name: str) -> None:
    command = load_command(name)
    assert command.get_short_help_str(limit=300) == LAZY_COMMANDS[name][2]


def test_top_level_group_when_listed_then_every_command_is_there_once() -> None:
    group = typer.main.get_command(app)
    names = group.list_commands(click.Context(group))  # type: ignore[attr-defined]
    assert len(names) == len(set(names)) and set(LAZY_COMMANDS) | {"doctor"} == set(names)


def test_broker_choice_when_sim_then_no_remote_broker_and_no_price_feed() -> None:
    gw = get_container().gateways
    assert gw.broker_name() == "sim"
    assert gw.remote_broker() is None and gw.live_price_feed() is None
    assert gw.broker_check() == (True, "simulated exchange (in process)")


def test_broker_choice_when_overridden_then_every_selector_follows() -> None:
    gw = get_container().gateways
    calls: list[str] = []
    gw.broker.override("rest broker")  # stand-ins for the Alpaca adapters
    gw.alpaca_price_feed.override(providers.Callable(lambda: calls.append("feed") or "feed"))
    gw.broker_name.override("alpaca")
    try:
        assert gw.remote_broker() == "rest broker"
        assert gw.live_price_feed() == "feed" and calls == ["feed"]
    finally:
        gw.broker_name.reset_override()
        gw.broker.reset_override()
        gw.alpaca_price_feed.reset_override()
    assert gw.remote_broker() is None


def test_home_when_set_then_every_default_path_lies_under_it(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    monkeypatch.setenv("CATALYST_HOME", str(tmp_path / "state"))
    s = Settings()
    home = tmp_path / "state"
    assert s.database_url == f"sqlite:///{home}/catalyst.db"
    assert s.backtest_database_url == f"sqlite:///{home}/backtest.db"
    assert s.kill_path == home / "KILL" and s.reports_dir == home / "reports"
    for p in (s.models_dir, s.tensorboard_dir, s.cache_dir, s.data_dir, s.exports_dir):
        assert p.parent == home
    assert s.optuna_url == f"sqlite:///{home}/optuna.db"


def test_home_when_old_variable_name_then_still_accepted(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CATALYST_VAR_DIR", str(tmp_path / "old"))
    assert Settings().home == tmp_path / "old"


def test_home_when_database_and_kill_file_configured_then_they_win(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CATALYST_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("CATALYST_DATABASE_URL", "sqlite:///elsewhere.db")
    monkeypatch.setenv("CATALYST_KILL_FILE", str(tmp_path / "K"))
    s = Settings()
    assert s.database_url == "sqlite:///elsewhere.db" and s.kill_path == tmp_path / "K"


def test_stop_on_signals_when_sigterm_then_stop_requested_and_old_handler_restored() -> None:
    before = signal.getsignal(signal.SIGTERM)
    stopped = threading.Event()
    with stop_on_signals(stopped.set):
        os.kill(os.getpid(), signal.SIGTERM)
        assert stopped.wait(5)
    assert signal.getsignal(signal.SIGTERM) is before
