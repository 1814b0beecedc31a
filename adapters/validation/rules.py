"""The rule-strategy window runner of ``catalyst backtest-walk-forward``.

The rule strategy is the catalyst-alert strategy of
:func:`domain.analytics.sizing_backtest.trades_from_alerts` (enter at the first open after
an alert is known, long on positive and short on negative sentiment, leave at a stop
``stop_atr`` ATRs away, at a profit target ``target_atr`` ATRs away (0: none) or after
``hold_days`` sessions) sized by one of the sizing methods
and gated by a confidence ``threshold``. Every combination of a parameter grid is a
candidate; in each window the candidate with the best Sharpe ratio over the train window
is chosen and run on the test window. Trades are charged a round trip of the backtests'
cost model (commission and slippage of :data:`domain.costs.DEFAULT_COSTS`, both sides).

The random baseline is a candidate of the grid picked at random (seeded per window): what a
selection without information would have earned. Buy-and-hold holds every ticker in equal
weights.
"""

from __future__ import annotations

import itertools
import math
import random
import time
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import attrs
import numpy as np
from numpy.typing import NDArray

from domain.alerts import Alert
from domain.analytics import metrics as perf
from domain.analytics.sizing_backtest import DailyBars, TradeRecord, replay, trades_from_alerts
from domain.costs import DEFAULT_COSTS, CostModel
from domain.risk.sizing import SizingMethod
from domain.validation.jobs import WindowJob, WindowResult

__all__ = ["GRID_KEYS", "RuleWindowRunner", "expand_grid", "round_trip_cost", "rules_calendar"]

F64 = NDArray[np.float64]

#: Parameters a grid may sweep, with their checks.
GRID_KEYS = ("threshold", "sizing", "stop_atr", "target_atr", "hold_days")


def round_trip_cost(costs: CostModel = DEFAULT_COSTS) -> Decimal:
    """Return the fraction a round trip costs: commission and base slippage, both sides."""
    return Decimal(repr(2 * (costs.commission_bps + costs.base_slippage_bps) / 1e4))


