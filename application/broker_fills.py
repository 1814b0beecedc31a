"""Booking what a broker reports into the store: fills implied by order progress, fills on positions.

The executor, the broker adapters, reconciliation and the stream consumers all book through
these functions, so the same broker facts give the same orders, fills and positions whichever
path learned them first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import Decimal

import attrs
import structlog

from application.ports import UnitOfWork
from domain.errors import DomainError
from domain.events import Fill, OrderEvent, OrderFilled, OrderStatusChanged
from domain.orders import OrderReport, can_transition
from domain.portfolio import FillOutcome, book_fill, order_position_id
from domain.position import Position
from domain.values import ZERO, ExitReason

log = structlog.get_logger(__name__)

PRICE_QUANTUM = Decimal("0.000001")


def progress_fill_id(broker_order_id: str, cumulative_qty: Decimal) -> str:
    """Return the id of the fill that took an order to ``cumulative_qty``.

    Stream events and polled order snapshots yield the *same* id for the same progress, so a
    fill learned twice (stream, then poll, then reconciliation after a restart) is stored once.
    """
    return f"{broker_order_id}:{cumulative_qty.normalize():f}"


def progress_fill(
    report: OrderReport, prev_qty: Decimal, prev_avg: Decimal | None, ts: datetime,
    price: Decimal | None = None, *, prev_notional: Decimal | None = None,
) -> Fill | None:
    """Return the fill that explains ``report``'s progress beyond ``prev_qty`` (None if none).

    The price is the event's price when given (the stream), else the one implied by the change
    of the average fill price: ``(new_avg * new_qty - old_notional) / delta``, where the old
    notional is ``prev_notional`` when known (an order's exact filled notional), else
    ``old_avg * old_qty``.
    """
    new_qty = report.filled_qty
    delta = new_qty - prev_qty
    if delta <= 0:
        return None
    if price is None:
        new_avg = report.filled_avg_price
        if new_avg is None:
            return None
        before = prev_notional if prev_notional is not None else (prev_avg or ZERO) * prev_qty
        notional = new_avg * new_qty - before
        price = (notional / delta).quantize(PRICE_QUANTUM)
        if price <= 0:
            price = new_avg
    return Fill(
        fill_id=progress_fill_id(report.broker_order_id, new_qty),
        client_order_id=report.client_order_id, ticker=report.ticker, side=report.side,
        quantity=delta, price=price, ts_event=ts, broker_order_id=report.broker_order_id,
    )


def apply_fill_to_positions(
    u: UnitOfWork, fill: Fill, *, first_fill_of_order: bool,
    exit_reason: ExitReason | None = ExitReason.RECONCILIATION,
    prepare: Callable[[Position, bool], None] | None = None,
) -> tuple[FillOutcome, ...]:
    """Book ``fill`` on the stored positions by the domain's one booking rule
    (:func:`domain.portfolio.book_fill`: open, add, reduce, close, or close and open the
    remainder on the other side) and return what it did. The executor and reconciliation
    both book through here, so the same fills give the same book on either path.

    ``first_fill_of_order`` names a position the fill opens after its order
    (:func:`domain.portfolio.order_position_id`). ``exit_reason`` is the close reason when the
    position was not waiting for an exit. ``prepare(position, opened)`` is called on a position
    the fill opened or added to, before it is stored (the executor arms its stop and target
    there).

    A fill learned late (a stream gap repaired by polling or reconciliation) can be older than
    fills already applied. Positions are booked in the order fills are *learned*, so such a
    fill is booked at the position's latest time rather than before it opened; the fill row
    keeps its true ``ts_event``. Quantities, average prices and realised P&L come out the same
    as in time order; only which fill opened the position can differ (see docs/alpaca.md).
    """
    pos = u.positions.open_for(fill.ticker)
    if pos is not None:
        latest = max(pos.opened_at, pos.updated_at or pos.opened_at)
        if fill.ts_event < latest:
            fill = attrs.evolve(fill, ts_event=latest)
    outcomes = book_fill(pos, fill, order_position_id(first_fill_of_order), exit_reason)
    for outcome in outcomes:
        changed = outcome.changed
        if outcome.closed is not None and changed is not None:
            u.positions.close(changed, outcome.closed)
            continue
        if changed is not None and prepare is not None and changed.side.entry_side is fill.side:
            prepare(changed, outcome.opened is not None)
        if outcome.opened is not None:
            u.positions.add(outcome.opened)
        elif changed is not None:
            u.positions.save(changed)
    return outcomes


def record_broker_events(u: UnitOfWork, events: Iterable[OrderEvent], *,
                         positions: bool = True) -> int:
    """Apply broker events to the stored orders (fills once, by fill id); return how many applied.

    Events of orders we do not hold, replayed fills and stale status changes are skipped; the
    caller commits. Positions follow fills when ``positions`` is True.
    """
    applied = 0
    for ev in events:
        order = u.orders.get(ev.client_order_id)
        if order is None:
            continue
        if isinstance(ev, OrderFilled) and u.fills.exists(ev.fill.fill_id):
            continue
        if isinstance(ev, OrderStatusChanged) and (
            ev.status is order.status or not can_transition(order.status, ev.status)
        ):
            continue
        try:
            changed = order.apply(ev)
        except DomainError as exc:
            log.warning("reconcile.event_skipped", client_order_id=ev.client_order_id,
                        error=str(exc))
            continue
        if not changed:
            continue
        u.orders.save(order)
        u.orders.record_event(ev)
        if isinstance(ev, OrderFilled):
            u.fills.add(ev.fill)
            if positions:
                apply_fill_to_positions(u, ev.fill, first_fill_of_order=len(order.fill_ids) == 1)
        applied += 1
    return applied
