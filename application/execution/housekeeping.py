"""Housekeeping of working orders: poll for missed terminal states, cancel orders past their
fill timeout (a partial fill is kept), and re-send orders the broker never saw."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import structlog

from application.execution.submit import ExecutorCore, S
from application.ports import UnitOfWork
from domain.errors import BrokerError, OrderNotFound
from domain.events import OrderStatusChanged
from domain.orders import Order

log = structlog.get_logger("application.executor")

__all__ = ["Housekeeping"]


class Housekeeping(ExecutorCore):
    """Periodic care of the open orders."""

    def housekeeping(self, uow: UnitOfWork, now: datetime) -> list[str]:
        """Cancel orders past their fill timeout and retry orders the broker never saw."""
        if self._may_have_open is False:
            return []
        open_orders = uow.orders.list(open_only=True)
        self._may_have_open = bool(open_orders)
        if not open_orders:
            return []
        closed = self.poll_open(uow, now, open_orders)
        still = [o for o in open_orders if o.client_order_id not in closed]
        out = self.cancel_stale(uow, now, still)
        self.retry_unsent(uow, now, still)
        return out

    def poll_open(self, uow: UnitOfWork, now: datetime, open_orders: Sequence[Order]
                  ) -> set[str]:
        """Polling fallback for missed events: adopt a terminal status the broker reports for
        an order we still think is working (fills only ever come from fill events, which carry
        their ids; an order whose broker fill count is ahead of ours is left to them).
        Returns the client order ids it closed."""
        closed: set[str] = set()
        for order in open_orders:
            if order.broker_order_id is None:
                continue
            report = self._lookup(order.client_order_id)
            if report is None or report.status not in (S.CANCELED, S.EXPIRED, S.REJECTED):
                continue
            if report.filled_qty != order.filled_qty:
                continue
            fresh = uow.orders.get(order.client_order_id)
            if fresh is not None and fresh.is_open:
                self._move(fresh, OrderStatusChanged(
                    client_order_id=order.client_order_id, ts_event=now,
                    broker_order_id=report.broker_order_id, status=report.status,
                    reason=report.reject_reason or "reported by broker (polled)"), uow)
                closed.add(order.client_order_id)
        return closed

    def cancel_stale(self, uow: UnitOfWork, now: datetime,
                     open_orders: Sequence[Order] | None = None) -> list[str]:
        """Cancel orders working longer than ``fill_timeout``; partial fills are kept."""
        out: list[str] = []
        orders = uow.orders.list(open_only=True) if open_orders is None else open_orders
        for order in orders:
            if now - order.created_at < self.config.fill_timeout:
                continue
            try:
                self.broker.cancel_order(order.client_order_id)
                out.append(order.client_order_id)
            except OrderNotFound:
                self._move(order, OrderStatusChanged(client_order_id=order.client_order_id,
                                                     ts_event=now, status=S.CANCELED,
                                                     reason="unknown to broker at timeout"), uow)
            except BrokerError as exc:
                log.warning("executor.cancel_failed", client_order_id=order.client_order_id,
                            error=str(exc))
        return out

    def retry_unsent(self, uow: UnitOfWork, now: datetime,
                     open_orders: Sequence[Order] | None = None) -> None:
        """Orders left SUBMITTED without a broker answer: look them up, send if never seen."""
        orders = uow.orders.list(open_only=True) if open_orders is None else open_orders
        for order in orders:
            if order.status in (S.INITIALIZED, S.SUBMITTED) and order.broker_order_id is None:
                self._resolve(order, uow, now)