def expand_grid(grid: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Return every combination of the grid's lists (a scalar is a one-value list).

    Raises
    ------
    ValueError
        An unknown key, an empty list or a value outside its range, naming it.
    """
    if not grid:
        raise ValueError(f"the grid is empty: expected some of {', '.join(GRID_KEYS)}")
    values: dict[str, list[Any]] = {}
    for k, v in grid.items():
        if k not in GRID_KEYS:
            raise ValueError(f"grid key {k!r} is unknown: expected one of {', '.join(GRID_KEYS)}")
        vs = list(v) if isinstance(v, list | tuple) else [v]
        if not vs:
            raise ValueError(f"grid key {k!r} has no values")
        for x in vs:
            _check(k, x)
        values[k] = vs
    keys = sorted(values)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(
        *(values[k] for k in keys))]


def _check(key: str, v: Any) -> None:
    ok = True
    if key == "threshold":
        ok = isinstance(v, int | float) and 0.0 <= float(v) <= 1.0
        want = "a confidence in [0, 1]"
    elif key == "sizing":
        ok = v in {m.value for m in SizingMethod}
        want = "one of " + ", ".join(m.value for m in SizingMethod)
    elif key in ("stop_atr", "target_atr"):
        ok = isinstance(v, int | float) and not isinstance(v, bool) and float(v) >= 0
        want = "an ATR multiple >= 0" + (" (0: no target)" if key == "target_atr" else "")
        ok = ok and (key == "target_atr" or float(v) > 0)
    else:
        ok = isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 60
        want = "a whole number of sessions in [1, 60]"
    if not ok:
        raise ValueError(f"grid key {key!r}: value {v!r} is not {want}")


def rules_calendar(bars: Mapping[str, DailyBars]) -> list[date]:
    """Return every session date of the bars, ascending."""
    return sorted({d for b in bars.values() for d in b.dates})


def _daily_returns(
    curve: Sequence[tuple[date, float]], days: Sequence[date], start: float
) -> F64:
    """Realised equity carried to each day of ``days``, as per-day returns."""
    by_day = dict(curve)
    v = start
    values = [start]
    for d in days:
        v = by_day.get(d, v)
        values.append(v)
    return np.asarray(perf.returns_from_equity(np.asarray(values)), dtype=np.float64)


def _sharpe(r: F64) -> float:
    sd = float(r.std(ddof=1)) if r.size > 1 else 0.0
    return float(r.mean()) / sd if sd > 0 else 0.0


def _metrics(r: F64) -> dict[str, float]:
    return {
        "total_return": float(np.prod(1 + r) - 1) if r.size else 0.0,
        "annual_return": perf.annual_return(r),
        "sharpe": perf.sharpe_ratio(r),
        "max_drawdown": perf.max_drawdown(r),
    }


@attrs.frozen(kw_only=True)
class RuleWindowRunner:
    """Choose a grid candidate on each train window and test it (module docstring)."""

    bars: Mapping[str, DailyBars]
    alerts: tuple[Alert, ...]
    calendar: tuple[date, ...]
    grid: tuple[Mapping[str, Any], ...]
    equity: float = 100_000.0
    seed: int = 0
    cost: Decimal = attrs.field(factory=round_trip_cost)

    def _trades(
        self, params: Mapping[str, Any], cache: dict[tuple[int, float], list[TradeRecord]]
    ) -> list[TradeRecord]:
        """The candidate's trades: those of its exits, with a confidence at its threshold."""
        key = (int(params.get("hold_days", 5)), float(params.get("stop_atr", 2.0)))
        if key not in cache:
            cache[key] = trades_from_alerts(
                dict(self.bars), self.alerts, hold_days=key[0], stop_atr=key[1],
                cost_pct=self.cost,
            )
        threshold = float(params.get("threshold", 0.0))
        target = float(params.get("target_atr", 0.0))
        out = [t for t in cache[key] if t.confidence >= threshold]
        return [self._with_target(t, target) for t in out] if target > 0 else out

    def _with_target(self, t: TradeRecord, target_atr: float) -> TradeRecord:
        """Leave at a profit target ``target_atr`` ATRs from the entry if it is reached first.

        The session of the original exit keeps it when the stop was hit there (the stop is
        assumed to fill first); a session that opens beyond the target fills at its open.
        """
        if t.atr is None:
            return t
        bar = self.bars[t.ticker]
        index = {d: i for i, d in enumerate(bar.dates)}
        first, last = index.get(t.opened_at.date()), index.get(t.closed_at.date())
        if first is None or last is None:
            return t
        entry, atr = float(t.entry_price), float(t.atr)
        long = t.side.sign > 0
        target = entry + target_atr * atr if long else entry - target_atr * atr
        stop_day_hit = t.exit_price != Decimal(repr(round(float(bar.close[last]), 6)))
        for k in range(first, last + 1):
            if k == last and stop_day_hit:
                break
            hit = bar.high[k] >= target if long else bar.low[k] <= target
            if hit:
                gap = bar.open[k] >= target if long else bar.open[k] <= target
                px = float(bar.open[k]) if gap and k > first else target
                closed = datetime.combine(bar.dates[k], datetime.max.time(),
                                          t.closed_at.tzinfo)
                return attrs.evolve(t, exit_price=Decimal(repr(round(max(px, 0.01), 6))),
                                    closed_at=closed)
        return t

    def _returns(self, trades: Sequence[TradeRecord], params: Mapping[str, Any],
                 days: Sequence[date]) -> F64:
        lo, hi = days[0], days[-1]
        inside = [t for t in trades if lo <= t.opened_at.date() and t.closed_at.date() <= hi]
        res = replay(inside, SizingMethod(params.get("sizing", "confidence")),
                     starting_equity=Decimal(repr(self.equity)))
        return _daily_returns(res.equity_curve, days, self.equity)

    def __call__(self, job: WindowJob) -> WindowResult:
        """Run the grid on the train bars, the chosen candidate on the test bars."""
        started = time.perf_counter()
        a, b, c, d = job.bars
        train_days, test_days = self.calendar[a:b], self.calendar[c:d]
        cands: list[dict[str, Any]] = []
        cache: dict[tuple[int, float], list[TradeRecord]] = {}
        for params in self.grid:
            trades = self._trades(params, cache)
            is_r = self._returns(trades, params, train_days)
            oos = self._returns(trades, params, test_days)
            cands.append({
                "label": ", ".join(f"{k}={v}" for k, v in params.items()),
                "params": dict(params),
                "is_sharpe": _sharpe(is_r),
                "is_annual_return": perf.annual_return(is_r),
                "oos_returns": [float(x) for x in oos],
            })
        chosen = int(np.argmax([x["is_sharpe"] for x in cands]))
        pick = random.Random(self.seed * 1_000_003 + job.index).randrange(len(cands))
        oos = np.asarray(cands[chosen]["oos_returns"])
        rnd = np.asarray(cands[pick]["oos_returns"])
        bh = self._buy_and_hold(test_days)
        return WindowResult(
            index=job.index, train_start=job.train_start, train_end=job.train_end,
            test_start=job.test_start, test_end=job.test_end, chosen=chosen,
            metrics=_metrics(oos),
            baselines={"buy_and_hold": _metrics(bh), "random": _metrics(rnd)},
            oos_returns=tuple(float(x) for x in oos),
            bh_returns=tuple(float(x) for x in bh),
            random_returns=tuple(float(x) for x in rnd),
            candidates=tuple(cands),
            seconds=round(time.perf_counter() - started, 3),
        )

    def _buy_and_hold(self, days: Sequence[date]) -> F64:
        """Equal-weight buy-and-hold of every ticker with bars in ``days`` (one cost paid)."""
        curves = []
        for bar in self.bars.values():
            idx = {dd: i for i, dd in enumerate(bar.dates)}
            closes = [bar.close[idx[dd]] if dd in idx else math.nan for dd in days]
            arr = np.asarray(closes, dtype=np.float64)
            if np.isfinite(arr).sum() < 2:
                continue
            first = int(np.argmax(np.isfinite(arr)))
            arr[:first] = arr[first]
            for i in range(1, len(arr)):
                if not np.isfinite(arr[i]):
                    arr[i] = arr[i - 1]
            curves.append(arr / arr[0])
        if not curves:
            return np.zeros(max(len(days) - 1, 0), dtype=np.float64)
        eq = np.mean(curves, axis=0) * (1 - float(self.cost) / 2)
        eq = np.concatenate([[1.0], eq])
        return np.asarray(perf.returns_from_equity(eq), dtype=np.float64)
