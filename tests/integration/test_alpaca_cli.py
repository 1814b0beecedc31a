"""CLI wiring of the Alpaca adapter: doctor reaches the account, live needs two confirmations."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.alpaca import AlpacaConfigError, build_broker
from adapters.alpaca.factory import LIVE_CONFIRMATION as ADAPTER_CONFIRMATION
from adapters.alpaca_server import ACCOUNT_NUMBER, AlpacaCompatServer
from entrypoints.cli.app import app
from entrypoints.cli.container import reset_container
from entrypoints.settings import LIVE_CONFIRMATION, Settings

KEY, SECRET = "PKCLITESTKEY000111", "cliTestSecret000111222333"  # fake


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """The CLI configures logging onto CliRunner's streams, which close: undo that after."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def server() -> Iterator[AlpacaCompatServer]:
    s = AlpacaCompatServer(api_key=KEY, secret_key=SECRET)
    s.start()
    yield s
    s.stop()


def _settings(server: AlpacaCompatServer, **kw: object) -> Settings:
    return Settings(alpaca_api_key=KEY, alpaca_secret_key=SECRET,  # type: ignore[arg-type]
                    alpaca_base_url=server.base_url, **kw)


def test_live_confirmation_constant_when_compared_then_adapter_and_settings_agree() -> None:
    assert ADAPTER_CONFIRMATION == LIVE_CONFIRMATION


def test_build_broker_when_keys_missing_then_clear_error() -> None:
    with pytest.raises(AlpacaConfigError, match="APCA_API_KEY_ID"):
        build_broker(Settings(alpaca_api_key=None, alpaca_secret_key=None))


def test_build_broker_when_live_without_confirmation_then_refused(
    server: AlpacaCompatServer,
) -> None:
    with pytest.raises(AlpacaConfigError, match="CATALYST_LIVE_CONFIRM=I-UNDERSTAND"):
        build_broker(_settings(server), live=True)
    with pytest.raises(AlpacaConfigError, match="CATALYST_LIVE_CONFIRM"):
        build_broker(_settings(server, live_confirm="yes"), live=True)


def test_build_broker_when_live_and_confirmed_then_account_announced_before_trading(
    server: AlpacaCompatServer,
) -> None:
    said: list[str] = []
    broker = build_broker(_settings(server, live_confirm=LIVE_CONFIRMATION), live=True,
                          announce=said.append, use_stream=False)
    try:
        assert not broker.config.paper
        assert len(said) == 1 and "LIVE" in said[0] and ACCOUNT_NUMBER in said[0]
        assert KEY not in said[0] and SECRET not in said[0]
    finally:
        broker.close()


def test_build_broker_when_paper_then_nothing_announced_and_paper(
    server: AlpacaCompatServer,
) -> None:
    said: list[str] = []
    broker = build_broker(_settings(server), announce=said.append, use_stream=False)
    try:
        assert broker.config.paper and said == []
        assert broker.get_account().account_id == ACCOUNT_NUMBER
    finally:
        broker.close()


def test_doctor_when_broker_is_alpaca_then_account_is_reached(
    server: AlpacaCompatServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CATALYST_DATABASE_URL", f"sqlite:///{tmp_path / 'doc.db'}")
    monkeypatch.setenv("CATALYST_BROKER", "alpaca")
    monkeypatch.setenv("APCA_API_KEY_ID", KEY)
    monkeypatch.setenv("APCA_API_SECRET_KEY", SECRET)
    monkeypatch.setenv("CATALYST_ALPACA_BASE_URL", server.base_url)
    monkeypatch.chdir(tmp_path)
    reset_container()
    try:
        res = CliRunner().invoke(app, ["doctor", "--json"])
    finally:
        reset_container()
    assert res.exit_code == 0, res.output
    assert ACCOUNT_NUMBER in res.output and "reachable" in res.output
    assert KEY not in res.output and SECRET not in res.output


def test_doctor_when_alpaca_keys_are_wrong_then_fails_without_echoing_them(
    server: AlpacaCompatServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CATALYST_DATABASE_URL", f"sqlite:///{tmp_path / 'doc.db'}")
    monkeypatch.setenv("CATALYST_BROKER", "alpaca")
    monkeypatch.setenv("APCA_API_KEY_ID", "PKWRONGDOCTOR0001")
    monkeypatch.setenv("APCA_API_SECRET_KEY", "wrongDoctorSecret0001")
    monkeypatch.setenv("CATALYST_ALPACA_BASE_URL", server.base_url)
    monkeypatch.chdir(tmp_path)
    reset_container()
    try:
        res = CliRunner().invoke(app, ["doctor", "--json"])
    finally:
        reset_container()
    assert res.exit_code == 1
    assert "credentials" in res.output
    assert "PKWRONGDOCTOR0001" not in res.output and "wrongDoctorSecret0001" not in res.output


def test_container_when_broker_is_alpaca_then_providers_build_paper_adapters(
    server: AlpacaCompatServer, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from entrypoints.cli.container import get_container

    monkeypatch.setenv("APCA_API_KEY_ID", KEY)
    monkeypatch.setenv("APCA_API_SECRET_KEY", SECRET)
    monkeypatch.setenv("CATALYST_ALPACA_BASE_URL", server.base_url)
    reset_container()
    try:
        gw = get_container().gateways
        broker = gw.broker()
        feed = gw.alpaca_price_feed()
        assert broker.config.paper and not broker.config.use_stream
        assert broker.get_account().account_id == ACCOUNT_NUMBER
        assert feed.latest_price("AAPL") is None
        broker.close()
        with pytest.raises(AlpacaConfigError):
            gw.alpaca_broker(live=True)
    finally:
        reset_container()
