"""``catalyst backtest`` and ``catalyst run`` take the user's risk limits and costs from settings.

Every :class:`RiskConfig` field is set through ``catalyst.toml`` and through ``CATALYST_RISK__*``
and must reach the risk service the engine of both commands uses; the main limits are then seen
*enforced* in the trades. Runs go through the CLI in process (``CliRunner``) on two years of
five tickers from the bundled sample.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs
import pytest
from trading_cli_support import catalyst, make_small_data

from domain.risk import RiskConfig
from entrypoints.settings import Settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def small_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_small_data(tmp_path_factory.mktemp("data"))

# field -> (TOML literal, environment text, value reported in the run's JSON ``risk_limits``);
# every value differs from the default and all of them together form a valid RiskConfig
FIELDS: dict[str, tuple[str, str, Any]] = {
    "max_position_pct": ("0.07", "0.07", "0.07"),
    "max_ticker_pct": ("0.08", "0.08", "0.08"),
    "min_position_value": ("250", "250", "250"),
    "require_stop_loss": ("false", "false", False),
    "min_stop_pct": ("0.03", "0.03", "0.03"),
    "max_stop_pct": ("0.15", "0.15", "0.15"),
    "max_price_deviation_pct": ("0.04", "0.04", "0.04"),
    "buying_power_buffer": ("0.002", "0.002", "0.002"),
    "max_gross_exposure_pct": ("1.2", "1.2", "1.2"),
    "max_net_exposure_pct": ("0.9", "0.9", "0.9"),
    "max_open_positions": ("3", "3", 3),
    "max_daily_loss_pct": ("0.025", "0.025", "0.025"),
    "max_drawdown_pct": ("0.08", "0.08", "0.08"),
    "correlation_threshold": ("0.8", "0.8", 0.8),
    "max_cluster_pct": ("0.3", "0.3", "0.3"),
    "correlation_lookback": ("40", "40", 40),
    "correlation_min_obs": ("15", "15", 15),
    "max_consecutive_losses": ("4", "4", 4),
    "max_broker_error_rate": ("0.4", "0.4", "0.4"),
    "broker_error_window_s": ("120", "120", 120.0),
    "broker_error_min_calls": ("6", "6", 6),
    "max_price_age_s": ("864000", "864000", 864000.0),
    "warning_fraction": ("0.7", "0.7", "0.7"),
    "daily_loss_trips_to": ('"reducing"', "reducing", "reducing"),
    "drawdown_trips_to": ('"reducing"', "reducing", "reducing"),
    "consecutive_losses_trips_to": ('"halted"', "halted", "halted"),
    "broker_errors_trip_to": ('"reducing"', "reducing", "reducing"),
    "stale_prices_trip_to": ('"halted"', "halted", "halted"),
    "allow_protective_exits_when_halted": ("false", "false", False),
}


def replay(command: str, data: Path, cwd: Path, *, env: dict[str, str] | None = None,
           toml: str | None = None, extra: tuple[str, ...] = ()) -> dict[str, Any]:
    args = [command, "--data", str(data / "prices.csv"), "--alerts", str(data / "alerts.jsonl"),
            "--json", "--no-progress", *extra]
    if command == "run":
        args += ["--broker", "sim"]
    r = catalyst(args, cwd, env, toml)
    assert r.exit_code == 0, r.output[-3000:]
    out: dict[str, Any] = json.loads(r.stdout)
    return out


def test_fields_table_when_compared_then_covers_every_riskconfig_field() -> None:
    assert set(FIELDS) == {f.name for f in attrs.fields(RiskConfig)}
    # the values together form a valid configuration
    Settings(risk={k: v[1] for k, v in FIELDS.items()}).risk_config()


@pytest.fixture(scope="module", params=[("backtest", "toml"), ("backtest", "env"),
                                        ("run", "toml"), ("run", "env")],
                ids=lambda p: f"{p[0]}-{p[1]}")
def limits_seen(request: pytest.FixtureRequest, small_data: Path,
                tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One replay with every field configured; the limits its risk service used."""
    command, source = request.param
    cwd = tmp_path_factory.mktemp(f"{command}-{source}")
    if source == "toml":
        toml = "[risk]\n" + "".join(f"{k} = {v[0]}\n" for k, v in FIELDS.items())
        out = replay(command, small_data, cwd, toml=toml)
    else:
        env = {f"CATALYST_RISK__{k.upper()}": v[1] for k, v in FIELDS.items()}
        out = replay(command, small_data, cwd, env=env)
    limits: dict[str, Any] = out["risk_limits"]
    return limits


