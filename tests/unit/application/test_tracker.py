"""The portfolio tracker: one snapshot per day, daily and cumulative P&L, metrics per period."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from adapters.memory.uow import InMemoryUnitOfWork
from application.tracker import PortfolioTracker
from domain.account import Account


def test_tracker_when_days_pass_then_daily_and_cumulative_pnl_and_periods_stored() -> None:
    uow = InMemoryUnitOfWork()
    tr = PortfolioTracker("r1")
    t = datetime(2024, 1, 2, 21, tzinfo=UTC)
    equities = [100_000, 101_000, 100_500, 102_000]
    with uow as u:
        for i, e in enumerate(equities):
            acct = Account(cash=Decimal(e), equity=Decimal(e), buying_power=Decimal(e))
            tr.snapshot(acct, t + timedelta(days=i), u, 0)
            tr.snapshot(acct, t + timedelta(days=i, minutes=1), u, 0)  # same day: replaced
        recs = tr.compute(u)
        u.commit()
        snaps = u.reports.snapshots()
    assert [s.daily_pnl for s in snaps] == [0, 1000, -500, 1500]
    assert snaps[-1].cumulative_pnl == 2000
    (all_time,) = recs["all"]
    assert all_time.metrics["pnl"] == pytest.approx(2000.0)
    assert len(recs["daily"]) == 4
    with uow as u:
        assert len(u.reports.metrics("all")) == 1
