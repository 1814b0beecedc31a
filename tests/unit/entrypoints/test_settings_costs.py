"""``[costs]`` / ``CATALYST_COSTS__*`` and text from the environment for ``[risk]``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest
from typer.testing import CliRunner

from adapters.rl.env import EnvConfig
from domain.costs import DEFAULT_COSTS, CostModel
from entrypoints.cli.app import app
from entrypoints.cli.container import reset_container
from entrypoints.settings import Settings

runner = CliRunner()

# field -> (TOML literal, environment text, value)
COST_FIELDS = {
    "commission_bps": ("2.5", "2.5", 2.5),
    "commission_per_share": ("0.005", "0.005", 0.005),
    "commission_per_order": ("1", "1", 1.0),
    "min_commission": ("1.25", "1.25", 1.25),
    "slippage_bps": ("7", "7", 7.0),
    "slippage_model": ('"volatility"', "volatility", "volatility"),
    "spread_bps": ("12", "12", 12.0),
    "volatility_factor": ("0.1", "0.1", 0.1),
}


@pytest.fixture(autouse=True)
def _fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CATALYST_CONFIG", raising=False)
    reset_container()
    yield
    reset_container()


def test_cost_fields_when_listed_then_cover_the_model() -> None:
    assert set(COST_FIELDS) == {f.name for f in attrs.fields(CostModel)}


def test_costs_when_nothing_configured_then_the_rl_envs_default() -> None:
    assert Settings().cost_model() == DEFAULT_COSTS == EnvConfig().costs
    assert DEFAULT_COSTS.commission_bps == 10.0 and DEFAULT_COSTS.slippage_bps == 5.0


@pytest.mark.parametrize("source", ["toml", "env"])
@pytest.mark.parametrize("field", sorted(COST_FIELDS))
def test_cost_setting_when_set_then_in_the_cost_model(field: str, source: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    toml, env, value = COST_FIELDS[field]
    if source == "toml":
        Path("catalyst.toml").write_text(f"[costs]\n{field} = {toml}\n")
    else:
        monkeypatch.setenv(f"CATALYST_COSTS__{field.upper()}", env)
    model = Settings().cost_model()
    assert getattr(model, field) == value
    others = {f.name for f in attrs.fields(CostModel)} - {field}
    assert all(getattr(model, f) == getattr(DEFAULT_COSTS, f) for f in others)


def test_costs_when_toml_env_and_flags_then_flags_win_then_env(
        monkeypatch: pytest.MonkeyPatch) -> None:
    Path("catalyst.toml").write_text("[costs]\ncommission_bps = 1\nslippage_bps = 2\n"
                                     "min_commission = 3\n")
    monkeypatch.setenv("CATALYST_COSTS__SLIPPAGE_BPS", "4")
    model = Settings().cost_model(commission_bps=9.0, min_commission=None)
    assert (model.commission_bps, model.slippage_bps, model.min_commission) == (9.0, 4.0, 3.0)


@pytest.mark.parametrize(("key", "value", "named"), [
    ("COMMISSION_BPS", "-1", "commission_bps"),
    ("COMMISSION_BPS", "ten", "costs.commission_bps 'ten'"),
    ("SLIPPAGE_MODEL", "random", "slippage_model"),
    ("SLIPAGE_BPS", "1", "slipage_bps"),
])
def test_costs_when_invalid_then_exit_2_naming_field(key: str, value: str, named: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(f"CATALYST_COSTS__{key}", value)
    r = runner.invoke(app, ["doctor"])
    assert r.exit_code == 2
    assert named in r.output and "Traceback" not in r.output


@pytest.mark.parametrize(("field", "text", "value"), [
    ("max_open_positions", "1", 1), ("correlation_lookback", " 30 ", 30),
    ("require_stop_loss", "false", False), ("allow_protective_exits_when_halted", "0", False),
    ("correlation_threshold", "0.9", 0.9), ("max_price_age_s", "60", 60.0),
])
def test_risk_setting_when_text_from_env_then_typed(field: str, text: str, value: object,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(f"CATALYST_RISK__{field.upper()}", text)
    assert getattr(Settings().risk_config(), field) == value


@pytest.mark.parametrize(("field", "text", "expected"), [
    ("max_open_positions", "1.5", "an integer"), ("require_stop_loss", "maybe", "true or false"),
    ("correlation_threshold", "high", "a number"), ("max_open_positions", "0", ">= 1"),
])
def test_risk_setting_when_bad_text_then_exit_2_naming_field_and_value(
        field: str, text: str, expected: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(f"CATALYST_RISK__{field.upper()}", text)
    r = runner.invoke(app, ["doctor"])
    assert r.exit_code == 2
    assert field in r.output and repr(text).strip("'") in r.output and expected in r.output
