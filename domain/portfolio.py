"""The ledger: cash plus positions, moved only by fills. Used by the simulated exchange,
the backtester and the in-memory fakes, so all of them account money the same way."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal

import attrs

from domain.account import Account
from domain.errors import DuplicateFill, InvalidInput
from domain.events import Fill
from domain.ids import digest
from domain.position import ClosedPosition, Position, position_side_for
from domain.values import ZERO, ExitReason


@attrs.frozen
class FillOutcome:
    """What one fill did to the ledger."""

    opened: Position | None = None
    changed: Position | None = None
    closed: ClosedPosition | None = None
    realized_gross: Decimal = ZERO


def default_position_id(fill: Fill) -> str:
    """Return the id of the position a fill opens: deterministic for the fill."""
    return f"pos-{digest(fill.ticker, fill.fill_id, length=20)}"


def position_id_for(entry_client_order_id: str) -> str:
    """Return the id of the position an entry order's first fill opens (deterministic)."""
    return f"pos-{digest(entry_client_order_id, length=20)}"


def order_position_id(first_fill_of_order: bool) -> Callable[[Fill], str]:
    """Return the id rule of the trading book: the position an order's first fill opens is
    named after the order (:func:`position_id_for`); one a later fill of the same order
    opens (after the first position closed) is named after the fill, so ids never repeat."""

    def pid(fill: Fill) -> str:
        return position_id_for(fill.client_order_id) if first_fill_of_order \
            else default_position_id(fill)

    return pid


def book_fill(
    position: Position | None, fill: Fill, position_id: Callable[[Fill], str],
    exit_reason: ExitReason | None = None,
) -> tuple[FillOutcome, ...]:
    """Return what ``fill`` does to ``position``, the ticker's open position (None when flat).

    This is the one booking rule, shared by the ledger, the executor and reconciliation:

    - no position: the fill opens one on its side (named by ``position_id``);
    - a fill on the position's entry side adds to it (average price updated exactly);
    - a fill on the other side reduces it, realising ``sign x (price - avg) x qty``, and closes
      it at zero;
    - a fill larger than the position (an overfill) closes it with the part that matches and
      opens the remainder on the other side, as the broker's own book does: the fill has
      happened, so the book follows it. The fill is split into ``<id>#1`` (closing) and
      ``<id>#2`` (opening), its commission pro rata.

    A closed position's exit reason is the exit it was waiting for, else ``exit_reason``, else
    ``signal``. ``position`` is changed in place; the new position of an opening fill is in
    the outcome.
    """
    if position is None:
        return (_open(fill, position_id),)
    if fill.ticker != position.ticker:
        raise InvalidInput("fill.ticker", fill.ticker, position.ticker)
    if fill.side is position.side.entry_side:
        position.apply_fill(fill)
        return (FillOutcome(changed=position),)
    if fill.quantity <= position.quantity:
        realized = position.apply_fill(fill)
        return (_maybe_close(position, fill.ts_event, exit_reason, realized),)
    close_qty = position.quantity
    share = close_qty / fill.quantity
    first = attrs.evolve(
        fill, fill_id=f"{fill.fill_id}#1", quantity=close_qty,
        commission=fill.commission * share,
    )
    rest = attrs.evolve(
        fill, fill_id=f"{fill.fill_id}#2", quantity=fill.quantity - close_qty,
        commission=fill.commission - first.commission,
    )
    realized = position.apply_fill(first)
    closed = _maybe_close(position, fill.ts_event, exit_reason, realized)
    return (closed, _open(rest, position_id))


def _open(fill: Fill, position_id: Callable[[Fill], str]) -> FillOutcome:
    pos = Position(
        position_id=position_id(fill), ticker=fill.ticker, side=position_side_for(fill.side),
        opened_at=fill.ts_event, entry_order_id=fill.client_order_id,
    )
    pos.apply_fill(fill)
    return FillOutcome(opened=pos, changed=pos)


def _maybe_close(
    pos: Position, ts: datetime, reason: ExitReason | None, realized: Decimal
) -> FillOutcome:
    if pos.quantity > 0:
        return FillOutcome(changed=pos, realized_gross=realized)
    closed = pos.close(ts, pos.exit_pending or reason)
    return FillOutcome(changed=pos, closed=closed, realized_gross=realized)


@attrs.define(eq=False)
class Ledger:
    """Cash and open positions, changed by :meth:`apply_fill`.

    Invariant (checked by property tests): for any sequence of fills, cash plus the signed
    market value of positions equals the starting cash plus realised and unrealised P&L
    minus commissions.
    """

    cash: Decimal
    positions: dict[str, Position] = attrs.field(factory=dict)
    closed: list[ClosedPosition] = attrs.field(factory=list)
    position_id_for: Callable[[Fill], str] = default_position_id
    seen_fills: set[str] = attrs.field(factory=set)

    def apply_fill(
        self, fill: Fill, exit_reason: ExitReason | None = None
    ) -> tuple[FillOutcome, ...]:
        """Apply a fill to cash and positions and return what happened (see
        :func:`book_fill`: a fill larger than the open position on the other side closes it
        and opens the remainder on the new side, two outcomes). Fill ids are de-duplicated.
        """
        if fill.fill_id in self.seen_fills:
            raise DuplicateFill(fill.fill_id, "ledger")
        self.seen_fills.add(fill.fill_id)
        self.cash -= fill.signed_quantity * fill.price + fill.commission
        outcomes = book_fill(self.positions.get(fill.ticker), fill, self.position_id_for,
                             exit_reason)
        for o in outcomes:
            if o.closed is not None:
                del self.positions[o.closed.ticker]
                self.closed.append(o.closed)
            if o.opened is not None:
                self.positions[o.opened.ticker] = o.opened
        return outcomes

    def market_values(self, prices: Mapping[str, Decimal]) -> tuple[Decimal, Decimal]:
        """Return (long market value, short market value <= 0) at ``prices``."""
        long_mv = short_mv = ZERO
        for t, pos in self.positions.items():
            mv = pos.market_value(prices.get(t))
            if mv >= 0:
                long_mv += mv
            else:
                short_mv += mv
        return long_mv, short_mv

    def equity(self, prices: Mapping[str, Decimal]) -> Decimal:
        """Return cash plus signed market value of every position at ``prices``."""
        long_mv, short_mv = self.market_values(prices)
        return self.cash + long_mv + short_mv

    def account(
        self, prices: Mapping[str, Decimal], ts: datetime | None = None,
        margin_multiplier: Decimal = Decimal(1),
    ) -> Account:
        """Return an :class:`Account` snapshot; buying power is equity x multiplier less
        gross exposure (a cash account with multiplier 1 cannot exceed its equity)."""
        long_mv, short_mv = self.market_values(prices)
        equity = self.cash + long_mv + short_mv
        gross = long_mv - short_mv
        bp = max(ZERO, equity * margin_multiplier - gross)
        return Account(
            cash=self.cash, equity=equity, buying_power=bp, long_market_value=long_mv,
            short_market_value=short_mv, ts=ts,
        )
