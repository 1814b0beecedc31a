"""The ledger: cash plus positions, moved only by fills. Used by the simulated exchange,
the backtester and the in-memory fakes, so all of them account money the same way."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal

import attrs

from domain.account import Account
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
        """Apply a fill to cash and positions and return what happened.

        A fill larger than the open position on the other side closes it and opens the
        remainder on the new side (two outcomes). Fill ids are de-duplicated.
        """
        from domain.errors import DuplicateFill

        if fill.fill_id in self.seen_fills:
            raise DuplicateFill(fill.fill_id, "ledger")
        self.seen_fills.add(fill.fill_id)
        self.cash -= fill.signed_quantity * fill.price + fill.commission
        pos = self.positions.get(fill.ticker)
        if pos is None:
            return (self._open(fill),)
        if fill.side is pos.side.entry_side:
            pos.apply_fill(fill)
            return (FillOutcome(changed=pos),)
        if fill.quantity <= pos.quantity:
            realized = pos.apply_fill(fill)
            return (self._maybe_close(pos, fill.ts_event, exit_reason, realized),)
        # the fill flips the position: close it with part of the fill, open the rest
        close_qty = pos.quantity
        share = close_qty / fill.quantity
        first = attrs.evolve(
            fill, fill_id=f"{fill.fill_id}#1", quantity=close_qty,
            commission=fill.commission * share,
        )
        rest = attrs.evolve(
            fill, fill_id=f"{fill.fill_id}#2", quantity=fill.quantity - close_qty,
            commission=fill.commission - first.commission,
        )
        realized = pos.apply_fill(first)
        closed = self._maybe_close(pos, fill.ts_event, exit_reason, realized)
        return (closed, self._open(rest))

    def _open(self, fill: Fill) -> FillOutcome:
        pos = Position(
            position_id=self.position_id_for(fill), ticker=fill.ticker,
            side=position_side_for(fill.side), opened_at=fill.ts_event,
            entry_order_id=fill.client_order_id,
        )
        pos.apply_fill(fill)
        self.positions[fill.ticker] = pos
        return FillOutcome(opened=pos, changed=pos)

    def _maybe_close(
        self, pos: Position, ts: datetime, reason: ExitReason | None, realized: Decimal
    ) -> FillOutcome:
        if pos.quantity > 0:
            return FillOutcome(changed=pos, realized_gross=realized)
        closed = pos.close(ts, reason)
        del self.positions[pos.ticker]
        self.closed.append(closed)
        return FillOutcome(changed=pos, closed=closed, realized_gross=realized)

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
