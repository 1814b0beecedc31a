"""History replay: ``catalyst sim-server --data`` serves a dataset as the market to an unmodified bot.

The bot below is written the way Alpaca's own examples are (TradingClient,
StockHistoricalDataClient, TradingStream, a polling loop on the clock); the test only
starts the server as a user would and then compares what the bot saw with the server's
records.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
from alpaca.common.exceptions import APIError
from alpaca.data.historical import StockHistoricalDataClient
from alpaca.data.requests import StockBarsRequest, StockLatestTradeRequest
from alpaca.data.timeframe import TimeFrame
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, TimeInForce
from alpaca.trading.requests import MarketOrderRequest
from alpaca.trading.stream import TradingStream

import adapters.alpaca  # noqa: F401 - first: silences alpaca-py's websockets.legacy warning
from adapters.alpaca_server import AlpacaCompatServer
from adapters.alpaca_server.replay import HistoryReplay, load_history, replay_exchange
from adapters.data.ohlcv import load_ohlcv
from adapters.data.sample import sample_paths

ROOT = Path(__file__).resolve().parents[2]
KEY, SECRET = "PKREPLAY00000000000001", "replay-secret-0000000000000000000000000001"


def _dataset(tmp_path: Path, days: int) -> Path:
    frame = load_ohlcv(sample_paths().prices)
    parts = [frame[frame["ticker"] == t].head(days) for t in ("AAPL", "MSFT")]
    path = tmp_path / "bars.csv"
    pd.concat(parts).to_csv(path, index=False)
    return path


# --- the replay in-process ----------------------------------------------------------------
def test_replay_when_advanced_then_only_bars_up_to_now_are_served(tmp_path: Path) -> None:
    bars = load_history(_dataset(tmp_path, 10))
    server = AlpacaCompatServer(replay_exchange(Decimal(100_000), bars[0].ts),
                                fill_market_now=True)
    replay = HistoryReplay(server, bars)
    first_day = bars[0].ts
    assert replay.start == datetime(2013, 2, 11, 14, 30, tzinfo=UTC)  # 2nd session's open
    server.start()
    try:
        data = StockHistoricalDataClient(KEY, SECRET, url_override=server.base_url)
        trading = TradingClient(KEY, SECRET, url_override=server.base_url)
        clock = trading.get_clock()
        assert clock.is_open and clock.timestamp == replay.start
        got = data.get_stock_bars(StockBarsRequest(symbol_or_symbols=["AAPL", "MSFT"],
                                                   timeframe=TimeFrame.Day,
                                                   start=first_day - timedelta(days=5)))
        assert {s: [b.timestamp for b in v] for s, v in got.data.items()} == \
            {"AAPL": [first_day], "MSFT": [first_day]}
        # during the session a market order fills at once, at the last known price
        order = trading.submit_order(MarketOrderRequest(symbol="AAPL", qty=3,
                                                        side=OrderSide.BUY,
                                                        time_in_force=TimeInForce.DAY))
        done = trading.get_order_by_id(order.id)
        assert done.status.value == "filled"
        assert float(done.filled_avg_price or 0) == bars[0].close
        replay.advance_to(replay.next_time)  # type: ignore[arg-type] - the session's close
        assert not trading.get_clock().is_open
        last = data.get_stock_latest_trade(StockLatestTradeRequest(symbol_or_symbols="AAPL"))
        assert last["AAPL"].price == next(b.close for b in bars
                                          if b.ticker == "AAPL" and b.ts > first_day)
        # after the close a market order waits for the next session's open
        late = trading.submit_order(MarketOrderRequest(symbol="AAPL", qty=1,
                                                       side=OrderSide.BUY,
                                                       time_in_force=TimeInForce.DAY))
        assert trading.get_order_by_id(late.id).status.value == "new"
        while replay.next_time is not None and \
                trading.get_order_by_id(late.id).status.value != "filled":
            replay.advance_to(replay.next_time)
        third = sorted({b.ts for b in bars})[2]
        assert float(trading.get_order_by_id(late.id).filled_avg_price or 0) == \
            next(b.open for b in bars if b.ticker == "AAPL" and b.ts == third)
    finally:
        server.stop()


# --- an unmodified bot against `catalyst sim-server --data` ----------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ExampleBot:
    """A momentum bot in the style of Alpaca's examples: buy above the 5-day mean, else sell."""

    def __init__(self, base: str, stream_url: str) -> None:
        self.trading = TradingClient(KEY, SECRET, paper=True, url_override=base)
        self.data = StockHistoricalDataClient(KEY, SECRET, url_override=base)
        self.stream = TradingStream(KEY, SECRET, paper=True, url_override=stream_url)
        self.updates: list[Any] = []
        self.submitted: list[str] = []
        self.bar_checks: list[tuple[datetime, datetime]] = []
        self.refusals: list[int | None] = []

        async def on_trade_update(data: Any) -> None:
            self.updates.append(data)

        self.stream.subscribe_trade_updates(on_trade_update)
        threading.Thread(target=self.stream.run, daemon=True).start()

    def step(self, symbol: str) -> None:
        clock = self.trading.get_clock()
        if not clock.is_open:
            return
        bars = self.data.get_stock_bars(StockBarsRequest(
            symbol_or_symbols=symbol, timeframe=TimeFrame.Day,
            start=clock.timestamp - timedelta(days=14))).data.get(symbol, [])
        seen_at = self.trading.get_clock().timestamp
        if bars:
            self.bar_checks.append((bars[-1].timestamp, seen_at))
        if len(bars) < 5:
            return
        mean = sum(b.close for b in bars[-5:]) / 5
        held = {p.symbol: float(p.qty) for p in self.trading.get_all_positions()}
        if bars[-1].close > mean and held.get(symbol, 0.0) == 0.0:
            o = self.trading.submit_order(MarketOrderRequest(
                symbol=symbol, qty=5, side=OrderSide.BUY, time_in_force=TimeInForce.DAY))
            self.submitted.append(str(o.id))
        elif bars[-1].close < mean and held.get(symbol, 0.0) > 0.0:
            try:
                o = self.trading.close_position(symbol)
            except APIError as exc:  # already closing, or just closed
                self.refusals.append(exc.status_code)
                return
            self.submitted.append(str(o.id))


