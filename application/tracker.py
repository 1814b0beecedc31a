"""The portfolio tracker: daily snapshots, daily and cumulative P&L, metrics per period.

One snapshot per trading day (the last step of the day wins: snapshots are keyed by the day),
stored through ``uow.reports``; metrics per day, ISO week, month and all time are computed from
the snapshots' equity and the closed positions and stored in ``performance_metrics``.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from application.ports import UnitOfWork
from application.risk import new_york_session
from domain.account import Account
from domain.analytics.metrics import summary
from domain.audit import PerformanceRecord, PortfolioSnapshot
from domain.position import ClosedPosition

__all__ = ["PERIODS", "PortfolioTracker", "period_start"]

PERIODS = ("daily", "weekly", "monthly", "all")
START_KEY = "tracker:start_equity"


def _day_ts(d: date) -> datetime:
    return datetime.combine(d, time(0), tzinfo=UTC)


def period_start(d: date, period: str) -> date:
    """Return the first day of the period containing ``d``."""
    if period == "daily":
        return d
    if period == "weekly":
        return d - timedelta(days=d.weekday())
    if period == "monthly":
        return d.replace(day=1)
    raise ValueError(f"period {period!r}: expected daily, weekly or monthly")


class PortfolioTracker:
    """Snapshots and metrics for one run."""

    def __init__(self, run_id: str | None = None,
                 session_day: Callable[[datetime], date] = new_york_session) -> None:
        self.run_id = run_id
        self._session_day = session_day
        self._start: Decimal | None = None
        self._day: date | None = None
        self._day_equity: Decimal | None = None  # last equity of the current day
        self._prev_equity: Decimal | None = None  # last equity of the previous day

    def snapshot(self, account: Account, now: datetime, uow: UnitOfWork, open_positions: int
                 ) -> PortfolioSnapshot:
        """Store the snapshot of the day of ``now`` (replacing an earlier one of the same day)."""
        if self._start is None:
            start_raw = uow.state.get(f"{START_KEY}:{self.run_id}")
            if start_raw is None:
                uow.state.set(f"{START_KEY}:{self.run_id}", str(account.equity))
                self._start = account.equity
            else:
                self._start = Decimal(start_raw)
        start = self._start
        day = self._session_day(now)
        ts = _day_ts(day)
        if self._day != day:
            if self._day is None:  # first step of this process: ask the store
                prev = uow.reports.snapshots(until=ts - timedelta(seconds=1))
                self._prev_equity = prev[-1].equity if prev else start
            else:
                self._prev_equity = self._day_equity
            self._day = day
        self._day_equity = account.equity
        prev_equity = self._prev_equity if self._prev_equity is not None else start
        snap = PortfolioSnapshot(
            ts=ts, cash=account.cash, equity=account.equity,
            long_market_value=account.long_market_value,
            short_market_value=account.short_market_value, open_positions=open_positions,
            daily_pnl=account.equity - prev_equity, cumulative_pnl=account.equity - start,
            run_id=self.run_id,
        )
        uow.reports.add_snapshot(snap)
        return snap

    def snapshots(self, uow: UnitOfWork) -> list[PortfolioSnapshot]:
        """Return this run's snapshots (those of the unit of work's run) in time order."""
        return uow.reports.snapshots()

    def compute(self, uow: UnitOfWork, periods: tuple[str, ...] = PERIODS
                ) -> dict[str, list[PerformanceRecord]]:
        """Compute and store metrics for every period; return them by period."""
        snaps = self.snapshots(uow)
        closed = uow.positions.list_closed()
        out: dict[str, list[PerformanceRecord]] = {}
        if not snaps:
            return {p: [] for p in periods}
        start_raw = uow.state.get(f"{START_KEY}:{self.run_id}")
        start_equity = float(start_raw) if start_raw else float(snaps[0].equity)
        closed_in = _ClosedIndex(closed)
        days = [s.ts.date() for s in snaps]
        equities = [float(s.equity) for s in snaps]
        for period in periods:
            recs: list[PerformanceRecord] = []
            # each period's snapshots as a [start, end) range of indices (snapshots are in
            # time order, so a period's days are consecutive)
            groups: dict[date, list[int]] = {}
            if period == "all":
                groups[days[0]] = [0, len(snaps)]
            else:
                for i, d in enumerate(days):
                    key = period_start(d, period)
                    if key in groups:
                        groups[key][1] = i + 1
                    else:
                        groups[key] = [i, i + 1]
            prev_end = start_equity
            for key, (a, b) in groups.items():
                first, last = snaps[a].ts, snaps[b - 1].ts
                base = start_equity if period == "all" else prev_end
                equity = [base, *equities[a:b]]
                in_period = closed_in(first, last + timedelta(days=1))
                rec = PerformanceRecord(
                    period=period, period_start=_day_ts(key), period_end=last,
                    metrics=summary(equity, in_period), run_id=self.run_id,
                )
                uow.reports.save_metrics(rec)
                recs.append(rec)
                prev_end = equities[b - 1]
            out[period] = recs
        return out


class _ClosedIndex:
    """The closed positions with ``start <= closed_at < end``, in their given order, found by
    bisection (a run has a metrics row for every day, week and month)."""

    def __init__(self, closed: list[ClosedPosition]) -> None:
        self._closed = closed
        self._order = sorted(range(len(closed)), key=lambda i: closed[i].closed_at)
        self._at = [closed[i].closed_at for i in self._order]

    def __call__(self, start: datetime, end: datetime) -> list[ClosedPosition]:
        lo, hi = bisect_left(self._at, start), bisect_left(self._at, end)
        return [self._closed[i] for i in sorted(self._order[lo:hi])]
