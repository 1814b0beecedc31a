"""Output: tables fit 80 columns, values are formatted one way, and ``--json`` follows the
documented schema (money as decimal strings, missing as null)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from entrypoints.cli.output import cell, is_money, json_row, json_value
from tests.e2e.trading_cli_support import empty_config, make_small_data

ROOT = Path(__file__).resolve().parents[2]
_BAD_WORD = re.compile(r"\b(None|nan|NaN|inf|Infinity)\b")


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CATALYST_")}
    env.update(CATALYST_HOME=str(home), CATALYST_CONFIG=empty_config(home),
               CATALYST_LOG_LEVEL="WARNING", COLUMNS="80",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])))
    code = "import sys; from entrypoints.cli.app import main; sys.argv[0] = 'catalyst'; main()"
    return subprocess.run([sys.executable, "-c", code, *args], cwd=home,
                          env=env, capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("home")
    data = make_small_data(tmp_path_factory.mktemp("data"))
    r = _cli(home, "backtest", "--data", str(data / "prices.csv"), "--alerts",
             str(data / "alerts.jsonl"), "--no-progress")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "closed_trades" in r.stdout
    assert all(len(line) <= 80 for line in r.stdout.splitlines()), r.stdout
    return home


VIEWS = [["trades"], ["orders"], ["positions"], ["account"], ["runs"], ["report"],
         ["report", "--period", "monthly"], ["report", "--period", "daily", "--limit", "5"]]


@pytest.mark.slow
@pytest.mark.parametrize("args", VIEWS, ids=[" ".join(a) for a in VIEWS])
def test_output_when_80_columns_then_tables_fit_uncut(home: Path, args: list[str]) -> None:
    r = _cli(home, *args)
    assert r.returncode == 0, r.stderr[-2000:]
    lines = r.stdout.splitlines()
    assert lines, r.stderr
    assert max(len(line) for line in lines) <= 80, r.stdout
    assert "…" not in r.stdout, r.stdout
    assert not _BAD_WORD.findall(r.stdout), r.stdout


@pytest.mark.slow
def test_output_when_monthly_then_percentages_like_the_all_time_view(home: Path) -> None:
    monthly = _cli(home, "report", "--period", "monthly").stdout
    overall = _cli(home, "report").stdout
    assert "%" in monthly and "%" in overall
    assert re.search(r"[+-]\d+\.\d\d%", monthly), monthly


def _money_ok(value: object) -> bool:
    return value is None or (isinstance(value, str) and Decimal(value) == Decimal(value))


@pytest.mark.slow
@pytest.mark.parametrize("args", [["trades"], ["orders"], ["positions"], ["account"], ["runs"],
                                  ["report"], ["report", "--period", "monthly"]],
                         ids=lambda a: " ".join(a))
def test_output_when_json_then_money_strings_and_null_for_missing(home: Path,
                                                                  args: list[str]) -> None:
    r = _cli(home, *args, "--json")
    assert r.returncode == 0, r.stderr[-2000:]
    payload = json.loads(r.stdout)
    rows = payload["rows"] if isinstance(payload, dict) and "rows" in payload else (
        payload if isinstance(payload, list) else [payload])
    assert rows or args == ["positions"]  # the small run ends flat
    for row in rows:
        for key, value in row.items():
            assert value not in ("None", "nan", "inf", "NaN"), (key, value)
            if is_money(key):
                assert _money_ok(value), (key, value)


def test_cell_when_infinite_or_missing_then_symbol_or_blank() -> None:
    assert cell("profit_factor", float("inf")) == "∞"
    assert cell("profit_factor", float("nan")) == ""
    assert cell("trailing_stop", None) == ""
    assert cell("trailing_stop", "None") == ""
    assert cell("total_return", 0.0123) == "+1.23%"
    assert cell("win_rate", 0.5) == "50.00%"
    assert cell("opened_at", "2018-02-06T21:00:00+00:00") == "2018-02-06"
    assert cell("created_at", "2018-02-06T14:31:00+00:00") == "2018-02-06 14:31"


def test_json_value_when_infinite_or_missing_then_null() -> None:
    assert json_value("profit_factor", float("inf")) is None
    assert json_row({"trailing_stop": "None", "pnl": 1.5, "trades": 3}) == {
        "trailing_stop": None, "pnl": "1.50", "trades": 3}
    assert json_value("realized_pnl", Decimal("12.3456")) == "12.3456"


@given(st.decimals(min_value=Decimal("-1e12"), max_value=Decimal("1e12"), places=6,
                   allow_nan=False, allow_infinity=False))
def test_cell_when_money_then_two_decimals_of_the_same_amount(amount: Decimal) -> None:
    shown = cell("realized_pnl", amount)
    assert Decimal(shown.replace(",", "")) == amount.quantize(Decimal("0.01"))
    assert json_value("realized_pnl", amount) == str(amount)
