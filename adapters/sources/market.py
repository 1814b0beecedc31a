"""Market data for the engine: daily bars from OHLCV files, replayed into a broker and feed.

Daily bars are stamped with their session's close (XNYS, early closes included), so an order
placed on a bar can only trade from the next session's open: no look-ahead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import numpy as np

from adapters.data.calendar import session_bounds_ns
from adapters.data.ohlcv import load_ohlcv
from application.engine import BarReplay, MarketStep
from application.ports import UnitOfWork
from domain.clock import TestClock
from domain.events import Fill
from domain.market import Bar
from domain.portfolio import Ledger

__all__ = ["LedgerBroker", "load_daily_bars", "replay_into", "restore_ledger"]


def load_daily_bars(path: str | Path, calendar: str = "XNYS", *,
                    ticker: str | None = None) -> list[Bar]:
    """Return the bars of an OHLCV CSV/Parquet file, each stamped at its session's close.

    Rows with a missing or non-positive price are dropped; ``ticker`` names the ticker of a
    file without a ticker column.
    """
    df = load_ohlcv(path, ticker=ticker)
    df = df.dropna(subset=["open", "high", "low", "close"])
    df = df[(df["open"] > 0) & (df["high"] > 0) & (df["low"] > 0) & (df["close"] > 0)]
    if df.empty:
        return []
    dates = df["date"].to_numpy("datetime64[ns]")
    uniq, inv = np.unique(dates, return_inverse=True)
    _, closes = session_bounds_ns(uniq, calendar)
    stamps = [datetime.fromtimestamp(int(ns) // 1_000_000_000, tz=UTC) for ns in closes]
    out: list[Bar] = []
    tickers = df["ticker"].to_numpy()
    cols = [df[c].to_numpy(np.float64) for c in ("open", "high", "low", "close", "volume")]
    o, h, lo, c, v = cols
    for i in range(len(df)):
        out.append(Bar(str(tickers[i]), stamps[int(inv[i])], float(o[i]), float(h[i]),
                       float(lo[i]), float(c[i]), float(v[i]) if np.isfinite(v[i]) else 0.0))
    out.sort(key=lambda b: (b.ts, b.ticker))
    return out


class _BarSink(Protocol):
    def push_bar(self, bar: Bar) -> None: ...


def replay_into(
    bars: Iterable[Bar], broker: _BarSink, clock: TestClock, *, speed: float = 0.0,
    extra: Iterable[Callable[[MarketStep], None]] = (),
) -> BarReplay:
    """Return a replay that moves ``clock`` to each step and pushes its bars into ``broker``
    (a simulated exchange or fake that is also the price feed)."""

    end_step = getattr(broker, "advance_to", None)

    def step(s: MarketStep) -> None:
        if s.ts > clock.now():
            clock.set(s.ts)
        for b in s.bars.values():
            broker.push_bar(b)
        if end_step is not None:  # every bar of the step is matched: the session's orders end
            end_step(s.ts)

    sinks = [step, *extra]
    return BarReplay(bars, sinks, sinks, speed=speed)


class LedgerBroker(Protocol):
    """A broker whose money lives in a domain :class:`Ledger` (simulated exchange, fakes)."""

    ledger: Ledger


def restore_ledger(broker: object, uow: UnitOfWork) -> int:
    """Rebuild an in-process broker's ledger from the fills stored in the database.

    An in-process exchange loses its cash and positions with the process; after a restart the
    stored fills (the audit trail) are the truth, so they are replayed into its ledger in time
    order. Returns the number of fills applied.
    """
    ledger: Ledger | None = getattr(broker, "ledger", None)
    if ledger is None:
        return 0
    fills: list[Fill] = []
    for order in uow.orders.list():
        fills.extend(uow.fills.for_order(order.client_order_id))
    fills.sort(key=lambda f: (f.ts_event, f.fill_id))
    n = 0
    for f in fills:
        if f.fill_id in ledger.seen_fills:
            continue
        ledger.apply_fill(f)
        n += 1
    if hasattr(broker, "cash_f"):  # the simulated exchange's float shadows
        setattr(broker, "cash_f", float(ledger.cash))  # noqa: B010
        setattr(broker, "pos_f",  # noqa: B010
                {t: float(p.signed_quantity) for t, p in ledger.positions.items()})
    return n
