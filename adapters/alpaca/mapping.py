"""Domain <-> Alpaca JSON. Responses are read as raw JSON (``raw_data=True``), tolerantly.

alpaca-py's pydantic models raise ``ValidationError`` on any enum value they do not know,
even when the order was accepted; reading the raw JSON ourselves means an accepted order is
never mistaken for a failure. Unknown values map to the most cautious known value and are logged.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, TypeVar

import structlog
from alpaca.trading.enums import OrderClass as AOrderClass
from alpaca.trading.enums import OrderSide as ASide
from alpaca.trading.enums import TimeInForce as ATif
from alpaca.trading.requests import (
    LimitOrderRequest,
    MarketOrderRequest,
    OrderRequest,
    StopLimitOrderRequest,
    StopLossRequest,
    StopOrderRequest,
    TakeProfitRequest,
    TrailingStopOrderRequest,
)

from domain.account import Account, BrokerPosition
from domain.commands import SubmitOrder
from domain.events import OrderStatus
from domain.market import Bar, MarketClock
from domain.orders import OrderReport
from domain.values import ZERO, OrderClass, OrderType, Side, TimeInForce

log = structlog.get_logger(__name__)
E = TypeVar("E", bound=StrEnum)


def to_order_request(req: SubmitOrder) -> OrderRequest:
    """Return alpaca-py's request model for ``req`` (validation errors surface as ValueError)."""
    common: dict[str, Any] = {
        "symbol": req.ticker, "qty": float(req.quantity), "side": ASide(req.side.value),
        "time_in_force": ATif(req.time_in_force.value), "client_order_id": req.client_order_id,
        "extended_hours": req.extended_hours or None,
    }
    if req.order_class is not OrderClass.SIMPLE:
        common["order_class"] = AOrderClass(req.order_class.value)
        if req.take_profit_price is not None:
            common["take_profit"] = TakeProfitRequest(limit_price=float(req.take_profit_price))
        if req.stop_loss_price is not None:
            common["stop_loss"] = StopLossRequest(
                stop_price=float(req.stop_loss_price),
                limit_price=(float(req.stop_loss_limit_price)
                             if req.stop_loss_limit_price is not None else None))
    t = req.order_type
    if t is OrderType.MARKET:
        return MarketOrderRequest(**common)
    if t is OrderType.LIMIT:
        return LimitOrderRequest(limit_price=float(req.limit_price or 0), **common)
    if t is OrderType.STOP:
        return StopOrderRequest(stop_price=float(req.stop_price or 0), **common)
    if t is OrderType.STOP_LIMIT:
        return StopLimitOrderRequest(stop_price=float(req.stop_price or 0),
                                     limit_price=float(req.limit_price or 0), **common)
    return TrailingStopOrderRequest(
        trail_price=float(req.trail_price) if req.trail_price is not None else None,
        trail_percent=float(req.trail_percent) if req.trail_percent is not None else None,
        **common)


def dec(value: Any) -> Decimal | None:
    """Return a Decimal from Alpaca's string numbers (None for null/empty/garbage)."""
    if value is None or value == "":
        return None
    try:
        d = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return d if d.is_finite() else None


def ts(value: Any) -> datetime | None:
    """Return an aware datetime from an ISO string (Alpaca sends nanoseconds and 'Z')."""
    if not value:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    s = str(value).replace("Z", "+00:00")
    if "." in s:  # trim sub-microsecond digits: fromisoformat takes at most 6
        head, _, tail = s.partition(".")
        digits = "".join(ch for ch in tail if ch.isdigit())
        rest = tail[len(digits):]
        s = f"{head}.{digits[:6].ljust(6, '0')}{rest}"
    out = datetime.fromisoformat(s)
    return out if out.tzinfo else out.replace(tzinfo=UTC)


def _enum(cls: type[E], value: Any, fallback: E, field: str, cid: str | None) -> E:
    try:
        return cls(value)
    except ValueError:
        log.warning("alpaca.unknown_enum_value", field=field, value=str(value),
                    mapped_to=fallback.value, client_order_id=cid)
        return fallback


