"""Positions: long or short, scale-in and partial close, exact P&L, excursions and exits."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import attrs

from domain.errors import DuplicateFill, InvalidInput, OverFill
from domain.events import ExitTriggered, Fill
from domain.values import ZERO, ExitReason, PositionSide, Side, dec


def _pct(value: Any, field: str) -> Decimal:
    d = dec(value, field)
    if not (ZERO < d < 1):
        raise InvalidInput(field, value, "a fraction in (0, 1), e.g. 0.05 for 5 %")
    return d



def _activation_pct(v: Any) -> Decimal:
    return _pct(v, "activation_pct")


def _trail_pct(v: Any) -> Decimal:
    return _pct(v, "trail_pct")


def _frozen_map(v: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(v or {}))


@attrs.frozen
class TrailingStopConfig:
    """Trailing stop that arms after a favourable move and then trails the extreme.

    The tickets' defaults: activate at +5 %, trail 3 %.
    """

    activation_pct: Decimal = attrs.field(
        default=Decimal("0.05"), converter=_activation_pct
    )
    trail_pct: Decimal = attrs.field(
        default=Decimal("0.03"), converter=_trail_pct
    )


@attrs.frozen
class ClosedPosition:
    """A position that reached zero quantity, with its whole history summarised."""

    position_id: str
    ticker: str
    side: PositionSide
    quantity: Decimal  # largest quantity held
    entry_price: Decimal  # average entry price
    exit_price: Decimal  # average exit price
    realized_pnl: Decimal  # net of commissions
    gross_pnl: Decimal
    commission: Decimal
    realized_pnl_pct: Decimal  # on the entry cost basis
    opened_at: datetime
    closed_at: datetime
    exit_reason: ExitReason
    max_unrealized_pnl: Decimal
    max_unrealized_pnl_pct: Decimal
    min_unrealized_pnl: Decimal
    min_unrealized_pnl_pct: Decimal
    max_drawdown_pct: Decimal
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None
    strategy: str | None = None
    signal_id: str | None = None
    signal_confidence: float | None = None
    catalyst_score: float | None = None
    rvol: float | None = None
    atr: float | None = None
    entry_order_id: str | None = None
    exit_order_id: str | None = None
    metadata: Mapping[str, Any] = attrs.field(
        factory=dict, converter=_frozen_map
    )

    @property
    def hold_duration_seconds(self) -> int:
        """Return how long the position was open, in whole seconds."""
        return int((self.closed_at - self.opened_at).total_seconds())

    @property
    def is_win(self) -> bool:
        """Return True when the position made money after costs."""
        return self.realized_pnl > 0


@attrs.define(eq=False)
class Position:
    """An open position. Its state changes through :meth:`apply_fill`, :meth:`mark` and
    :meth:`check_exit`; it never flips side (a fill larger than the position raises
    :class:`OverFill`; :class:`domain.portfolio.Ledger` splits such fills)."""

    position_id: str
    ticker: str
    side: PositionSide
    opened_at: datetime
    quantity: Decimal = ZERO
    avg_entry_price: Decimal = ZERO
    last_price: Decimal | None = None
    updated_at: datetime | None = None
    realized_gross: Decimal = ZERO
    commission: Decimal = ZERO
    max_quantity: Decimal = ZERO
    exit_qty: Decimal = ZERO
    exit_notional: Decimal = ZERO
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None
    trailing: TrailingStopConfig | None = None
    trailing_active: bool = False
    trailing_stop: Decimal | None = None
    extreme_price: Decimal | None = None  # best price seen while open
    max_unrealized_pnl: Decimal = ZERO
    max_unrealized_pnl_pct: Decimal = ZERO
    min_unrealized_pnl: Decimal = ZERO
    min_unrealized_pnl_pct: Decimal = ZERO
    max_drawdown_pct: Decimal = ZERO
    exit_pending: ExitReason | None = None
    fill_ids: set[str] = attrs.field(factory=set)
    strategy: str | None = None
    signal_id: str | None = None
    signal_confidence: float | None = None
    catalyst_score: float | None = None
    rvol: float | None = None
    atr: float | None = None
    entry_order_id: str | None = None
    exit_order_id: str | None = None
    metadata: dict[str, Any] = attrs.field(factory=dict)
    version: int = 0

    # --- views -----------------------------------------------------------------------
    @property
    def is_open(self) -> bool:
        """Return True while quantity is above zero."""
        return self.quantity > 0

    @property
    def sign(self) -> int:
        """Return +1 for long, -1 for short."""
        return self.side.sign

    @property
    def signed_quantity(self) -> Decimal:
        """Return the quantity, negative for a short."""
        return self.quantity * self.sign

    @property
    def cost_basis(self) -> Decimal:
        """Return average entry price times open quantity."""
        return self.avg_entry_price * self.quantity

    def market_value(self, price: Decimal | None = None) -> Decimal:
        """Return the signed market value at ``price`` (default: last mark)."""
        p = price if price is not None else (self.last_price or self.avg_entry_price)
        return self.signed_quantity * p

    def unrealized_pnl(self, price: Decimal | None = None) -> Decimal:
        """Return the open P&L at ``price`` (default: last mark), before exit costs."""
        p = price if price is not None else (self.last_price or self.avg_entry_price)
        return self.sign * (p - self.avg_entry_price) * self.quantity

    def unrealized_pnl_pct(self, price: Decimal | None = None) -> Decimal:
        """Return the open P&L as a fraction of the cost basis."""
        if self.quantity == 0 or self.avg_entry_price == 0:
            return ZERO
        p = price if price is not None else (self.last_price or self.avg_entry_price)
        return self.sign * (p / self.avg_entry_price - 1)

    @property
    def realized_pnl(self) -> Decimal:
        """Return realised P&L so far, net of all commissions paid."""
        return self.realized_gross - self.commission

    # --- state changes ---------------------------------------------------------------
    def apply_fill(self, fill: Fill) -> Decimal:
        """Apply a fill and return the gross P&L it realised (zero for an entry).

        Entries update the average price exactly; exits realise ``sign * (price - avg) *
        qty``. Commissions accumulate separately. A fill id applied before raises
        :class:`DuplicateFill`; an exit larger than the position raises :class:`OverFill`.
        """
        if fill.fill_id in self.fill_ids:
            raise DuplicateFill(fill.fill_id, f"position {self.position_id}")
        if fill.ticker != self.ticker:
            raise InvalidInput("fill.ticker", fill.ticker, self.ticker)
        realized = ZERO
        if fill.side is self.side.entry_side:
            new_qty = self.quantity + fill.quantity
            self.avg_entry_price = (self.cost_basis + fill.notional) / new_qty
            self.quantity = new_qty
            self.max_quantity = max(self.max_quantity, new_qty)
        else:
            if fill.quantity > self.quantity:
                raise OverFill(
                    f"position {self.position_id}: exit of {fill.quantity} > open {self.quantity}"
                )
            realized = self.sign * (fill.price - self.avg_entry_price) * fill.quantity
            self.realized_gross += realized
            self.quantity -= fill.quantity
            self.exit_qty += fill.quantity
            self.exit_notional += fill.notional
            self.exit_order_id = fill.client_order_id
        self.commission += fill.commission
        self.fill_ids.add(fill.fill_id)
        self.updated_at = fill.ts_event
        if self.last_price is None:
            self.last_price = fill.price
        self._track(fill.price, fill.price, fill.price)
        self.version += 1
        return realized

    def set_exits(
        self,
        stop_loss: Decimal | None = None,
        take_profit: Decimal | None = None,
        trailing: TrailingStopConfig | None = None,
    ) -> None:
        """Set the protective levels; a stop or target on the wrong side raises."""
        ref = self.avg_entry_price
        if ref > 0:
            if stop_loss is not None and self.sign * (ref - stop_loss) <= 0:
                raise InvalidInput(
                    "stop_loss", stop_loss,
                    f"{'below' if self.sign > 0 else 'above'} the entry {ref} of a {self.side}",
                )
            if take_profit is not None and self.sign * (take_profit - ref) <= 0:
                raise InvalidInput(
                    "take_profit", take_profit,
                    f"{'above' if self.sign > 0 else 'below'} the entry {ref} of a {self.side}",
                )
        self.stop_loss = stop_loss
        self.take_profit = take_profit
        self.trailing = trailing
        self.version += 1

    def mark(
        self,
        price: Decimal,
        ts: datetime,
        high: Decimal | None = None,
        low: Decimal | None = None,
    ) -> None:
        """Mark the position at ``price`` (and the bar's range, when known).

        Updates excursions and the trailing stop, which only ever tightens.
        """
        self.last_price = price
        self.updated_at = ts
        self._track(price, high if high is not None else price, low if low is not None else price)
        self.version += 1

    def _track(self, price: Decimal, high: Decimal, low: Decimal) -> None:
        if self.quantity == 0 or self.avg_entry_price == 0:
            return
        fav, adv = (high, low) if self.sign > 0 else (low, high)
        if self.extreme_price is None or self.sign * (fav - self.extreme_price) > 0:
            self.extreme_price = fav
        avg, qty = self.avg_entry_price, self.quantity
        best = self.sign * (fav - avg) * qty
        worst = self.sign * (adv - avg) * qty
        if best > self.max_unrealized_pnl:
            self.max_unrealized_pnl = best
            self.max_unrealized_pnl_pct = self.sign * (fav / avg - 1)
        if worst < self.min_unrealized_pnl:
            self.min_unrealized_pnl = worst
            self.min_unrealized_pnl_pct = self.sign * (adv / avg - 1)
        ext = self.extreme_price
        assert ext is not None
        dd = self.sign * (ext - adv) / ext
        if dd > self.max_drawdown_pct:
            self.max_drawdown_pct = dd
        cfg = self.trailing
        if cfg is None:
            return
        if not self.trailing_active and self.sign * (ext / avg - 1) >= cfg.activation_pct:
            self.trailing_active = True
        if self.trailing_active:
            level = ext * (1 - cfg.trail_pct) if self.sign > 0 else ext * (1 + cfg.trail_pct)
            if self.trailing_stop is None or self.sign * (level - self.trailing_stop) > 0:
                self.trailing_stop = level

    def effective_stop(self) -> tuple[Decimal | None, bool]:
        """Return the tighter of stop-loss and trailing stop, and whether it is the trailing one."""
        sl, tr = self.stop_loss, self.trailing_stop
        if tr is not None and (sl is None or self.sign * (tr - sl) >= 0):
            return tr, True
        return sl, False

    def check_exit(
        self,
        ts: datetime,
        open_: Decimal,
        high: Decimal,
        low: Decimal,
    ) -> ExitTriggered | None:
        """Return the one exit this bar triggers, or None; never fires twice.

        Checked with the levels in force before the bar (the bar's own high cannot arm a
        trailing stop that the same bar's low then hits). When a stop and a target both lie
        inside the bar, the stop is assumed first (adverse first). A gap through a level
        fills at the open, never at a price the market did not trade. After a trigger,
        further checks return None until :meth:`cancel_exit` or the position closes.
        """
        if self.exit_pending is not None or self.quantity == 0:
            return None
        stop, trailing = self.effective_stop()
        s = self.sign
        if stop is not None and ((s > 0 and low <= stop) or (s < 0 and high >= stop)):
            price = open_ if s * (open_ - stop) <= 0 else stop
            reason = ExitReason.TRAILING_STOP if trailing else ExitReason.STOP_LOSS
            return self._trigger(reason, price, stop, ts, trailing)
        tp = self.take_profit
        if tp is not None and ((s > 0 and high >= tp) or (s < 0 and low <= tp)):
            price = open_ if s * (open_ - tp) >= 0 else tp
            return self._trigger(ExitReason.TAKE_PROFIT, price, tp, ts, False)
        return None

    def trigger_exit(self, reason: ExitReason, price: Decimal, ts: datetime) -> ExitTriggered | None:
        """Fire a non-price exit (time, signal, manual, kill switch) unless one is pending."""
        if self.exit_pending is not None or self.quantity == 0:
            return None
        return self._trigger(reason, price, None, ts, False)

    def _trigger(
        self, reason: ExitReason, price: Decimal, level: Decimal | None, ts: datetime,
        trailing: bool,
    ) -> ExitTriggered:
        self.exit_pending = reason
        self.version += 1
        return ExitTriggered(
            position_id=self.position_id, ticker=self.ticker, reason=reason,
            trigger_price=price, level=level, ts_event=ts, was_trailing=trailing,
        )

    def cancel_exit(self) -> None:
        """Re-arm exits after the exit order failed or was canceled."""
        self.exit_pending = None
        self.version += 1

    def close(self, ts: datetime, reason: ExitReason | None = None) -> ClosedPosition:
        """Return the closed record of a position whose quantity reached zero."""
        if self.quantity != 0:
            raise OverFill(f"position {self.position_id} still holds {self.quantity}")
        if self.exit_qty == 0:
            raise OverFill(f"position {self.position_id} has no exit fill")
        basis = self.avg_entry_price * self.exit_qty
        net = self.realized_pnl
        return ClosedPosition(
            position_id=self.position_id, ticker=self.ticker, side=self.side,
            quantity=self.max_quantity, entry_price=self.avg_entry_price,
            exit_price=self.exit_notional / self.exit_qty, realized_pnl=net,
            gross_pnl=self.realized_gross, commission=self.commission,
            realized_pnl_pct=(net / basis) if basis else ZERO,
            opened_at=self.opened_at, closed_at=ts,
            exit_reason=reason or self.exit_pending or ExitReason.SIGNAL,
            max_unrealized_pnl=self.max_unrealized_pnl,
            max_unrealized_pnl_pct=self.max_unrealized_pnl_pct,
            min_unrealized_pnl=self.min_unrealized_pnl,
            min_unrealized_pnl_pct=self.min_unrealized_pnl_pct,
            max_drawdown_pct=self.max_drawdown_pct,
            stop_loss=self.stop_loss, take_profit=self.take_profit, strategy=self.strategy,
            signal_id=self.signal_id, signal_confidence=self.signal_confidence,
            catalyst_score=self.catalyst_score, rvol=self.rvol, atr=self.atr,
            entry_order_id=self.entry_order_id, exit_order_id=self.exit_order_id,
            metadata=self.metadata,
        )


def position_side_for(side: Side) -> PositionSide:
    """Return the position side an opening fill of ``side`` creates."""
    return PositionSide.LONG if side is Side.BUY else PositionSide.SHORT
