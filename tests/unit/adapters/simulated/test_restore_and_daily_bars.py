"""Restoring the simulated exchange from stored fills; the array driver over daily files."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pandas as pd

from adapters.sources.market import ArrayReplay, DailyBars, load_daily_bars, replay_into
from domain.clock import TestClock
from domain.commands import SubmitOrder
from domain.events import OrderFilled
from tests.unit.adapters.simulated.conftest import MIN, T0, make, step

D = Decimal


def _traded() -> list:
    ex, clock = make()
    step(ex, clock, T0, "XYZ", 100, 100, 100, 100)
    ex.submit_order(SubmitOrder(client_order_id="a", ticker="XYZ", side="buy",  # type: ignore[arg-type]
                                quantity=D(10)))
    step(ex, clock, T0 + MIN, "XYZ", 101, 102, 100, 101)
    ex.submit_order(SubmitOrder(client_order_id="b", ticker="XYZ", side="sell",  # type: ignore[arg-type]
                                quantity=D(4)))
    step(ex, clock, T0 + 2 * MIN, "XYZ", 103, 103, 103, 103)
    return [e.fill for e in ex.poll_events() if isinstance(e, OrderFilled)]


def test_restore_when_fills_replayed_then_book_and_float_shadows_match() -> None:
    fills = _traded()
    assert len(fills) == 2
    ex, _ = make()
    assert ex.restore(reversed(fills)) == 2  # any order: applied in time order
    assert ex.ledger.cash == D(100_000) - D(10) * fills[0].price + D(4) * fills[1].price
    assert ex.cash_f == float(ex.ledger.cash)
    assert ex.pos_f == {"XYZ": 6.0}
    assert ex.restore(fills) == 0  # seen fills are skipped


def _write(tmp: Path, name: str, shuffle: bool) -> Path:
    rows = []
    for d in pd.bdate_range("2024-01-02", periods=30):
        for t, base in (("BBB", 50.0), ("AAA", 10.0), ("CCC", 5.0)):
            if t == "CCC" and d.day % 3 == 0:
                continue
            rows.append({"date": d.strftime("%Y-%m-%d"), "ticker": t, "open": base,
                         "high": base + 1, "low": base - 1, "close": base + 0.5,
                         "volume": 1000.0})
    rows.append({"date": "2024-01-03", "ticker": "AAA", "open": -1.0, "high": 1, "low": 1,
                 "close": 1, "volume": 1.0})  # dropped, like load_daily_bars drops it
    df = pd.DataFrame(rows)
    if shuffle:
        df = df.sample(frac=1.0, random_state=3)
    path = tmp / name
    if name.endswith(".parquet"):
        df.to_parquet(path, index=False)
    else:
        df.to_csv(path, index=False)
    return path


def _steps_of(driver) -> list[tuple[datetime, list]]:  # type: ignore[no-untyped-def]
    return [(s.ts, [s.bars[t] for t in sorted(s.bars)]) for s in driver.steps(None)]


def test_array_replay_when_any_file_then_same_steps_and_bars_as_domain_replay(
        tmp_path: Path) -> None:
    for name, shuffle, batch in (("p.parquet", False, 7), ("q.parquet", True, 7),
                                 ("c.csv", True, 65_536)):
        path = _write(tmp_path, name, shuffle)
        bars = load_daily_bars(path)
        ex1, _ = make()
        ref = _steps_of(replay_into(bars, ex1, TestClock(bars[0].ts)))
        data = DailyBars(path, batch_rows=batch)
        ex2, _ = make()
        drv = ArrayReplay(data, ex2, TestClock(bars[0].ts))
        assert _steps_of(drv) == ref
        assert data.rows == len(bars) and data.tickers == ["AAA", "BBB", "CCC"]
        assert len(drv) == len(ref) and drv.remaining(ref[9][0]) == len(ref) - 10
        assert ex1.marks == ex2.marks


def test_array_replay_when_primed_then_steps_resume_after_cursor(tmp_path: Path) -> None:
    path = _write(tmp_path, "p.parquet", False)
    data = DailyBars(path, batch_rows=5)
    ex, _ = make()
    clock = TestClock(datetime(2024, 1, 1, tzinfo=UTC))
    drv = ArrayReplay(data, ex, clock)
    all_ts = [s.ts for s in ArrayReplay(data, make()[0], TestClock(clock.now())).steps(None)]
    drv.prime(all_ts[4])
    assert clock.now() == all_ts[4] and ex.latest_bar("AAA") is not None
    assert [s.ts for s in drv.steps(all_ts[4])] == all_ts[5:]
