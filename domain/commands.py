"""Commands: requests to the outside world, frozen and validated on construction."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import attrs

from domain.errors import InvalidInput
from domain.ids import MAX_CLIENT_ORDER_ID
from domain.values import (
    OrderClass,
    OrderType,
    Side,
    TimeInForce,
    enum_value,
    optional_positive,
    positive,
    ticker,
)


def _client_order_id(value: object) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_CLIENT_ORDER_ID:
        raise InvalidInput(
            "client_order_id", value, f"a non-empty string of at most {MAX_CLIENT_ORDER_ID} chars"
        )
    return value


def _trail_percent(value: object) -> Decimal | None:
    d = optional_positive(value, "trail_percent")
    if d is not None and d >= 100:
        raise InvalidInput("trail_percent", value, "a percentage in (0, 100)")
    return d



def _quantity(v: Any) -> Decimal:
    return positive(v, "quantity")


def _limit_price(v: Any) -> Decimal | None:
    return optional_positive(v, "limit_price")


def _stop_price(v: Any) -> Decimal | None:
    return optional_positive(v, "stop_price")


def _trail_price(v: Any) -> Decimal | None:
    return optional_positive(v, "trail_price")


def _take_profit_price(v: Any) -> Decimal | None:
    return optional_positive(v, "take_profit_price")


def _stop_loss_price(v: Any) -> Decimal | None:
    return optional_positive(v, "stop_loss_price")


def _stop_loss_limit_price(v: Any) -> Decimal | None:
    return optional_positive(v, "stop_loss_limit_price")


def _side(v: Any) -> Side:
    return enum_value(Side, v, "side")


def _order_type(v: Any) -> OrderType:
    return enum_value(OrderType, v, "order_type")


def _time_in_force(v: Any) -> TimeInForce:
    return enum_value(TimeInForce, v, "time_in_force")


def _order_class(v: Any) -> OrderClass:
    return enum_value(OrderClass, v, "order_class")


@attrs.frozen
class SubmitOrder:
    """Everything a broker needs to place one order (and its bracket legs).

    Validation covers the combinations: a limit order needs ``limit_price``, a stop needs
    ``stop_price``, a trailing stop needs exactly one of ``trail_price`` / ``trail_percent``,
    a bracket needs both legs on the correct side of the entry.
    """

    client_order_id: str = attrs.field(converter=_client_order_id)
    ticker: str = attrs.field(converter=ticker)
    side: Side = attrs.field(converter=_side)
    quantity: Decimal = attrs.field(converter=_quantity)
    order_type: OrderType = attrs.field(
        default=OrderType.MARKET, converter=_order_type
    )
    time_in_force: TimeInForce = attrs.field(
        default=TimeInForce.DAY, converter=_time_in_force
    )
    limit_price: Decimal | None = attrs.field(
        default=None, converter=_limit_price
    )
    stop_price: Decimal | None = attrs.field(
        default=None, converter=_stop_price
    )
    trail_price: Decimal | None = attrs.field(
        default=None, converter=_trail_price
    )
    trail_percent: Decimal | None = attrs.field(default=None, converter=_trail_percent)
    order_class: OrderClass = attrs.field(
        default=OrderClass.SIMPLE, converter=_order_class
    )
    take_profit_price: Decimal | None = attrs.field(
        default=None, converter=_take_profit_price
    )
    stop_loss_price: Decimal | None = attrs.field(
        default=None, converter=_stop_loss_price
    )
    stop_loss_limit_price: Decimal | None = attrs.field(
        default=None, converter=_stop_loss_limit_price
    )
    extended_hours: bool = False
    signal_id: str | None = None
    strategy: str | None = None
    position_id: str | None = None
    reduce_only: bool = False

    def __attrs_post_init__(self) -> None:
        t = self.order_type
        if t in (OrderType.LIMIT, OrderType.STOP_LIMIT) and self.limit_price is None:
            raise InvalidInput("limit_price", None, f"a price for a {t} order")
        if t in (OrderType.STOP, OrderType.STOP_LIMIT) and self.stop_price is None:
            raise InvalidInput("stop_price", None, f"a price for a {t} order")
        if t is OrderType.MARKET and (self.limit_price or self.stop_price):
            raise InvalidInput("limit_price/stop_price", self.limit_price or self.stop_price,
                               "no price on a market order")
        if t is OrderType.TRAILING_STOP:
            if (self.trail_price is None) == (self.trail_percent is None):
                raise InvalidInput(
                    "trail_price/trail_percent",
                    (self.trail_price, self.trail_percent),
                    "exactly one of trail_price or trail_percent",
                )
        elif self.trail_price is not None or self.trail_percent is not None:
            raise InvalidInput("trail_price", self.trail_price or self.trail_percent,
                               "a trail only on a trailing_stop order")
        if self.extended_hours and (
            t is not OrderType.LIMIT or self.time_in_force is not TimeInForce.DAY
        ):
            raise InvalidInput("extended_hours", True, "only on a day limit order")
        if self.order_class is OrderClass.BRACKET:
            self._check_bracket()

    def _check_bracket(self) -> None:
        if self.take_profit_price is None:
            raise InvalidInput("take_profit_price", None, "a price for a bracket order")
        if self.stop_loss_price is None:
            raise InvalidInput("stop_loss_price", None, "a price for a bracket order")
        if self.order_type not in (OrderType.MARKET, OrderType.LIMIT):
            raise InvalidInput("order_type", self.order_type, "market or limit for a bracket entry")
        tp, sl = self.take_profit_price, self.stop_loss_price
        if self.side is Side.BUY and not tp > sl:
            raise InvalidInput(
                "take_profit_price", tp, f"above stop_loss_price {sl} for a buy bracket"
            )
        if self.side is Side.SELL and not tp < sl:
            raise InvalidInput(
                "take_profit_price", tp, f"below stop_loss_price {sl} for a sell bracket"
            )
        ref = self.limit_price
        if ref is not None:
            lo, hi = (sl, tp) if self.side is Side.BUY else (tp, sl)
            if not lo < ref < hi:
                raise InvalidInput(
                    "limit_price", ref, f"between the legs ({lo}, {hi}) of the bracket"
                )


@attrs.frozen
class CancelOrder:
    """Ask the broker to cancel a working order."""

    client_order_id: str = attrs.field(converter=_client_order_id)
    reason: str = "requested"
