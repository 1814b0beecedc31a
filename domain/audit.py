"""Audit records: what the engine did and why, one row per attempt, success or not."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType
from typing import Any

import attrs


def _freeze(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(value or {}))


class Severity(StrEnum):
    """How loud a notification is."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


@attrs.frozen(kw_only=True)
class ExecutionRecord:
    """One step of the execution pipeline for one signal (the tickets' ``execution_log``)."""

    ts: datetime
    ticker: str
    action: str
    stage: str  # validate | size | plan | risk | persist | submit | fill | cancel | exit
    success: bool
    signal_id: str | None = None
    signal_confidence: float | None = None
    catalyst_score: float | None = None
    client_order_id: str | None = None
    position_id: str | None = None
    error_message: str | None = None
    elapsed_seconds: float | None = None
    entry_price: Decimal | None = None
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None
    quantity: Decimal | None = None
    metadata: Mapping[str, Any] = attrs.field(factory=dict, converter=_freeze)


@attrs.frozen(kw_only=True)
class Notification:
    """A message for people: a breaker trip, a kill, a resume, a rejected order."""

    severity: Severity
    title: str
    body: str
    ts: datetime
    data: Mapping[str, Any] = attrs.field(factory=dict, converter=_freeze)


@attrs.frozen(kw_only=True)
class PortfolioSnapshot:
    """The portfolio at one moment (the tickets' ``portfolio_snapshots``; daily by default)."""

    ts: datetime
    cash: Decimal
    equity: Decimal
    long_market_value: Decimal
    short_market_value: Decimal
    open_positions: int
    daily_pnl: Decimal
    cumulative_pnl: Decimal
    run_id: str | None = None


@attrs.frozen(kw_only=True)
class PerformanceRecord:
    """Performance metrics over one period (the tickets' ``performance_metrics``)."""

    period: str  # daily | weekly | monthly | all
    period_start: datetime
    period_end: datetime
    metrics: Mapping[str, Any] = attrs.field(factory=dict, converter=_freeze)
    run_id: str | None = None


@attrs.frozen(kw_only=True)
class RunRecord:
    """One engine run: what kind, with which parameters, when, and how it ended."""

    run_id: str
    kind: str  # backtest | run | replay | train | ...
    started_at: datetime
    params: Mapping[str, Any] = attrs.field(factory=dict, converter=_freeze)
    finished_at: datetime | None = None
    status: str = "running"  # running | finished | interrupted | failed
