"""What the policy looks at: the order intent, the market view and the holdings."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from domain.account import BrokerPosition
from domain.commands import SubmitOrder
from domain.errors import InvalidInput
from domain.orders import Order
from domain.position import Position
from domain.values import (
    ZERO,
    Side,
    aware,
    enum_value,
    optional_positive,
    positive,
    ticker,
)

FloatArray = npt.NDArray[np.float64]


class Purpose(StrEnum):
    """Why an order is placed; only exits can be risk-reducing."""

    ENTRY = "entry"  # opens or adds to a position
    EXIT = "exit"  # a signal or strategy exit
    PROTECTIVE = "protective"  # stop-loss, trailing stop, take-profit, kill-switch flatten


def _side(v: Any) -> Side:
    return enum_value(Side, v, "side")


def _purpose(v: Any) -> Purpose:
    return enum_value(Purpose, v, "purpose")


def _qty(v: Any) -> Decimal:
    return positive(v, "quantity")


def _price(v: Any) -> Decimal:
    return positive(v, "price")


def _stop(v: Any) -> Decimal | None:
    return optional_positive(v, "stop_loss")


def _pending_price(v: Any) -> Decimal | None:
    return optional_positive(v, "price")


def _tp(v: Any) -> Decimal | None:
    return optional_positive(v, "take_profit")


@attrs.frozen(kw_only=True)
class OrderIntent:
    """An order the executor is about to submit, as the risk policy sees it.

    ``price`` is the expected entry price (the limit price, or the current price for a market
    order); ``stop_loss`` is the protective stop planned with it.
    """

    ticker: str = attrs.field(converter=ticker)
    side: Side = attrs.field(converter=_side)
    quantity: Decimal = attrs.field(converter=_qty)
    price: Decimal = attrs.field(converter=_price)
    stop_loss: Decimal | None = attrs.field(default=None, converter=_stop)
    take_profit: Decimal | None = attrs.field(default=None, converter=_tp)
    purpose: Purpose = attrs.field(default=Purpose.ENTRY, converter=_purpose)
    strategy: str | None = None
    client_order_id: str | None = None
    signal_id: str | None = None

    @property
    def notional(self) -> Decimal:
        """Return quantity times price."""
        return self.quantity * self.price

    @classmethod
    def from_order(
        cls, order: SubmitOrder, price: Decimal, purpose: Purpose | str | None = None,
        stop_loss: Decimal | None = None,
    ) -> OrderIntent:
        """Return the intent of ``order`` priced at its limit (else at ``price``).

        The stop is the bracket's stop-loss leg unless ``stop_loss`` is given. Without an
        explicit purpose, a ``reduce_only`` order is an exit and anything else an entry.
        """
        p = purpose if purpose is not None else (
            Purpose.EXIT if order.reduce_only else Purpose.ENTRY
        )
        return cls(
            ticker=order.ticker, side=order.side, quantity=order.quantity,
            price=order.limit_price or price,
            stop_loss=stop_loss if stop_loss is not None else order.stop_loss_price,
            take_profit=order.take_profit_price, purpose=p, strategy=order.strategy,
            client_order_id=order.client_order_id, signal_id=order.signal_id,
        )


@attrs.frozen(kw_only=True)
class Quote:
    """The latest price of a ticker, when it was seen, and the day's range so far."""

    price: Decimal = attrs.field(converter=_price)
    ts: datetime | None = None
    day_low: Decimal | None = None
    day_high: Decimal | None = None

    def __attrs_post_init__(self) -> None:
        if self.ts is not None:
            aware(self.ts, "ts")
        lo, hi = self.day_low, self.day_high
        if lo is not None and hi is not None and lo > hi:
            raise InvalidInput("day_low", lo, f"at most day_high {hi}")


def _quotes(v: Mapping[str, Quote] | None) -> Mapping[str, Quote]:
    return MappingProxyType(dict(v or {}))


def _returns(v: Mapping[str, Iterable[float]] | None) -> Mapping[str, FloatArray]:
    out: dict[str, FloatArray] = {}
    for k, series in (v or {}).items():
        arr = np.asarray(series, dtype=np.float64)
        arr.setflags(write=False)
        out[k] = arr
    return MappingProxyType(out)


def _now(v: Any) -> datetime:
    return aware(v, "now")


@attrs.frozen(kw_only=True)
class MarketView:
    """Prices and trailing daily returns known at ``now`` (passed in: the domain has no clock).

    ``returns`` maps a ticker to its trailing daily returns, oldest first, aligned on the same
    dates for every ticker (the last element is the most recent day).
    """

    now: datetime = attrs.field(converter=_now)
    quotes: Mapping[str, Quote] = attrs.field(factory=dict, converter=_quotes)
    returns: Mapping[str, FloatArray] = attrs.field(factory=dict, converter=_returns)

    def price(self, ticker_: str) -> Decimal | None:
        """Return the latest price of ``ticker_``, or None."""
        q = self.quotes.get(ticker_)
        return q.price if q is not None else None

    def age_seconds(self, ticker_: str) -> float | None:
        """Return how old the latest price is at ``now`` (None when unknown)."""
        q = self.quotes.get(ticker_)
        if q is None or q.ts is None:
            return None
        return (self.now - q.ts).total_seconds()


@attrs.frozen
class Holding:
    """A position reduced to what risk needs: signed quantity and a mark price."""

    ticker: str
    quantity: Decimal  # signed, negative for a short
    price: Decimal

    @property
    def market_value(self) -> Decimal:
        """Return the signed market value."""
        return self.quantity * self.price


