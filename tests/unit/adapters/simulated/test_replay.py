"""Replay engine: merging, streaming, the strategy API and the sparse (event-skipping) mode."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.data.ohlcv import load_ohlcv
from adapters.simulated import ExchangeConfig, SimulatedExchange
from adapters.simulated.examples import SmaCross
from adapters.simulated.replay import (
    ArraySource,
    BarView,
    CsvSource,
    EquityRecorder,
    ReplayClock,
    ReplayEngine,
    StrategyContext,
    StrategySignalSource,
    run_strategy,
)
from adapters.simulated.sparse import SparseReplay
from domain.commands import SubmitOrder
from domain.events import OrderFilled
from domain.signal import Signal

SAMPLE = Path(__file__).resolve().parents[4] / "adapters" / "data" / "sample" / "prices_daily.csv"
MINUTE = Path("/work/shared/data/prices_minute_spy_2011.csv")


def test_merge_when_two_sources_interleave_then_steps_in_time_order_grouped() -> None:
    a = ArraySource("AAA", [1, 3, 5, 7], [1.0] * 4, [1.0] * 4, [1.0] * 4, [1.0] * 4, [1.0] * 4,
                    chunk_size=2)
    b = ArraySource("BBB", [2, 3, 6], [2.0] * 3, [2.0] * 3, [2.0] * 3, [2.0] * 3, [2.0] * 3,
                    chunk_size=1)
    rep = ReplayEngine([a, b])
    got = [(ts, [r[0] for r in rows]) for ts, rows in rep.steps()]
    assert got == [(1, ["AAA"]), (2, ["BBB"]), (3, ["AAA", "BBB"]), (5, ["AAA"]),
                   (6, ["BBB"]), (7, ["AAA"])]
    assert rep.clock.ns == 7


def test_csv_when_streamed_in_small_chunks_then_same_rows_as_one_chunk(tmp_path: Path) -> None:
    if not MINUTE.exists():
        pytest.skip("shared minute data not present")
    small = tmp_path / "spy.csv"
    with MINUTE.open() as f:
        small.write_text("".join(next(f) for _ in range(3001)))
    whole = [(ts, rows) for ts, rows in ReplayEngine(CsvSource(small, chunk_size=10**6)).steps()]
    parts = [(ts, rows) for ts, rows in ReplayEngine(CsvSource(small, chunk_size=97)).steps()]
    assert whole == parts and len(whole) == 3000
    first_ts = whole[0][0]
    # 09:01 UTC bar start -> the bar ends at 09:02
    assert first_ts == int(np.datetime64("2011-01-03T09:02", "ns").astype(np.int64))


def test_daily_frame_when_replayed_then_bars_stamped_at_session_close_incl_early() -> None:
    df = load_ohlcv(SAMPLE)
    src = ArraySource.from_frame(df[df["ticker"].isin(["AAPL", "MSFT"])])
    steps = list(ReplayEngine(src).steps())
    assert all(len(rows) == 2 for _, rows in steps[:50])
    stamps = {datetime.fromtimestamp(ts / 1e9, UTC) for ts, _ in steps}
    # the day after Thanksgiving 2013 closed at 13:00 New York (18:00 UTC)
    assert datetime(2013, 11, 29, 18, 0, tzinfo=UTC) in stamps


def test_sma_strategy_when_replayed_on_sample_then_trades_and_equity_per_bar() -> None:
    df = load_ohlcv(SAMPLE)
    aapl = df[df["ticker"] == "AAPL"]
    clock = ReplayClock()
    ex = SimulatedExchange(ExchangeConfig(starting_cash=Decimal(1_000_000)), clock=clock)
    eq = EquityRecorder()
    strat = SmaCross()
    run_strategy(ReplayEngine(ArraySource.from_frame(aapl), clock), ex, strat, eq)
    fills = [e for e in ex.poll_events() if isinstance(e, OrderFilled)]
    assert len(eq.equity) == len(aapl) and len(fills) >= strat.signals - 1 > 10
    assert float(ex.get_account().equity) == pytest.approx(eq.equity[-1])


def test_signal_source_when_strategy_returns_signals_then_polled_once() -> None:
    def strat(bar: BarView, ctx: StrategyContext) -> list[Signal] | None:
        if bar.index % 2 == 0:
            return [Signal(signal_id=f"s{bar.index}", ticker=bar.ticker, action="buy",
                           confidence=0.9, ts=bar.ts)]
        return None

    ex = SimulatedExchange(ExchangeConfig(calendar=None))
    src = StrategySignalSource(strat, ex)
    ones = [1.0] * 4
    rep = ReplayEngine(ArraySource("XYZ", [10**9 * k for k in range(1, 5)], ones, ones, ones,
                                   ones, ones))
    for ts, rows in rep.steps():
        src.feed(ts, rows)
    assert [s.signal_id for s in src.poll(datetime(1970, 1, 1, 0, 0, 2, tzinfo=UTC))] == ["s0"]
    assert [s.signal_id for s in src.poll(datetime(2000, 1, 1, tzinfo=UTC))] == ["s2"]
    assert src.poll(datetime(2000, 1, 1, tzinfo=UTC)) == []


def _random_bars(seed: int, n: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    close = np.round(100 * np.exp(np.cumsum(rng.normal(0, 0.02, n))), 2)
    op = np.round(np.r_[100.0, close[:-1]] * (1 + rng.normal(0, 0.005, n)), 2)
    hi = np.round(np.maximum(op, close) * (1 + rng.uniform(0, 0.02, n)), 2)
    lo = np.round(np.minimum(op, close) * (1 - rng.uniform(0, 0.02, n)), 2)
    ts = np.int64(1_600_000_000) * 10**9 + np.arange(1, n + 1, dtype=np.int64) * 60 * 10**9
    return ts, op, hi, lo, close, rng.integers(50, 2000, n).astype(float)


def _entry(kind: int) -> object:
    def on_signal(bar: BarView, ctx: StrategyContext) -> None:
        px = round(bar.close, 2)
        n = bar.index
        if ctx.position(bar.ticker) > 0:
            ctx.close(bar.ticker)
        elif kind == 0:
            ctx.buy(bar.ticker, 20, order_class="bracket", take_profit_price=round(px * 1.04, 2),
                    stop_loss_price=round(px * 0.97, 2), time_in_force="gtc")
        elif kind == 1:
            if ctx.buy(bar.ticker, 15, time_in_force="gtc"):
                ctx.exchange.submit(SubmitOrder(
                    client_order_id=f"trail-{n}", ticker=bar.ticker, side="sell", quantity=15,
                    order_type="trailing_stop", trail_percent=Decimal(3), time_in_force="gtc"))
        else:
            ctx.buy(bar.ticker, 10, order_type="limit", limit_price=round(px * 0.98, 2),
                    time_in_force="gtc")
    return on_signal


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 10_000), st.integers(0, 2), st.sampled_from([None, 0.1]))
def test_sparse_when_compared_with_dense_then_same_fills_and_equity(
    seed: int, kind: int, cap: float | None
) -> None:
    ts, o, h, lo, c, v = _random_bars(seed, 400)
    sig = np.sort(np.random.default_rng(seed + 1).choice(400, 12, replace=False))
    cfg = ExchangeConfig(calendar=None, participation=cap, history=0,
                         margin_multiplier=Decimal(4))
    # dense: every bar through on_bar, the callback at the same bars
    dclock = ReplayClock()
    dense = SimulatedExchange(cfg, clock=dclock)
    cb = _entry(kind)
    ctx = StrategyContext(dense, "sparse")
    view = BarView()
    eq_dense = np.empty(len(ts))
    sigset = set(sig.tolist())
    rows = list(zip(ts.tolist(), o.tolist(), h.tolist(), lo.tolist(), c.tolist(), v.tolist(),
                    strict=True))
    for i, (t, oo, hh, ll, cc, vv) in enumerate(rows):
        dclock.set_ns(t)
        dense.on_bar("XYZ", t, oo, hh, ll, cc, vv)
        if i in sigset:
            view.ticker, view.ts_ns, view.index = "XYZ", t, i
            view.open, view.high, view.low, view.close, view.volume = oo, hh, ll, cc, vv
            cb(view, ctx)  # type: ignore[operator]
        eq_dense[i] = dense.equity_f()
    sclock = ReplayClock()
    sparse = SimulatedExchange(cfg, clock=sclock)
    eq_sparse = SparseReplay(sparse, "XYZ", ts, o, h, lo, c, v).run(sig, _entry(kind))  # type: ignore[arg-type]

    def fills(ex: SimulatedExchange) -> list[tuple[object, ...]]:
        return [(e.fill.fill_id, e.fill.price, e.fill.quantity, e.ts_event)
                for e in ex.poll_events() if isinstance(e, OrderFilled)]

    assert fills(sparse) == fills(dense)
    np.testing.assert_allclose(eq_sparse, eq_dense, rtol=1e-12)
