"""``catalyst data fetch`` through the Alpaca price-feed adapter, against the loopback server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from adapters.alpaca_server import AlpacaCompatServer
from adapters.data.ohlcv import load_ohlcv
from adapters.data.sample import sample_paths
from entrypoints.cli.app import app
from entrypoints.cli.container import reset_container

runner = CliRunner()
KEY, SECRET = "PKFETCHTEST0000000001", "fetch-secret-abcdefghijklmnopqrstuvwxyz"


@pytest.fixture()
def server_with_bars(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[pd.DataFrame]:
    bars = load_ohlcv(sample_paths().prices)
    aapl = bars[bars["ticker"] == "AAPL"].head(40).reset_index(drop=True)
    server = AlpacaCompatServer()
    for row in aapl.itertuples():
        # daily bars stamped 05:00 UTC like Alpaca's
        ts = pd.Timestamp(row.date).to_pydatetime().replace(tzinfo=UTC) + timedelta(hours=5)
        server.bar("AAPL", row.open, row.high, row.low, row.close, row.volume, ts=ts)
    server.start()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("APCA_API_KEY_ID", KEY)
    monkeypatch.setenv("APCA_API_SECRET_KEY", SECRET)
    monkeypatch.setenv("CATALYST_ALPACA_BASE_URL", server.base_url)
    monkeypatch.setenv("CATALYST_ALPACA_DATA_URL", server.base_url)
    reset_container()
    try:
        yield aapl
    finally:
        server.stop()
        reset_container()


def test_fetch_when_server_has_bars_then_parquet_equals_them(
    server_with_bars: pd.DataFrame, tmp_path: Path
) -> None:
    aapl = server_with_bars
    start = aapl["date"].iloc[0].strftime("%Y-%m-%d")
    end = (aapl["date"].iloc[-1] + pd.Timedelta(days=1)).strftime("%Y-%m-%d")
    r = runner.invoke(app, ["data", "fetch", "AAPL", "--start", start, "--end", end,
                            "--out", "aapl.parquet"])
    assert r.exit_code == 0, r.output
    got = load_ohlcv(tmp_path / "aapl.parquet")
    assert list(got["date"]) == list(aapl["date"])
    for col in ("open", "high", "low", "close", "volume"):
        assert got[col].to_numpy() == pytest.approx(aapl[col].to_numpy(), rel=1e-12), col
    assert KEY not in r.output and SECRET not in r.output


def test_fetch_when_no_keys_then_exit_2_with_what_to_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("APCA_API_KEY_ID", raising=False)
    monkeypatch.delenv("APCA_API_SECRET_KEY", raising=False)
    reset_container()
    r = runner.invoke(app, ["data", "fetch", "AAPL", "--start",
                            (datetime.now(UTC) - timedelta(days=5)).strftime("%Y-%m-%d")])
    reset_container()
    assert r.exit_code == 2
    assert "APCA_API_KEY_ID" in r.output
