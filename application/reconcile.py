"""Reconciliation of local orders and positions with the broker, and the repair policy.

Runs at start and periodically (:class:`PeriodicReconciler`). Pure application code over the
``BrokerPort`` and ``UnitOfWork`` ports; see :class:`Reconciler` for the policy. Booking what
the broker reports (fills from order progress, fills on positions) is in
:mod:`application.broker_fills`; its functions are importable from here too.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs
import structlog

from application.broker_fills import (
    PRICE_QUANTUM,
    apply_fill_to_positions,
    progress_fill,
    progress_fill_id,
    record_broker_events,
)
from application.ports import BrokerPort, Clock, Notifier, UnitOfWork
from application.risk import RiskService
from domain.audit import Notification, Severity
from domain.errors import DomainError
from domain.events import (
    OrderFilled,
    OrderStatus,
    OrderStatusChanged,
    RiskEvent,
    RiskState,
)
from domain.orders import Order, can_transition
from domain.values import ZERO

__all__ = [
    "HALT_RULE", "PRICE_QUANTUM", "PeriodicReconciler", "ReconcileReport", "Reconciler", "Repair",
    "RepairKind", "apply_fill_to_positions", "progress_fill", "progress_fill_id",
    "record_broker_events",
]

log = structlog.get_logger(__name__)

HALT_RULE = "reconciliation_drift"


@attrs.frozen
class Repair:
    """One thing reconciliation found and what it did about it."""

    kind: str  # see RepairKind
    message: str
    client_order_id: str | None = None
    ticker: str | None = None
    data: Mapping[str, str] = attrs.field(factory=dict)


class RepairKind:
    """The repair policy, one constant per case."""

    #: the broker filled (part of) an order beyond what we stored: adopt the fill
    ADOPTED_FILL = "adopted_fill"
    #: the broker reports a newer status (accepted, canceled, expired, rejected...): adopt it
    ADOPTED_STATUS = "adopted_status"
    #: an order we stored (possibly sent) that the broker has never seen, past the grace
    #: period: mark it rejected (or canceled when it had been working) - it will never fill
    MARKED_NEVER_SEEN = "marked_never_seen"
    #: an order at the broker with no local row (placed by hand or by another tool): flagged
    UNKNOWN_BROKER_ORDER = "unknown_broker_order"
    #: local and broker positions differ after adopting fills: flagged and trading HALTED
    POSITION_MISMATCH = "position_mismatch"
    #: local fills exceed the broker's: impossible unless data is corrupt: flagged and HALTED
    FILL_MISMATCH = "fill_mismatch"
    #: the broker could not be asked about an order: left as it is, retried next run
    UNREACHABLE = "unreachable"


HALTING = frozenset({RepairKind.POSITION_MISMATCH, RepairKind.FILL_MISMATCH})


@attrs.frozen
class ReconcileReport:
    """What one reconciliation run found and did."""

    ts: datetime
    checked_orders: int
    broker_positions: int
    repairs: tuple[Repair, ...]
    halted: bool

    @property
    def clean(self) -> bool:
        """Return True when nothing needed repair."""
        return not self.repairs

    def count(self, kind: str) -> int:
        """Return how many repairs of ``kind`` were made."""
        return sum(r.kind == kind for r in self.repairs)


class Reconciler:
    """Reconcile local orders and positions (UnitOfWork) with the broker, by a stated policy.

    Policy, in order:

    1. every local open order (initialized, submitted or working) is looked up at the broker
       by client order id: fills the broker has and we lack are adopted (order, fills table
       and position, under the same fill id the broker adapters use), a newer status is
       adopted; an order the broker never saw is marked rejected once it is older than
       ``grace`` (younger ones may still be in flight and are left alone);
    2. recent broker orders with no local row are flagged (never adopted automatically);
    3. local positions are compared with the broker's by ticker (signed quantity): any
       difference left after step 1 is unexplained: it is flagged and trading is HALTED
       (a recorded manual ``risk resume`` is needed), nothing is changed on either side.

    Every repair is journaled as a :class:`RiskEvent` of kind ``reconciliation``, and every
    order change as an order event, in the same transaction as the change.
    """

    def __init__(
        self,
        uow: UnitOfWork,
        broker: BrokerPort,
        clock: Clock,
        *,
        grace: timedelta = timedelta(seconds=60),
        apply_fills_to_positions: bool = True,
        quantity_tolerance: Decimal = Decimal("0.000001"),
        notifier: Notifier | None = None,
    ) -> None:
        self._uow = uow
        self._notifier = notifier
        self._broker = broker
        self._clock = clock
        self.grace = grace
        self._positions = apply_fills_to_positions
        self._tol = quantity_tolerance

    def run(self) -> ReconcileReport:
        """Reconcile once and return the report (the changes are committed)."""
        now = self._clock.now()
        repairs: list[Repair] = []
        with self._uow as u:
            local_open = u.orders.list(open_only=True)
            for order in local_open:
                repairs.extend(self._order(u, order, now))
            u.commit()
        repairs.extend(self._unknown_broker_orders())
        with self._uow as u:
            repairs.extend(self._compare_positions(u))
            halted = any(r.kind in HALTING for r in repairs)
            for r in repairs:
                u.journal.add_risk_event(_event(r, now))
            if halted:
                self._halt(u, [r for r in repairs if r.kind in HALTING], now)
            u.commit()
        for r in repairs:
            (log.warning if r.kind in HALTING else log.info)(
                "reconcile.repair", kind=r.kind, client_order_id=r.client_order_id,
                ticker=r.ticker, message=r.message)
        return ReconcileReport(ts=now, checked_orders=len(local_open),
                               broker_positions=self._last_broker_positions,
                               repairs=tuple(repairs), halted=halted)

    # --- orders -------------------------------------------------------------------------------
    def _order(self, u: UnitOfWork, order: Order, now: datetime) -> list[Repair]:
        cid = order.client_order_id
        try:
            report = self._broker.get_order_by_client_id(cid)
        except DomainError as exc:
            return [Repair(RepairKind.UNREACHABLE, f"order {cid}: broker lookup failed: {exc}",
                           cid, order.ticker)]
        if report is None:
            return self._never_seen(u, order, now)
        out: list[Repair] = []
        when = report.updated_at or now
        if report.filled_qty < order.filled_qty:
            return [Repair(RepairKind.FILL_MISMATCH,
                           f"order {cid}: local filled {order.filled_qty} > broker "
                           f"{report.filled_qty}", cid, order.ticker,
                           {"local": str(order.filled_qty), "broker": str(report.filled_qty)})]
        fill = progress_fill(report, order.filled_qty, order.avg_fill_price, when,
                             prev_notional=order.filled_notional)
        if fill is not None and not u.fills.exists(fill.fill_id):
            ev = OrderFilled(client_order_id=cid, ts_event=when,
                             broker_order_id=report.broker_order_id, fill=fill)
            order.apply(ev)
            u.fills.add(fill)
            u.orders.record_event(ev)
            if self._positions:
                apply_fill_to_positions(u, fill, first_fill_of_order=len(order.fill_ids) == 1)
            out.append(Repair(RepairKind.ADOPTED_FILL,
                              f"order {cid}: adopted missed fill of {fill.quantity} @ "
                              f"{fill.price} (broker filled {report.filled_qty})", cid,
                              order.ticker, {"fill_id": fill.fill_id,
                                             "quantity": str(fill.quantity),
                                             "price": str(fill.price)}))
        st = report.status
        if st not in (OrderStatus.FILLED, OrderStatus.PARTIALLY_FILLED) and \
                st is not order.status and can_transition(order.status, st):
            sev = OrderStatusChanged(client_order_id=cid, ts_event=when,
                                     broker_order_id=report.broker_order_id, status=st,
                                     reason=report.reject_reason)
            before = order.status
            order.apply(sev)
            u.orders.record_event(sev)
            out.append(Repair(RepairKind.ADOPTED_STATUS,
                              f"order {cid}: {before} -> {st} as the broker reports", cid,
                              order.ticker, {"from": before.value, "to": st.value}))
        if out:
            u.orders.save(order)
        return out

    def _never_seen(self, u: UnitOfWork, order: Order, now: datetime) -> list[Repair]:
        cid = order.client_order_id
        if now - (order.submitted_at or order.created_at) < self.grace:
            return []  # may still be in flight
        target = OrderStatus.REJECTED if can_transition(order.status, OrderStatus.REJECTED) \
            else OrderStatus.CANCELED
        if not can_transition(order.status, target):
            return []
        ev = OrderStatusChanged(client_order_id=cid, ts_event=now, status=target,
                                reason="never reached the broker (reconciliation)")
        before = order.status
        order.apply(ev)
        u.orders.record_event(ev)
        u.orders.save(order)
        return [Repair(RepairKind.MARKED_NEVER_SEEN,
                       f"order {cid}: {before} locally but unknown to the broker; marked "
                       f"{target}", cid, order.ticker, {"from": before.value})]

    def _unknown_broker_orders(self) -> list[Repair]:
        try:
            reports = self._broker.list_orders("all")
        except DomainError as exc:
            return [Repair(RepairKind.UNREACHABLE, f"broker order list failed: {exc}")]
        out = []
        with self._uow as u:
            known = {o.client_order_id for o in u.orders.list()} if reports else set()
            for r in reports:
                if r.client_order_id not in known:
                    out.append(Repair(
                        RepairKind.UNKNOWN_BROKER_ORDER,
                        f"broker order {r.client_order_id} ({r.side} {r.quantity} {r.ticker}, "
                        f"{r.status}) has no local row; left alone", r.client_order_id,
                        r.ticker, {"broker_order_id": r.broker_order_id}))
        return out

    # --- positions ----------------------------------------------------------------------------
    _last_broker_positions = 0

    def _compare_positions(self, u: UnitOfWork) -> list[Repair]:
        try:
            broker = {p.ticker: p.quantity for p in self._broker.get_positions()}
        except DomainError as exc:
            return [Repair(RepairKind.UNREACHABLE, f"broker positions failed: {exc}")]
        self._last_broker_positions = len(broker)
        local: dict[str, Decimal] = {}
        for p in u.positions.list_open():
            local[p.ticker] = local.get(p.ticker, ZERO) + p.signed_quantity
        out = []
        for t in sorted(set(broker) | set(local)):
            b, loc = broker.get(t, ZERO), local.get(t, ZERO)
            if abs(b - loc) > self._tol:
                out.append(Repair(RepairKind.POSITION_MISMATCH,
                                  f"{t}: local position {loc} but broker holds {b}; "
                                  "unexplained - trading halted", None, t,
                                  {"local": str(loc), "broker": str(b)}))
        return out

    def _halt(self, u: UnitOfWork, causes: list[Repair], now: datetime) -> None:
        st = RiskService.load(u)
        msg = f"{HALT_RULE}: " + "; ".join(r.message for r in causes)[:500]
        new = attrs.evolve(st, state=RiskState.HALTED,
                           tripped_rules=tuple(sorted(set(st.tripped_rules) | {HALT_RULE})),
                           reason=msg, tripped_at=now, updated_at=now)
        RiskService.save(u, new)
        u.journal.add_risk_event(RiskEvent(
            kind="trip", rule=HALT_RULE, message=msg, ts_event=now, state=RiskState.HALTED,
            value=RiskState.HALTED.value, limit=st.state.value, actor="reconciliation",
            data={"causes": [r.kind for r in causes]}))
        if self._notifier is not None:
            try:
                self._notifier.notify(Notification(
                    severity=Severity.CRITICAL, title="Trading HALTED by reconciliation",
                    body=msg, ts=now, data={"rule": HALT_RULE,
                                            "causes": [r.kind for r in causes]}))
            except Exception as exc:  # noqa: BLE001 - a notifier never stops reconciliation
                log.error("reconcile.notify_failed", error=str(exc))


class PeriodicReconciler:
    """Runs a :class:`Reconciler` at start and then every ``interval`` (call :meth:`tick`)."""

    def __init__(self, reconciler: Reconciler, clock: Clock,
                 interval: timedelta = timedelta(minutes=5)) -> None:
        self.reconciler = reconciler
        self._clock = clock
        self.interval = interval
        self._next: datetime | None = None
        self.last: ReconcileReport | None = None

    def tick(self) -> ReconcileReport | None:
        """Reconcile when due (always on the first call); return the report or None."""
        now = self._clock.now()
        if self._next is not None and now < self._next:
            return None
        self.last = self.reconciler.run()
        self._next = now + self.interval
        return self.last


def _event(r: Repair, ts: datetime) -> RiskEvent:
    data: dict[str, Any] = dict(r.data)
    if r.client_order_id:
        data["client_order_id"] = r.client_order_id
    if r.ticker:
        data["ticker"] = r.ticker
    return RiskEvent(kind="reconciliation", rule=r.kind, message=r.message, ts_event=ts,
                     state=RiskState.HALTED if r.kind in HALTING else None,
                     actor="reconciliation", data=data)