def holdings(
    positions: Iterable[Position | BrokerPosition | Holding], market: MarketView | None = None,
) -> dict[str, Holding]:
    """Return one :class:`Holding` per ticker, marked at the market price where known.

    Accepts domain positions, broker positions and holdings alike; the quote in ``market`` wins
    over a position's own mark, which wins over its entry price.
    """
    out: dict[str, Holding] = {}
    for p in positions:
        if isinstance(p, Holding):
            h = p
        elif isinstance(p, Position):
            if p.quantity == 0:
                continue
            mark = (market.price(p.ticker) if market else None) or p.last_price or p.avg_entry_price
            h = Holding(p.ticker, p.signed_quantity, mark)
        else:
            if p.quantity == 0:
                continue
            mark = (market.price(p.ticker) if market else None) or p.current_price \
                or p.avg_entry_price
            h = Holding(p.ticker, p.quantity, mark)
        prev = out.get(h.ticker)
        if prev is not None:
            h = Holding(h.ticker, prev.quantity + h.quantity, h.price)
        out[h.ticker] = h
    return {t: h for t, h in out.items() if h.quantity != ZERO}


@attrs.frozen
class PendingOrder:
    """The unfilled remainder of an entry order that may still fill (working, accepted, or
    persisted and not yet answered by the broker), priced for risk.

    Pending entries reserve exposure: every limit counts them as if they could fill, so two
    entries released before either fills cannot together exceed a cap that each meets alone.
    ``price`` is None when nothing prices the order (a market order for a ticker with no quote).
    """

    ticker: str = attrs.field(converter=ticker)
    side: Side = attrs.field(converter=_side)
    quantity: Decimal = attrs.field(converter=_qty)  # the unfilled remainder, > 0
    price: Decimal | None = attrs.field(converter=_pending_price)
    client_order_id: str | None = None

    @property
    def signed_quantity(self) -> Decimal:
        """Return the remainder, negative for a sell."""
        return self.side.sign * self.quantity


def pending_entries(
    orders: Iterable[Order], market: MarketView | None = None,
    exclude: Iterable[str] = (),
) -> tuple[PendingOrder, ...]:
    """Return the pending entries among ``orders``: open, not reduce-only, not a bracket leg,
    with a quantity left to fill (a partially filled order counts for its remainder).

    An order is priced at the market quote when ``market`` has one, else at its limit price,
    else at its stop price, else at its average fill so far; ``exclude`` names client order
    ids to leave out (the order being checked, when it is already stored).
    """
    skip = set(exclude)
    out: list[PendingOrder] = []
    for o in orders:
        r = o.request
        if not o.is_open or r.reduce_only or o.parent_id is not None or \
                o.client_order_id in skip or o.leaves_qty <= 0:
            continue
        price = (market.price(o.ticker) if market is not None else None) or r.limit_price \
            or r.stop_price or o.avg_fill_price
        out.append(PendingOrder(o.ticker, o.side, o.leaves_qty, price, o.client_order_id))
    return tuple(out)


@attrs.frozen
class TickerExposure:
    """What one ticker may come to hold: the position plus every pending entry.

    Pending orders may fill in any part and any order, so the quantity held can end anywhere
    in ``[low, high]``: the position minus every pending sell, to the position plus every
    pending buy. Risk measures the worst point of that range.
    """

    ticker: str
    price: Decimal
    held: Decimal = ZERO  # signed position
    pending_buy: Decimal = ZERO
    pending_sell: Decimal = ZERO

    @property
    def low(self) -> Decimal:
        """Return the smallest signed quantity the ticker can reach."""
        return self.held - self.pending_sell

    @property
    def high(self) -> Decimal:
        """Return the largest signed quantity the ticker can reach."""
        return self.held + self.pending_buy

    @property
    def worst_quantity(self) -> Decimal:
        """Return the largest absolute quantity the ticker can reach."""
        return max(abs(self.low), abs(self.high))

    @property
    def worst_value(self) -> Decimal:
        """Return the largest absolute market value the ticker can reach."""
        return self.worst_quantity * self.price

    @property
    def pending(self) -> Decimal:
        """Return the total pending quantity, both sides."""
        return self.pending_buy + self.pending_sell

    @property
    def opening_quantity(self) -> Decimal:
        """Return how much of the pending quantity may open new exposure: everything except
        the part of each side that can only close the position held now."""
        buys = max(ZERO, self.pending_buy - max(ZERO, -self.held))
        sells = max(ZERO, self.pending_sell - max(ZERO, self.held))
        return buys + sells

    def pending_on(self, side: Side) -> Decimal:
        """Return the pending quantity on ``side``."""
        return self.pending_buy if side is Side.BUY else self.pending_sell

    def with_order(self, side: Side, quantity: Decimal) -> TickerExposure:
        """Return the exposure with one more pending order."""
        if side is Side.BUY:
            return attrs.evolve(self, pending_buy=self.pending_buy + quantity)
        return attrs.evolve(self, pending_sell=self.pending_sell + quantity)


def exposures(
    held: Mapping[str, Holding], pending: Iterable[PendingOrder],
) -> tuple[dict[str, TickerExposure], tuple[PendingOrder, ...]]:
    """Return one :class:`TickerExposure` per ticker held or pending, and the pending orders
    that could not be priced (they are left out of the exposures; risk refuses new entries
    while any exists).

    A ticker is valued at its holding's mark, else at the first priced pending order's price.
    """
    out: dict[str, TickerExposure] = {
        t: TickerExposure(t, h.price, held=h.quantity) for t, h in held.items()
    }
    unpriced: list[PendingOrder] = []
    for p in pending:
        cur = out.get(p.ticker)
        if cur is None:
            if p.price is None:
                unpriced.append(p)
                continue
            cur = TickerExposure(p.ticker, p.price)
        out[p.ticker] = cur.with_order(p.side, p.quantity)
    return out, tuple(unpriced)