def test_unmodified_bot_when_replaying_history_then_its_view_matches_the_server(
    tmp_path: Path,
) -> None:
    days = 160  # 2 tickers x 160 days = 320 bars
    path = _dataset(tmp_path, days)
    port = _free_port()
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "catalyst"), "sim-server", "--port", str(port),
         "--data", str(path), "--speed", "max", "--tick", "0.03", "--key", KEY,
         "--secret", SECRET, "--rate-limit", "off"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    headers = {"APCA-API-KEY-ID": KEY, "APCA-API-SECRET-KEY": SECRET}
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            try:
                httpx.get(f"{base}/v2/clock", headers=headers, timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "sim-server did not start"
                time.sleep(0.2)
        bot = ExampleBot(base, f"ws://127.0.0.1:{port}/stream")
        last_bar = load_history(path)[-1].ts
        deadline = time.monotonic() + 240
        while bot.trading.get_clock().timestamp < last_bar:
            assert time.monotonic() < deadline, "replay did not finish"
            for symbol in ("AAPL", "MSFT"):
                bot.step(symbol)
        time.sleep(1.0)  # the last trade updates
        # the bot traded, and never saw a bar from the future
        assert len(bot.submitted) >= 6
        assert set(bot.refusals) <= {403, 404}  # closing twice is refused, never doubled
        assert all(bar_ts <= seen for bar_ts, seen in bot.bar_checks)
        # every order it placed is the server's, and every fill streamed to it is the server's
        orders = {o["id"]: o for o in httpx.get(f"{base}/_sim/orders", headers=headers,
                                                timeout=10).json()}
        assert set(bot.submitted) <= set(orders)
        fills = httpx.get(f"{base}/v2/account/activities/FILL", headers=headers,
                          params={"direction": "asc", "page_size": 100}, timeout=10).json()
        streamed = [(str(u.order.id), float(u.qty), float(u.price)) for u in bot.updates
                    if str(getattr(u.event, "value", u.event)) in ("fill", "partial_fill")]
        assert len(fills) <= 100  # one page holds them all
        assert sorted(streamed) == sorted((f["order_id"], float(f["qty"]), float(f["price"]))
                                          for f in fills)
        # positions equal the signed sum of the fills
        net: dict[str, float] = {}
        for f in fills:
            sign = 1.0 if f["side"] == "buy" else -1.0
            net[f["symbol"]] = net.get(f["symbol"], 0.0) + sign * float(f["qty"])
        positions = {p.symbol: float(p.qty) for p in bot.trading.get_all_positions()}
        assert positions == {s: q for s, q in net.items() if q}
        # each fill is at a price of the day: the last close before it or the open at it
        history = load_history(path)
        for f in fills:
            at = datetime.fromisoformat(f["transaction_time"].replace("Z", "+00:00"))
            px = float(f["price"])
            before = [b for b in history if b.ticker == f["symbol"] and b.ts < at]
            same = [b for b in history if b.ticker == f["symbol"] and b.ts == at]
            assert (before and px == before[-1].close) or (same and px == same[0].open), f
        print(f"bot: {len(bot.submitted)} orders, {len(fills)} fills, "
              f"{len(bot.bar_checks)} bar reads, {len(bot.refusals)} refused closes")
        bot.stream.stop()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_sim_server_cli_when_data_file_is_missing_then_exit_2(tmp_path: Path) -> None:
    r = subprocess.run(
        [str(Path(sys.executable).parent / "catalyst"), "sim-server", "--data",
         str(tmp_path / "nope.csv")], check=False, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "--data" in r.stderr
