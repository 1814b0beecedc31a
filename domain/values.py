"""Enumerations and validated conversions shared by the model.

Money is exact: prices, quantities and cash are :class:`decimal.Decimal`.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, TypeVar

from domain.errors import InvalidInput

ZERO = Decimal(0)
ONE = Decimal(1)
E = TypeVar("E", bound=StrEnum)
_TICKER = re.compile(r"^[A-Z][A-Z0-9.\-]{0,9}$")


class Side(StrEnum):
    """Side of an order or a fill."""

    BUY = "buy"
    SELL = "sell"

    @property
    def sign(self) -> int:
        """Return +1 for a buy and -1 for a sell."""
        return 1 if self is Side.BUY else -1

    @property
    def opposite(self) -> Side:
        """Return the other side."""
        return Side.SELL if self is Side.BUY else Side.BUY


class Action(StrEnum):
    """What a signal asks for."""

    BUY = "buy"
    SELL = "sell"
    HOLD = "hold"


class PositionSide(StrEnum):
    """Direction of a position."""

    LONG = "long"
    SHORT = "short"

    @property
    def sign(self) -> int:
        """Return +1 for long and -1 for short."""
        return 1 if self is PositionSide.LONG else -1

    @property
    def entry_side(self) -> Side:
        """Return the order side that opens or adds to the position."""
        return Side.BUY if self is PositionSide.LONG else Side.SELL

    @property
    def exit_side(self) -> Side:
        """Return the order side that reduces the position."""
        return Side.SELL if self is PositionSide.LONG else Side.BUY


class OrderType(StrEnum):
    """Order types the brokers support."""

    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"
    STOP_LIMIT = "stop_limit"
    TRAILING_STOP = "trailing_stop"


class OrderClass(StrEnum):
    """Simple order, or a bracket (entry with take-profit and stop-loss legs, OCO)."""

    SIMPLE = "simple"
    BRACKET = "bracket"
    OCO = "oco"
    OTO = "oto"


class TimeInForce(StrEnum):
    """How long an order stays working."""

    DAY = "day"
    GTC = "gtc"
    IOC = "ioc"
    FOK = "fok"
    OPG = "opg"
    CLS = "cls"


class ExitReason(StrEnum):
    """Why a position was closed."""

    STOP_LOSS = "stop_loss"
    TRAILING_STOP = "trailing_stop"
    TAKE_PROFIT = "take_profit"
    TIME_EXIT = "time_exit"
    SIGNAL = "signal"
    MANUAL = "manual"
    KILL_SWITCH = "kill_switch"
    RECONCILIATION = "reconciliation"
    END_OF_DATA = "end_of_data"


def to_decimal(value: Any, field: str, *, allow_none: bool = False) -> Decimal | None:
    """Convert ``value`` to a finite Decimal or raise :class:`InvalidInput` naming ``field``.

    Floats go through ``repr`` so that ``0.1`` becomes ``Decimal('0.1')``, not its binary
    expansion. Strings (as Alpaca sends them) and ints convert exactly.
    """
    if value is None:
        if allow_none:
            return None
        raise InvalidInput(field, value, "a finite number")
    if isinstance(value, bool):
        raise InvalidInput(field, value, "a finite number, not a boolean")
    try:
        if isinstance(value, Decimal):
            d = value
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise InvalidInput(field, value, "a finite number")
            d = Decimal(repr(value))
        elif isinstance(value, int | str):
            d = Decimal(value.strip() if isinstance(value, str) else value)
        else:
            d = Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise InvalidInput(field, value, "a finite number") from exc
    if not d.is_finite():
        raise InvalidInput(field, value, "a finite number")
    return d


def dec(value: Any, field: str) -> Decimal:
    """Return ``value`` as a finite Decimal (never None)."""
    d = to_decimal(value, field)
    assert d is not None
    return d


def positive(value: Any, field: str) -> Decimal:
    """Return ``value`` as a Decimal strictly greater than zero."""
    d = dec(value, field)
    if d <= 0:
        raise InvalidInput(field, value, "a number > 0")
    return d


def non_negative(value: Any, field: str) -> Decimal:
    """Return ``value`` as a Decimal greater than or equal to zero."""
    d = dec(value, field)
    if d < 0:
        raise InvalidInput(field, value, "a number >= 0")
    return d


def optional_positive(value: Any, field: str) -> Decimal | None:
    """Return None for None, else ``positive(value)``."""
    return None if value is None else positive(value, field)


def ticker(value: Any, field: str = "ticker") -> str:
    """Validate and normalise a ticker symbol (upper case, 1-10 chars)."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(field, value, "a non-empty ticker symbol such as 'AAPL'")
    t = value.strip().upper()
    if not _TICKER.match(t):
        raise InvalidInput(field, value, "1-10 characters: letters, digits, '.' or '-'")
    return t


def enum_value(enum: type[E], value: Any, field: str) -> E:
    """Convert ``value`` to member of ``enum`` or raise naming the allowed values."""
    if isinstance(value, enum):
        return value
    try:
        return enum(str(value).lower())
    except ValueError:
        allowed = ", ".join(m.value for m in enum)
        raise InvalidInput(field, value, f"one of: {allowed}") from None


def aware(value: Any, field: str) -> datetime:
    """Require a timezone-aware datetime (naive times make replay lie)."""
    if not isinstance(value, datetime):
        raise InvalidInput(field, value, "a datetime")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(field, value, "a timezone-aware datetime (UTC)")
    return value


def unit_interval(value: Any, field: str) -> float:
    """Return ``value`` as a float in [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise InvalidInput(field, value, "a number in [0, 1]")
    f = float(value)
    if not (0.0 <= f <= 1.0):  # also rejects NaN
        raise InvalidInput(field, value, "a number in [0, 1]")
    return f