def parse_order(raw: dict[str, Any]) -> OrderReport:
    """Return the OrderReport of Alpaca's order JSON (unknown enum values tolerated)."""
    cid = str(raw.get("client_order_id") or "")
    qty = dec(raw.get("qty")) or ZERO
    filled = dec(raw.get("filled_qty")) or ZERO
    status = _enum(OrderStatus, raw.get("status"),
                   OrderStatus.PARTIALLY_FILLED if filled > 0 else OrderStatus.ACCEPTED,
                   "status", cid)
    oc = raw.get("order_class") or "simple"
    legs = tuple(parse_order(leg) for leg in (raw.get("legs") or []) if isinstance(leg, dict))
    avg = dec(raw.get("filled_avg_price"))
    return OrderReport(
        client_order_id=cid, broker_order_id=str(raw.get("id") or ""),
        ticker=str(raw.get("symbol") or ""),
        side=_enum(Side, raw.get("side"), Side.BUY, "side", cid),
        quantity=qty,
        order_type=_enum(OrderType, raw.get("type") or raw.get("order_type"), OrderType.MARKET,
                         "type", cid),
        status=status, filled_qty=filled, filled_avg_price=avg if filled > 0 else None,
        limit_price=dec(raw.get("limit_price")), stop_price=dec(raw.get("stop_price")),
        time_in_force=_enum(TimeInForce, raw.get("time_in_force"), TimeInForce.DAY,
                            "time_in_force", cid),
        order_class=_enum(OrderClass, oc, OrderClass.SIMPLE, "order_class", cid),
        created_at=ts(raw.get("created_at")), updated_at=ts(raw.get("updated_at")),
        reject_reason=None, legs=legs,
    )


def parse_account(raw: dict[str, Any]) -> Account:
    """Return the Account of Alpaca's account JSON."""
    return Account(
        cash=dec(raw.get("cash")) or ZERO, equity=dec(raw.get("equity")) or ZERO,
        buying_power=dec(raw.get("buying_power")) or ZERO,
        long_market_value=dec(raw.get("long_market_value")) or ZERO,
        short_market_value=dec(raw.get("short_market_value")) or ZERO,
        currency=str(raw.get("currency") or "USD"), status=str(raw.get("status") or "?"),
        trading_blocked=bool(raw.get("trading_blocked") or raw.get("account_blocked")),
        ts=None, account_id=str(raw.get("account_number") or raw.get("id") or ""),
    )


def parse_position(raw: dict[str, Any]) -> BrokerPosition:
    """Return the BrokerPosition of Alpaca's position JSON (signed quantity)."""
    qty = dec(raw.get("qty")) or ZERO
    if raw.get("side") == "short" and qty > 0:
        qty = -qty
    return BrokerPosition(
        ticker=str(raw.get("symbol")), quantity=qty,
        avg_entry_price=dec(raw.get("avg_entry_price")) or ZERO,
        current_price=dec(raw.get("current_price")), market_value=dec(raw.get("market_value")),
        unrealized_pnl=dec(raw.get("unrealized_pl")),
    )


def parse_clock(raw: dict[str, Any]) -> MarketClock:
    """Return the MarketClock of Alpaca's clock JSON."""
    now = ts(raw.get("timestamp")) or datetime.now(UTC)
    return MarketClock(timestamp=now, is_open=bool(raw.get("is_open")),
                       next_open=ts(raw.get("next_open")) or now,
                       next_close=ts(raw.get("next_close")) or now)


def parse_bar(ticker: str, raw: dict[str, Any]) -> Bar:
    """Return a Bar from Alpaca's bar JSON (``t o h l c v``)."""
    when = ts(raw.get("t"))
    assert when is not None
    return Bar(ticker=ticker, ts=when, open=float(raw["o"]), high=float(raw["h"]),
               low=float(raw["l"]), close=float(raw["c"]), volume=float(raw.get("v") or 0))
