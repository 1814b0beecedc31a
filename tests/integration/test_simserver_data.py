"""The sim-server's clock, calendar, assets and stock data as alpaca-py (and raw HTTP) read them.

The single-symbol paths (``/v2/stocks/{symbol}/...``) are the ones the older alpaca-trade-api
SDK calls; it is not installed here (it pins old msgpack/websockets/aiohttp), so those calls
are made over raw HTTP in the shape that SDK sends.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
from alpaca.common.exceptions import APIError
from alpaca.data.historical import StockHistoricalDataClient
from alpaca.data.requests import (
    StockBarsRequest,
    StockLatestBarRequest,
    StockLatestQuoteRequest,
    StockLatestTradeRequest,
    StockSnapshotRequest,
)
from alpaca.data.timeframe import TimeFrame, TimeFrameUnit
from alpaca.trading.client import TradingClient
from alpaca.trading.requests import GetCalendarRequest

import adapters.alpaca  # noqa: F401 - first: silences alpaca-py's websockets.legacy warning
from adapters.alpaca_server import AlpacaCompatServer
from adapters.alpaca_server.server import default_exchange

KEY, SECRET = "PKSIMDATA0000000000001", "sim-data-secret-0000000000000000000000001"
T0 = datetime(2024, 1, 3, 14, 30, tzinfo=UTC)  # a Wednesday, 09:30 New York


@pytest.fixture()
def server() -> Iterator[AlpacaCompatServer]:
    s = AlpacaCompatServer(default_exchange(start=T0), api_key=KEY, secret_key=SECRET)
    for i in range(30):  # 30 one-minute bars of AAPL: close 100 + i
        px = 100.0 + i
        s.bar("AAPL", px, px + 0.5, px - 0.5, px, 1000, ts=T0 + timedelta(minutes=i + 1))
    s.start()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture()
def http(server: AlpacaCompatServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=5, headers={
            "APCA-API-KEY-ID": KEY, "APCA-API-SECRET-KEY": SECRET}) as c:
        yield c


def _data(server: AlpacaCompatServer) -> StockHistoricalDataClient:
    return StockHistoricalDataClient(KEY, SECRET, url_override=server.base_url)


def _trading(server: AlpacaCompatServer) -> TradingClient:
    return TradingClient(KEY, SECRET, url_override=server.base_url)


# --- clock and calendar ------------------------------------------------------------------
def test_clock_when_always_open_then_next_close_is_the_real_session_close(
    server: AlpacaCompatServer,
) -> None:
    c = _trading(server).get_clock()
    assert c.is_open
    now = T0 + timedelta(minutes=30)
    assert c.timestamp == now
    assert c.next_close == datetime(2024, 1, 3, 21, 0, tzinfo=UTC)  # 16:00 New York
    assert c.next_open == datetime(2024, 1, 4, 14, 30, tzinfo=UTC)
    assert c.next_close > c.timestamp


def test_clock_when_calendar_is_xnys_on_a_saturday_then_closed_until_monday() -> None:
    sat = datetime(2024, 1, 6, 15, tzinfo=UTC)
    s = AlpacaCompatServer(default_exchange(calendar="XNYS", start=sat))
    s.start()
    try:
        c = _trading(s).get_clock()
        assert not c.is_open
        assert c.next_open == datetime(2024, 1, 8, 14, 30, tzinfo=UTC)
        assert c.next_close == datetime(2024, 1, 8, 21, 0, tzinfo=UTC)
    finally:
        s.stop()


def test_calendar_when_range_has_a_holiday_and_early_close_then_alpaca_rows(
    server: AlpacaCompatServer,
) -> None:
    days = _trading(server).get_calendar(GetCalendarRequest(start=date(2024, 7, 1),
                                                            end=date(2024, 7, 8)))
    assert [d.date for d in days] == [date(2024, 7, d) for d in (1, 2, 3, 5, 8)]
    early = {d.date: d.close.strftime("%H:%M") for d in days}
    assert early[date(2024, 7, 3)] == "13:00" and early[date(2024, 7, 5)] == "16:00"
    assert days[0].open == datetime(2024, 7, 1, 9, 30)


def test_calendar_when_end_before_start_then_400(http: httpx.Client) -> None:
    r = http.get("/v2/calendar", params={"start": "2024-07-08", "end": "2024-07-01"})
    assert r.status_code == 400 and "end" in r.json()["message"]


# --- assets ----------------------------------------------------------------------------------
def test_assets_when_symbol_known_then_listed_and_unknown_is_404(
    server: AlpacaCompatServer,
) -> None:
    c = _trading(server)
    assets = c.get_all_assets()
    assert [a.symbol for a in assets] == ["AAPL"]
    a = c.get_asset("AAPL")
    assert a.tradable and a.fractionable and c.get_asset(str(a.id)).symbol == "AAPL"
    with pytest.raises(APIError) as exc:
        c.get_asset("NOPE")
    assert exc.value.status_code == 404


# --- stock data through alpaca-py ---------------------------------------------------------------
def test_bars_when_timeframe_is_5min_then_minute_bars_are_aggregated(
    server: AlpacaCompatServer,
) -> None:
    got = _data(server).get_stock_bars(StockBarsRequest(
        symbol_or_symbols="AAPL", timeframe=TimeFrame(5, TimeFrameUnit.Minute),
        start=T0, end=T0 + timedelta(hours=1)))
    bars = got.data["AAPL"]
    # minute bars end at 14:31..15:00: buckets 14:30-14:35 holds 4, then 5 each, then 1
    assert [len(bars)] == [7]
    first = bars[0]
    assert (first.open, first.high, first.low, first.close, first.volume) == \
        (100.0, 103.5, 99.5, 103.0, 4000)


def test_bars_when_limit_is_small_then_pages_follow_next_page_token(
    server: AlpacaCompatServer,
) -> None:
    got = _data(server).get_stock_bars(StockBarsRequest(
        symbol_or_symbols=["AAPL"], timeframe=TimeFrame.Minute, start=T0, limit=25))
    assert len(got.data["AAPL"]) == 25
    assert [b.close for b in got.data["AAPL"]][:3] == [100.0, 101.0, 102.0]


def test_bars_when_start_is_after_now_then_nothing_from_the_future(
    http: httpx.Client,
) -> None:
    r = http.get("/v2/stocks/bars", params={"symbols": "AAPL", "timeframe": "1Min",
                                             "start": "2030-01-01T00:00:00Z"})
    assert r.status_code == 200 and r.json()["bars"] == {}


def test_latest_trade_quote_bar_and_snapshot_when_asked_then_last_close(
    server: AlpacaCompatServer,
) -> None:
    d = _data(server)
    trade = d.get_stock_latest_trade(StockLatestTradeRequest(symbol_or_symbols="AAPL"))
    quote = d.get_stock_latest_quote(StockLatestQuoteRequest(symbol_or_symbols="AAPL"))
    bar = d.get_stock_latest_bar(StockLatestBarRequest(symbol_or_symbols="AAPL"))
    snap = d.get_stock_snapshot(StockSnapshotRequest(symbol_or_symbols="AAPL"))
    assert trade["AAPL"].price == 129.0
    assert quote["AAPL"].bid_price == quote["AAPL"].ask_price == 129.0
    assert bar["AAPL"].close == 129.0
    assert snap["AAPL"].latest_trade.price == 129.0
    assert snap["AAPL"].daily_bar.open == 100.0 and snap["AAPL"].daily_bar.close == 129.0


# --- single-symbol paths (alpaca-trade-api's shape) ------------------------------------------------
def test_single_symbol_endpoints_when_known_then_alpaca_trade_api_shapes(
    http: httpx.Client,
) -> None:
    r = http.get("/v2/stocks/AAPL/trades/latest")
    assert r.status_code == 200 and r.json()["symbol"] == "AAPL" and \
        r.json()["trade"]["p"] == 129.0
    assert http.get("/v2/stocks/AAPL/quotes/latest").json()["quote"]["ap"] == 129.0
    assert http.get("/v2/stocks/AAPL/bars/latest").json()["bar"]["c"] == 129.0
    page = http.get("/v2/stocks/AAPL/bars", params={"timeframe": "1Min", "limit": 10}).json()
    assert len(page["bars"]) == 10 and page["next_page_token"]
    rest = http.get("/v2/stocks/AAPL/bars", params={
        "timeframe": "1Min", "limit": 100, "page_token": page["next_page_token"]}).json()
    assert len(rest["bars"]) == 20 and rest["next_page_token"] is None
    assert http.get("/v2/stocks/AAPL/snapshot").json()["latestTrade"]["p"] == 129.0
    trades = http.get("/v2/stocks/AAPL/trades", params={"limit": 5}).json()
    assert [t["p"] for t in trades["trades"]] == [100.0, 101.0, 102.0, 103.0, 104.0]


def test_single_symbol_endpoints_when_unknown_then_404_json(http: httpx.Client) -> None:
    r = http.get("/v2/stocks/NOPE/trades/latest")
    assert r.status_code == 404 and r.json()["code"] == 40410000


@pytest.mark.parametrize(("params", "field"), [
    ({"symbols": "AAPL", "timeframe": "7Fortnights"}, "timeframe"),
    ({"symbols": "AAPL", "limit": "abc"}, "limit"),
    ({"symbols": "AAPL", "start": "yesterday"}, "start"),
    ({"symbols": "AAPL", "sort": "sideways"}, "sort"),
    ({"timeframe": "1Min"}, "symbols"),
])
def test_bars_when_a_parameter_is_bad_then_400_naming_it(
    http: httpx.Client, params: dict[str, str], field: str,
) -> None:
    r = http.get("/v2/stocks/bars", params=params)
    assert r.status_code == 400, r.text
    assert field in r.json()["message"] and r.json()["code"] == 40010000
