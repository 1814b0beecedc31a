"""The sim-server's trading API as an unmodified alpaca-py bot uses it (TradingClient over HTTP).

Each test starts the server on loopback, drives it only through alpaca-py (or raw HTTP where
alpaca-py has no call) and moves the market with pushed bars.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderClass, OrderSide, OrderStatus, QueryOrderStatus, TimeInForce
from alpaca.trading.requests import (
    ClosePositionRequest,
    GetOrdersRequest,
    GetPortfolioHistoryRequest,
    LimitOrderRequest,
    MarketOrderRequest,
    ReplaceOrderRequest,
    StopLossRequest,
    TakeProfitRequest,
    TrailingStopOrderRequest,
)

import adapters.alpaca  # noqa: F401 - first: silences alpaca-py's websockets.legacy warning
from adapters.alpaca_server import AlpacaCompatServer

KEY, SECRET = "PKSIMTRADE000000000001", "sim-trade-secret-000000000000000000000001"
T0 = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)


class Market:
    """A started server plus a clock for the bars pushed into it."""

    def __init__(self) -> None:
        self.server = AlpacaCompatServer(api_key=KEY, secret_key=SECRET)
        self.server.start()
        self.client = TradingClient(KEY, SECRET, url_override=self.server.base_url)
        self.ts = T0
        self.http = httpx.Client(base_url=self.server.base_url, timeout=5,
                                 headers={"APCA-API-KEY-ID": KEY,
                                          "APCA-API-SECRET-KEY": SECRET})

    def bar(self, symbol: str, o: float, h: float, lo: float, c: float) -> datetime:
        self.ts += timedelta(minutes=1)
        self.server.bar(symbol, o, h, lo, c, 1_000_000, ts=self.ts)
        return self.ts

    def close(self) -> None:
        self.http.close()
        self.server.stop()


@pytest.fixture()
def m() -> Iterator[Market]:
    market = Market()
    market.bar("AAPL", 100, 100, 100, 100)
    market.bar("MSFT", 400, 400, 400, 400)
    try:
        yield market
    finally:
        market.close()


def _buy(m: Market, symbol: str, qty: float) -> None:
    m.client.submit_order(MarketOrderRequest(symbol=symbol, qty=qty, side=OrderSide.BUY,
                                             time_in_force=TimeInForce.DAY))
    m.bar(symbol, 100, 100, 100, 100) if symbol == "AAPL" else m.bar(symbol, 400, 400, 400, 400)


def _qty(m: Market, symbol: str) -> Decimal:
    for p in m.client.get_all_positions():
        if p.symbol == symbol:
            return Decimal(p.qty)
    return Decimal(0)


# --- positions: partial closes ------------------------------------------------------------
def test_close_position_when_qty_given_then_only_that_many_shares_are_sold(m: Market) -> None:
    _buy(m, "AAPL", 10)
    order = m.client.close_position("AAPL", ClosePositionRequest(qty="2"))
    assert order.qty == "2" and order.side is OrderSide.SELL
    m.bar("AAPL", 100, 100, 100, 100)
    assert _qty(m, "AAPL") == 8


def test_close_position_when_percentage_given_then_that_share_is_sold(m: Market) -> None:
    _buy(m, "AAPL", 10)
    order = m.client.close_position("AAPL", ClosePositionRequest(percentage="25"))
    assert Decimal(order.qty) == Decimal("2.5")
    m.bar("AAPL", 100, 100, 100, 100)
    assert _qty(m, "AAPL") == Decimal("7.5")


def test_close_position_when_qty_exceeds_holding_then_403_and_nothing_sold(m: Market) -> None:
    _buy(m, "AAPL", 3)
    with pytest.raises(APIError) as exc:
        m.client.close_position("AAPL", ClosePositionRequest(qty="5"))
    assert exc.value.status_code == 403 and "insufficient qty" in str(exc.value)
    m.bar("AAPL", 100, 100, 100, 100)
    assert _qty(m, "AAPL") == 3


def test_close_position_when_no_args_then_whole_position_and_by_asset_id(m: Market) -> None:
    _buy(m, "MSFT", 4)
    asset_id = m.client.get_open_position("MSFT").asset_id
    m.client.close_position(str(asset_id))
    m.bar("MSFT", 400, 400, 400, 400)
    assert _qty(m, "MSFT") == 0


# --- OCO / OTO -----------------------------------------------------------------------------
def test_oco_when_stop_trades_then_stop_fills_and_take_profit_is_canceled(m: Market) -> None:
    _buy(m, "AAPL", 10)
    oco = m.client.submit_order(LimitOrderRequest(
        symbol="AAPL", qty=10, side=OrderSide.SELL, time_in_force=TimeInForce.GTC,
        order_class=OrderClass.OCO, take_profit=TakeProfitRequest(limit_price=110),
        stop_loss=StopLossRequest(stop_price=95)))
    assert oco.order_class is OrderClass.OCO and oco.legs and len(oco.legs) == 1
    assert oco.legs[0].stop_price == "95"
    m.bar("AAPL", 100, 101, 99, 100)  # neither leg
    assert _qty(m, "AAPL") == 10
    m.bar("AAPL", 96, 97, 94, 95)  # the stop
    got = m.client.get_order_by_id(oco.id)
    assert got.status is OrderStatus.CANCELED
    assert got.legs is not None and got.legs[0].status is OrderStatus.FILLED
    assert _qty(m, "AAPL") == 0
    m.bar("AAPL", 111, 112, 110, 111)  # the target would have traded: nothing happens
    assert _qty(m, "AAPL") == 0


def test_oco_when_target_trades_then_stop_is_canceled(m: Market) -> None:
    _buy(m, "AAPL", 10)
    oco = m.client.submit_order(LimitOrderRequest(
        symbol="AAPL", qty=10, side=OrderSide.SELL, time_in_force=TimeInForce.GTC,
        order_class=OrderClass.OCO, take_profit=TakeProfitRequest(limit_price=105),
        stop_loss=StopLossRequest(stop_price=95)))
    m.bar("AAPL", 104, 106, 103, 105)
    got = m.client.get_order_by_id(oco.id)
    assert got.status is OrderStatus.FILLED and got.filled_avg_price == "105"
    assert got.legs is not None and got.legs[0].status is OrderStatus.CANCELED
    m.bar("AAPL", 90, 91, 89, 90)  # stop level crossed later: no second sale
    assert _qty(m, "AAPL") == 0


def test_oco_when_one_bar_reaches_both_then_only_the_stop_trades(m: Market) -> None:
    _buy(m, "AAPL", 10)
    m.client.submit_order(LimitOrderRequest(
        symbol="AAPL", qty=10, side=OrderSide.SELL, time_in_force=TimeInForce.GTC,
        order_class=OrderClass.OCO, take_profit=TakeProfitRequest(limit_price=105),
        stop_loss=StopLossRequest(stop_price=95)))
    m.bar("AAPL", 100, 106, 94, 100)
    assert _qty(m, "AAPL") == 0  # sold once, not twice (no short)
    fills = [a for a in m.http.get("/v2/account/activities/FILL").json() if a["side"] == "sell"]
    assert len(fills) == 1 and Decimal(fills[0]["price"]) <= 95


def test_oto_when_entry_fills_then_held_stop_leg_starts_working(m: Market) -> None:
    oto = m.client.submit_order(MarketOrderRequest(
        symbol="AAPL", qty=5, side=OrderSide.BUY, time_in_force=TimeInForce.DAY,
        order_class=OrderClass.OTO, stop_loss=StopLossRequest(stop_price=90)))
    assert oto.legs is not None and oto.legs[0].status is OrderStatus.HELD
    assert oto.legs[0].side is OrderSide.SELL
    m.bar("AAPL", 100, 100, 100, 100)
    got = m.client.get_order_by_id(oto.id)
    assert got.status is OrderStatus.FILLED
    assert got.legs is not None and got.legs[0].status is OrderStatus.NEW
    assert _qty(m, "AAPL") == 5
    m.bar("AAPL", 91, 92, 88, 89)
    leg = m.client.get_order_by_id(m.client.get_order_by_id(oto.id).legs[0].id)  # type: ignore[index]
    assert leg.status is OrderStatus.FILLED and _qty(m, "AAPL") == 0


def test_oto_when_entry_canceled_unfilled_then_leg_is_canceled(m: Market) -> None:
    oto = m.client.submit_order(LimitOrderRequest(
        symbol="AAPL", qty=5, side=OrderSide.BUY, time_in_force=TimeInForce.GTC,
        limit_price=80, order_class=OrderClass.OTO,
        take_profit=TakeProfitRequest(limit_price=120)))
    m.client.cancel_order_by_id(oto.id)
    got = m.client.get_order_by_id(oto.id)
    assert got.status is OrderStatus.CANCELED
    assert got.legs is not None and got.legs[0].status is OrderStatus.CANCELED
    m.bar("AAPL", 79, 80, 78, 79)
    assert _qty(m, "AAPL") == 0


def test_bracket_through_sdk_when_target_hits_then_stop_canceled(m: Market) -> None:
    br = m.client.submit_order(MarketOrderRequest(
        symbol="AAPL", qty=4, side=OrderSide.BUY, time_in_force=TimeInForce.GTC,
        order_class=OrderClass.BRACKET, take_profit=TakeProfitRequest(limit_price=104),
        stop_loss=StopLossRequest(stop_price=96)))
    m.bar("AAPL", 100, 100, 100, 100)
    m.bar("AAPL", 103, 105, 102, 104)
    got = m.client.get_order_by_id(br.id)
    assert got.legs is not None
    assert sorted(leg.status.value for leg in got.legs) == ["canceled", "filled"]
    assert _qty(m, "AAPL") == 0


# --- order filters ---------------------------------------------------------------------------
def test_get_orders_when_filtered_then_after_until_side_symbols_direction_apply(
    m: Market,
) -> None:
    ids = []
    times = []
    for sym, side in (("AAPL", OrderSide.BUY), ("MSFT", OrderSide.BUY),
                      ("AAPL", OrderSide.SELL)):
        o = m.client.submit_order(LimitOrderRequest(
            symbol=sym, qty=1, side=side, time_in_force=TimeInForce.GTC,
            limit_price=50 if side is OrderSide.BUY else 500))
        ids.append(o.id)
        times.append(o.submitted_at)
        m.bar("AAPL", 100, 100, 100, 100)
    c = m.client

    def got(**kw: object) -> list[object]:
        return [o.id for o in c.get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL,
                                                            **kw))]  # type: ignore[arg-type]

    assert got() == ids[::-1]  # newest first by default
    assert got(direction="asc") == ids
    assert got(after=times[0]) == [ids[2], ids[1]]
    assert got(until=times[1]) == [ids[1], ids[0]]
    assert got(side=OrderSide.SELL) == [ids[2]]
    assert got(symbols=["MSFT"]) == [ids[1]]
    assert got(limit=1) == [ids[2]]
    c.cancel_order_by_id(ids[1])
    assert [o.id for o in c.get_orders(GetOrdersRequest(status=QueryOrderStatus.CLOSED))] == \
        [ids[1]]


def test_get_orders_when_nested_false_then_legs_are_listed_flat(m: Market) -> None:
    m.client.submit_order(LimitOrderRequest(
        symbol="AAPL", qty=2, side=OrderSide.BUY, time_in_force=TimeInForce.GTC,
        limit_price=90, order_class=OrderClass.BRACKET,
        take_profit=TakeProfitRequest(limit_price=110), stop_loss=StopLossRequest(stop_price=80)))
    nested = m.client.get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL, nested=True))
    flat = m.client.get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL, nested=False))
    assert len(nested) == 1 and nested[0].legs is not None and len(nested[0].legs) == 2
    assert len(flat) == 3 and all(o.legs is None for o in flat)


# --- trailing stops ---------------------------------------------------------------------------
def test_trailing_stop_when_price_rises_then_hwm_and_stop_price_follow(m: Market) -> None:
    _buy(m, "AAPL", 5)
    o = m.client.submit_order(TrailingStopOrderRequest(
        symbol="AAPL", qty=5, side=OrderSide.SELL, time_in_force=TimeInForce.GTC,
        trail_percent=5))
    assert o.trail_percent == "5" and o.trail_price is None
    assert o.hwm == "100" and o.stop_price == "95"
    m.bar("AAPL", 101, 110, 100, 109)
    got = m.client.get_order_by_id(o.id)
    assert got.hwm == "110" and got.stop_price == "104.5"
    p = m.client.submit_order(TrailingStopOrderRequest(
        symbol="AAPL", qty=1, side=OrderSide.SELL, time_in_force=TimeInForce.GTC,
        trail_price=2))
    assert p.trail_price == "2" and p.trail_percent is None and p.stop_price == "107"


# --- replace ------------------------------------------------------------------------------------
def test_replace_when_limit_changed_then_old_is_replaced_and_new_works(m: Market) -> None:
    old = m.client.submit_order(LimitOrderRequest(
        symbol="AAPL", qty=3, side=OrderSide.BUY, time_in_force=TimeInForce.GTC,
        limit_price=90))
    new = m.client.replace_order_by_id(old.id, ReplaceOrderRequest(qty=4, limit_price=99))
    assert new.id != old.id and new.replaces == old.id and new.qty == "4"
    assert new.limit_price == "99"
    was = m.client.get_order_by_id(old.id)
    assert was.status is OrderStatus.REPLACED and was.replaced_by == new.id
    m.bar("AAPL", 99.5, 100, 98, 99)
    assert m.client.get_order_by_id(new.id).status is OrderStatus.FILLED
    assert _qty(m, "AAPL") == 4


def test_replace_when_order_filled_then_422(m: Market) -> None:
    o = m.client.submit_order(MarketOrderRequest(symbol="AAPL", qty=1, side=OrderSide.BUY,
                                                 time_in_force=TimeInForce.DAY))
    m.bar("AAPL", 100, 100, 100, 100)
    with pytest.raises(APIError) as exc:
        m.client.replace_order_by_id(o.id, ReplaceOrderRequest(qty=2))
    assert exc.value.status_code == 422


# --- notional and fractional ----------------------------------------------------------------------
def test_notional_order_when_filled_then_quantity_is_amount_over_price(m: Market) -> None:
    o = m.client.submit_order(MarketOrderRequest(symbol="AAPL", notional=250,
                                                 side=OrderSide.BUY,
                                                 time_in_force=TimeInForce.DAY))
    assert o.notional == "250" and o.qty is None
    m.bar("AAPL", 100, 100, 100, 100)
    got = m.client.get_order_by_id(o.id)
    assert got.status is OrderStatus.FILLED and Decimal(got.filled_qty) == Decimal("2.5")
    assert _qty(m, "AAPL") == Decimal("2.5")


def test_fractional_order_when_gtc_then_422_and_day_fills(m: Market) -> None:
    with pytest.raises(APIError) as exc:
        m.client.submit_order(MarketOrderRequest(symbol="AAPL", qty=0.5, side=OrderSide.BUY,
                                                 time_in_force=TimeInForce.GTC))
    assert exc.value.status_code == 422 and "fractional" in str(exc.value)
    m.client.submit_order(MarketOrderRequest(symbol="AAPL", qty=0.5, side=OrderSide.BUY,
                                             time_in_force=TimeInForce.DAY))
    m.bar("AAPL", 100, 100, 100, 100)
    assert _qty(m, "AAPL") == Decimal("0.5")


# --- account extras ---------------------------------------------------------------------------------
def test_activities_and_portfolio_history_when_trading_then_they_record_it(m: Market) -> None:
    _buy(m, "AAPL", 10)
    m.bar("AAPL", 110, 110, 110, 110)
    acts = m.http.get("/v2/account/activities", params={"activity_types": "FILL"}).json()
    assert [(a["symbol"], a["side"], a["qty"], a["price"]) for a in acts] == \
        [("AAPL", "buy", "10", "100")]
    assert m.http.get("/v2/account/activities/DIV").json() == []
    hist = m.client.get_portfolio_history(GetPortfolioHistoryRequest(timeframe="1Min"))
    assert hist.equity[0] == 100_000 and hist.equity[-1] == pytest.approx(100_100)
    assert hist.base_value == 100_000 and hist.profit_loss[-1] == pytest.approx(100)
    daily = m.client.get_portfolio_history(GetPortfolioHistoryRequest(timeframe="1D"))
    assert daily.equity == [pytest.approx(100_100)]  # one day: its last equity


def test_account_configurations_and_watchlists_when_changed_then_kept(m: Market) -> None:
    from alpaca.trading.requests import CreateWatchlistRequest  # noqa: PLC0415

    cfg = m.client.get_account_configurations()
    cfg.suspend_trade = True
    assert m.client.set_account_configurations(cfg).suspend_trade is True
    wl = m.client.create_watchlist(CreateWatchlistRequest(name="tech", symbols=["AAPL"]))
    m.client.add_asset_to_watchlist_by_id(wl.id, "MSFT")
    got = m.client.get_watchlist_by_id(wl.id)
    assert [a.symbol for a in got.assets or []] == ["AAPL", "MSFT"]
    m.client.delete_watchlist_by_id(wl.id)
    assert m.client.get_watchlists() == []


def test_oco_when_parent_canceled_then_the_stop_leg_is_canceled_too(m: Market) -> None:
    _buy(m, "AAPL", 10)
    oco = m.client.submit_order(LimitOrderRequest(
        symbol="AAPL", qty=10, side=OrderSide.SELL, time_in_force=TimeInForce.GTC,
        order_class=OrderClass.OCO, take_profit=TakeProfitRequest(limit_price=110),
        stop_loss=StopLossRequest(stop_price=90)))
    assert m.client.get_open_position("AAPL").qty_available == "0"
    m.client.cancel_order_by_id(oco.id)
    got = m.client.get_order_by_id(oco.id)
    assert got.legs is not None and got.legs[0].status is OrderStatus.CANCELED
    assert m.client.get_open_position("AAPL").qty_available == "10"
    m.bar("AAPL", 89, 90, 85, 86)
    assert _qty(m, "AAPL") == 10


def test_replace_when_new_qty_is_fractional_on_a_gtc_order_then_422_and_original_kept(
    m: Market,
) -> None:
    old = m.client.submit_order(LimitOrderRequest(
        symbol="AAPL", qty=3, side=OrderSide.BUY, time_in_force=TimeInForce.GTC,
        limit_price=90))
    r = m.http.patch(f"/v2/orders/{old.id}", json={"qty": "1.5"})
    assert r.status_code == 422 and "fractional" in r.json()["message"]
    assert m.client.get_order_by_id(old.id).status is OrderStatus.NEW
