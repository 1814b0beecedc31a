"""``catalyst sim-server`` as a user runs it: a plain alpaca-py bot paper-trades offline."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, TimeInForce
from alpaca.trading.requests import MarketOrderRequest

import adapters.alpaca  # noqa: F401 - first: silences alpaca-py's websockets.legacy warning

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_sim_server_when_a_plain_alpaca_py_bot_trades_then_orders_fill_offline() -> None:
    port = _free_port()
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "catalyst"), "sim-server", "--port", str(port),
         "--prices", "AAPL=100"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            try:
                requests.get(f"{base}/v2/clock", headers={"APCA-API-KEY-ID": "k",
                                                          "APCA-API-SECRET-KEY": "s"}, timeout=1)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "sim-server did not start"
                time.sleep(0.2)
        bot = TradingClient("any-key", "any-secret", url_override=base)  # alpaca-py, as is
        order = bot.submit_order(MarketOrderRequest(symbol="AAPL", qty=3, side=OrderSide.BUY,
                                                    time_in_force=TimeInForce.DAY))
        assert order.status.value in ("new", "accepted")
        r = requests.post(f"{base}/_sim/bar", json={"symbol": "AAPL", "o": 101, "h": 102,
                                                    "l": 100, "c": 101.5, "v": 1e6}, timeout=5)
        assert r.status_code == 200
        filled = bot.get_order_by_id(order.id)
        assert filled.status.value == "filled" and float(filled.filled_avg_price or 0) > 0
        positions = bot.get_all_positions()
        assert [(p.symbol, p.qty) for p in positions] == [("AAPL", "3")]
        assert float(bot.get_account().cash) < 100_000
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(Path(sys.executable).parent / "catalyst"), "sim-server", *args],
                          check=False, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=60)


def test_sim_server_when_options_are_bad_then_exit_2_naming_the_option() -> None:
    for args, name in ((["--rate-limit", "fast"], "--rate-limit"),
                       (["--speed", "warp"], "--speed"),
                       (["--sample", "--start", "soon"], "--start"),
                       (["--sample", "--start", "2030-01-01"], "--start"),
                       (["--prices", "AAPL=-1"], "--prices")):
        r = _cli(*args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert name in r.stderr, (args, r.stderr)


def test_sim_server_when_started_without_prices_then_sample_prices_let_a_bot_trade() -> None:
    port = _free_port()
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "catalyst"), "sim-server", "--port", str(port)],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            try:
                requests.get(f"{base}/v2/clock", headers={"APCA-API-KEY-ID": "k",
                                                          "APCA-API-SECRET-KEY": "s"}, timeout=1)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "sim-server did not start"
                time.sleep(0.2)
        bot = TradingClient("any-key", "any-secret", url_override=base)
        assert "MSFT" in {a.symbol for a in bot.get_all_assets()}
        order = bot.submit_order(MarketOrderRequest(symbol="MSFT", qty=1, side=OrderSide.BUY,
                                                    time_in_force=TimeInForce.DAY))
        assert order.status.value in ("new", "accepted")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_sim_server_when_replaying_at_a_speed_factor_then_the_clock_runs_and_no_future_bars(
) -> None:
    port = _free_port()
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "catalyst"), "sim-server", "--port", str(port),
         "--sample", "--speed", "20000x"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    h = {"APCA-API-KEY-ID": "k", "APCA-API-SECRET-KEY": "s"}
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            try:
                first = requests.get(f"{base}/v2/clock", headers=h, timeout=1).json()
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "sim-server did not start"
                time.sleep(0.2)
        while True:
            time.sleep(0.5)
            clock = requests.get(f"{base}/v2/clock", headers=h, timeout=5).json()
            if clock["timestamp"] > first["timestamp"]:
                break
            assert time.monotonic() < deadline, "the replay clock did not move"
        bar = requests.get(f"{base}/v2/stocks/AAPL/bars/latest", headers=h, timeout=5).json()
        after = requests.get(f"{base}/v2/clock", headers=h, timeout=5).json()
        assert bar["bar"]["t"] <= after["timestamp"]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
