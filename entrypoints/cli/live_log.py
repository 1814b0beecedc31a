"""One log line per signal, order, fill, refusal and halt of a real-time run.

The real-time loop (``catalyst run --broker alpaca``) runs unattended, so what it does is
logged as it happens, through the configured logging (the console format in a terminal, JSON
lines otherwise, on stderr):

- ``live.signal``: a signal the source released (ticker, action, confidence);
- ``live.order``: an order sent to the broker (client order id, ticker, side, quantity);
- ``live.order_status``: a status the broker reported (accepted, canceled, rejected...);
- ``live.fill``: a fill (quantity, price);
- ``live.refused``: a signal the executor refused or could not carry out, with the reason;
- ``live.halt``: the trading state became HALTED or REDUCING (or was so at start), or the
  kill file is set.

The broker and the signal source are wrapped (they keep every other behaviour); execution
results and the risk state are read after each engine step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import structlog

from application.execution.results import ExecutionResult, ExecutionStatus
from domain.events import OrderEvent, OrderFilled, OrderStatusChanged, RiskState
from domain.signal import Signal

log = structlog.get_logger("catalyst.live")

__all__ = ["LoggingBroker", "LoggingSource", "log_step_results", "watch_risk"]


class LoggingBroker:
    """A broker that logs each order it sends and each event it reports; the rest delegates."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def submit_order(self, request: Any) -> Any:
        """Send the order, then log it."""
        order = self._inner.submit_order(request)
        log.info("live.order", client_order_id=request.client_order_id, ticker=request.ticker,
                 side=str(getattr(request.side, "value", request.side)),
                 quantity=str(request.quantity))
        return order

    def poll_events(self) -> list[OrderEvent]:
        """Return the broker's events, logging fills and status changes."""
        events: list[OrderEvent] = self._inner.poll_events()
        for e in events:
            if isinstance(e, OrderFilled):
                log.info("live.fill", client_order_id=e.client_order_id, ticker=e.fill.ticker,
                         quantity=str(e.fill.quantity), price=str(e.fill.price))
            elif isinstance(e, OrderStatusChanged):
                log.info("live.order_status", client_order_id=e.client_order_id,
                         status=str(e.status.value), reason=e.reason or "")
        return events


class LoggingSource:
    """A signal source that logs each signal it releases; the rest delegates."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def poll(self, now: datetime) -> Sequence[Signal]:
        """Return the released signals, logging each."""
        signals = self._inner.poll(now)
        for s in signals:
            log.info("live.signal", signal_id=s.signal_id, ticker=s.ticker,
                     action=str(s.action.value), confidence=round(s.confidence, 4))
        return signals  # type: ignore[no-any-return]


_REFUSED = (ExecutionStatus.REJECTED, ExecutionStatus.FAILED)


def log_step_results(results: Sequence[ExecutionResult]) -> None:
    """Log each refused or failed execution of a step with its reason."""
    for r in results:
        if r.status in _REFUSED:
            log.warning("live.refused", signal_id=r.signal_id, status=str(r.status.value),
                        reason=r.reason)


def watch_risk(state: Callable[[], RiskState], kill_flag: Callable[[], bool]
               ) -> Callable[[], None]:
    """Return a check to call after each step: logs a change to REDUCING or HALTED (and the
    state at the first call when it is not ACTIVE), and a kill file when it appears."""
    last: list[RiskState | bool | None] = [None, False]

    def check() -> None:
        now, flag = state(), kill_flag()
        if now != last[0] and (now is not RiskState.ACTIVE or last[0] is not None):
            (log.info if now is RiskState.ACTIVE else log.warning)(
                "live.halt" if now is RiskState.HALTED else "live.risk_state",
                state=str(now.value), previous=str(last[0].value)
                if isinstance(last[0], RiskState) else "start")
        if flag and not last[1]:
            log.warning("live.halt", state="halted", reason="kill file set")
        last[0], last[1] = now, flag

    return check