@pytest.mark.parametrize("field", sorted(FIELDS))
def test_risk_setting_when_set_in_toml_or_env_then_reaches_the_engines_risk_service(
        field: str, limits_seen: dict[str, Any]) -> None:
    assert limits_seen[field] == FIELDS[field][2]


def _max_open(cwd: Path) -> int:
    from adapters.sqlalchemy import make_engine, sql_uow_factory

    db = _db(cwd)
    run = "backtest" if db.name == "backtest.db" else "default"
    uow = sql_uow_factory(make_engine(f"sqlite:///{db}"), run_id=run)()
    with uow as u:
        return max((s.open_positions for s in u.reports.snapshots()), default=0)


def _db(cwd: Path) -> Path:
    return cwd / "var" / ("backtest.db" if (cwd / "var" / "backtest.db").exists()
                          else "catalyst.db")


@pytest.fixture(scope="module")
def baseline(small_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    cwd = tmp_path_factory.mktemp("baseline")
    out = replay("backtest", small_data, cwd)
    out["max_open"] = _max_open(cwd)
    return out


# (limit, value, what the replay must show); each row is run once through TOML with `backtest`
# and once through the environment with `run`, so both sources reach both commands
ENFORCED = [
    ("max_position_pct", "0.03",
     lambda o, cwd: o["closed_trades"] == 0 and o["breaker"]["risk_rejections"].get(
         "max_position_pct", 0) == o["signals"] > 0),
    ("max_open_positions", "1",
     lambda o, cwd: _max_open(cwd) == 1
     and o["breaker"]["risk_rejections"].get("max_open_positions", 0) > 0),
    ("max_daily_loss_pct", "0.002",
     lambda o, cwd: "daily_loss" in o["breaker"]["rules"] and o["breaker"]["latched"]),
    ("max_drawdown_pct", "0.005",
     lambda o, cwd: "drawdown" in o["breaker"]["rules"] and o["breaker"]["latched"]),
    ("max_consecutive_losses", "1",
     lambda o, cwd: "consecutive_losses" in o["breaker"]["rules"]
     and o["breaker"]["state"] == "reducing"),
]


@pytest.mark.parametrize("how", ["backtest-toml", "run-env"])
@pytest.mark.parametrize(("field", "value", "seen"), ENFORCED, ids=[e[0] for e in ENFORCED])
def test_risk_limit_when_configured_then_enforced_in_the_replay(
        field: str, value: str, seen: Any, how: str, small_data: Path, tmp_path: Path,
        baseline: dict[str, Any]) -> None:
    # the defaults let this data trade freely: none of these limits binds
    assert baseline["closed_trades"] > 10 and baseline["max_open"] > 1
    assert not baseline["breaker"]["latched"] and not baseline["breaker"]["risk_rejections"]
    command, source = how.split("-")
    if source == "toml":
        out = replay(command, small_data, tmp_path, toml=f"[risk]\n{field} = {value}\n")
    else:
        out = replay(command, small_data, tmp_path,
                     env={f"CATALYST_RISK__{field.upper()}": value})
    assert out["risk_overrides"] == {field: value}
    assert seen(out, tmp_path), json.dumps(out["breaker"], indent=1)


def test_risk_setting_when_env_integer_then_accepted_and_bad_text_named(tmp_path: Path) -> None:
    r = catalyst(["risk", "status", "--json"], tmp_path,
                 env={"CATALYST_RISK__MAX_OPEN_POSITIONS": "1"})
    assert r.exit_code == 0, r.output
    r = catalyst(["backtest", "--json"], tmp_path,
                 env={"CATALYST_RISK__MAX_OPEN_POSITIONS": "one"})
    assert r.exit_code == 2
    assert "max_open_positions" in r.output and "'one'" in r.output and "integer" in r.output
    assert "Traceback" not in r.output
