"""The foundation: settings, secret redaction, the container, ``--version`` and ``doctor``."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from typer.testing import CliRunner

from entrypoints.cli.app import app, package_version
from entrypoints.cli.container import get_container, reset_container
from entrypoints.logs import MASK, SecretRedactor, configure_logging
from entrypoints.settings import Settings, mask_url

runner = CliRunner()
KEY = "PKTESTKEY1234567890"
SECRET = "sEcReT-abcdefghijklmnopqrstuvwxyz0123456"


@pytest.fixture(autouse=True)
def _fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.chdir(tmp_path)
    for var in ("APCA_API_KEY_ID", "APCA_API_SECRET_KEY", "CATALYST_DATABASE_URL",
                "CATALYST_BROKER", "CATALYST_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    reset_container()
    yield
    reset_container()


def test_settings_when_nothing_configured_then_offline_defaults() -> None:
    s = Settings()
    assert s.broker == "sim"
    assert s.database_url == "sqlite:///var/catalyst.db"
    assert s.alpaca_paper is True


def test_settings_when_env_dotenv_and_toml_then_env_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    Path("catalyst.toml").write_text('log_level = "DEBUG"\nbroker = "alpaca"\n')
    Path(".env").write_text("CATALYST_LOG_LEVEL=WARNING\n")
    assert Settings().log_level == "WARNING"
    assert Settings().broker == "alpaca"
    monkeypatch.setenv("CATALYST_LOG_LEVEL", "error")
    assert Settings().log_level == "ERROR"


def test_settings_when_bad_log_level_then_error_names_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CATALYST_LOG_LEVEL", "LOUD")
    r = runner.invoke(app, ["doctor"])
    assert r.exit_code == 2
    assert "log_level" in r.output and "LOUD" in r.output


def test_masked_settings_when_secrets_set_then_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APCA_API_KEY_ID", KEY)
    monkeypatch.setenv("APCA_API_SECRET_KEY", SECRET)
    monkeypatch.setenv("CATALYST_DATABASE_URL", "postgresql+psycopg://bot:hunter22@db/x")
    text = json.dumps(Settings().masked(), default=str)
    assert KEY not in text and SECRET not in text and "hunter22" not in text
    assert "********" in text


def test_mask_url_when_password_then_masked() -> None:
    assert mask_url("postgresql://u:p4ss@h:5432/d") == "postgresql://u:***@h:5432/d"
    assert mask_url("sqlite:///var/x.db") == "sqlite:///var/x.db"


def test_redactor_when_secret_in_message_key_or_nested_then_masked() -> None:
    stream = io.StringIO()
    configure_logging("INFO", "json", secrets=[KEY, SECRET], stream=stream)
    log = structlog.get_logger("t")
    log.info(f"calling with {KEY}", api_key=KEY, headers={"APCA-API-SECRET-KEY": SECRET},
             url="postgresql://bot:hunter22@db/x", note=f"Bearer {SECRET}")
    try:
        raise RuntimeError(f"auth failed for {KEY}")
    except RuntimeError:
        log.exception("boom")
    text = stream.getvalue()
    assert KEY not in text and SECRET not in text and "hunter22" not in text
    assert text.count(MASK) >= 4
    first = json.loads(text.splitlines()[0])
    assert first["api_key"] == MASK


def test_redactor_when_no_secret_then_text_unchanged() -> None:
    assert SecretRedactor([KEY]).redact_text("plain words") == "plain words"


def test_version_when_asked_then_prints_package_version() -> None:
    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0
    assert package_version() in r.output


def test_doctor_when_defaults_then_checks_pass_and_json_readable() -> None:
    r = runner.invoke(app, ["doctor", "--json"])
    assert r.exit_code == 0, r.output
    payload = json.loads(r.stdout)
    assert payload["checks"]["database"]["ok"] is True
    assert payload["settings"]["broker"] == "sim"


def test_doctor_when_secrets_configured_then_output_masks_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("APCA_API_KEY_ID", KEY)
    monkeypatch.setenv("APCA_API_SECRET_KEY", SECRET)
    r = runner.invoke(app, ["doctor"])
    assert KEY not in r.output and SECRET not in r.output


def test_doctor_when_database_url_malformed_then_exit_1_and_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CATALYST_DATABASE_URL", "not a url")
    r = runner.invoke(app, ["doctor", "--json"])
    assert r.exit_code == 1
    assert json.loads(r.stdout)["checks"]["database"]["ok"] is False


def test_container_when_created_then_dependencies_resolve_and_reset_clears() -> None:
    c = get_container()
    assert isinstance(c.core.settings(), Settings)
    assert c.core.settings() is c.core.settings()
    reset_container()
    assert get_container() is not c


def test_risk_settings_when_toml_and_env_then_override_defaults(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    Path("catalyst.toml").write_text("[risk]\nmax_open_positions = 4\nmax_daily_loss_pct = 0.02\n")
    monkeypatch.setenv("CATALYST_RISK__MAX_POSITION_PCT", "0.05")
    cfg = get_container().gateways.risk_config()
    assert cfg.max_open_positions == 4
    assert str(cfg.max_daily_loss_pct) == "0.02"
    assert str(cfg.max_position_pct) == "0.05"
    assert str(cfg.max_drawdown_pct) == "0.10"  # untouched default


def test_risk_settings_when_unknown_or_invalid_then_exit_2_naming_field(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    Path("catalyst.toml").write_text("[risk]\nmax_positon_pct = 0.05\n")
    r = runner.invoke(app, ["doctor"])
    assert r.exit_code == 2 and "max_positon_pct" in r.output
    Path("catalyst.toml").write_text("[risk]\nmax_position_pct = 7\n")
    r = runner.invoke(app, ["doctor"])
    assert r.exit_code == 2 and "max_position_pct" in r.output and "7" in r.output
