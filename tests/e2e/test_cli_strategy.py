"""One strategy protocol: ``on_bar(bar, ctx)`` strategies run from ``--strategy`` (the
bundled ``SmaCross``, a module in the current folder) and from Python."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from entrypoints.cli.app import app
from entrypoints.cli.container import reset_container
from tests.e2e.trading_cli_support import empty_config, make_small_data

pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"


@pytest.fixture(scope="module")
def small_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_small_data(tmp_path_factory.mktemp("data"))


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for var in ("CATALYST_DATABASE_URL", "CATALYST_KILL_FILE", "CATALYST_VAR_DIR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("CATALYST_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("CATALYST_LOG_LEVEL", "WARNING")
    monkeypatch.setenv("CATALYST_CONFIG", empty_config(tmp_path))
    reset_container()
    yield tmp_path / "state"
    reset_container()


def _backtest(data: Path, strategy: str) -> dict[str, object]:
    r = CliRunner().invoke(app, ["backtest", "--data", str(data / "prices.csv"), "--strategy",
                                 strategy, "--json", "--no-progress"])
    assert r.exit_code == 0, r.output[-2000:]
    return json.loads(r.stdout)  # type: ignore[no-any-return]


def test_strategy_when_bundled_sma_cross_then_backtest_trades(small_data: Path,
                                                              home: Path) -> None:
    out = _backtest(small_data, "adapters.simulated.examples:SmaCross")
    assert out["signals"] > 0
    assert out["orders"] > 0


def test_strategy_when_module_in_current_folder_then_importable(
        small_data: Path, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "mine_breakout.py").write_text((EXAMPLES / "my_strategy.py").read_text())
    monkeypatch.chdir(folder)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(folder))])
    sys.modules.pop("mine_breakout", None)
    out = _backtest(small_data, "mine_breakout:Breakout")
    assert out["signals"] > 0


def test_strategy_when_module_missing_then_clear_error(small_data: Path, home: Path) -> None:
    r = CliRunner().invoke(app, ["backtest", "--data", str(small_data / "prices.csv"),
                                 "--strategy", "no_such_module_xyz:Thing", "--no-progress"])
    assert r.exit_code != 0
    assert "no_such_module_xyz" in r.output


def test_strategy_when_same_class_in_python_then_signals_carry_bar_time() -> None:
    from datetime import UTC, datetime

    from adapters.simulated.examples import SmaCross
    from adapters.simulated.replay import PerTicker
    from application.engine import StrategySignalSource

    source = StrategySignalSource(PerTicker(lambda: SmaCross(2, 3)), name="sma")
    closes = [10.0, 9.0, 8.0, 9.0, 12.0, 13.0]
    for i, c in enumerate(closes):
        source.feed((i + 1) * 86_400_000_000_000, [("AAA", c, c, c, c, 1.0)])
    signals = source.poll(datetime(2000, 1, 1, tzinfo=UTC))
    assert [s.action.value for s in signals] == ["buy"]
    assert signals[0].ts == datetime(1970, 1, 6, tzinfo=UTC)  # the fifth bar, 12 > both averages
    assert signals[0].signal_id == "sma:AAA:432000000000000:buy"


def test_csv_source_when_rows_out_of_time_order_then_sorted(tmp_path: Path) -> None:
    from adapters.simulated.replay import CsvSource

    df = pd.DataFrame({"date": ["2020-01-03", "2020-01-02", "2020-01-03", "2020-01-02"],
                       "ticker": ["B", "B", "A", "A"], "open": 1.0, "high": 1.0, "low": 1.0,
                       "close": [4.0, 3.0, 2.0, 1.0], "volume": 1.0})
    path = tmp_path / "p.csv"
    df.to_csv(path, index=False)
    chunks = list(CsvSource(path, chunk_size=1).chunks())
    ts = np.concatenate([c.ts for c in chunks])
    assert (np.diff(ts) >= 0).all()
    assert list(np.concatenate([c.close for c in chunks])) == [1.0, 3.0, 2.0, 4.0]
