"""A step's bars through ``process_bars`` (the bars of tickers without a working order
recorded in bulk) leave the exchange exactly as ``on_bar`` per bar and ``end_step`` do."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.simulated import ExchangeConfig, SimulatedExchange
from adapters.simulated.sessions import dt_from_ns, ns_from_dt
from domain.clock import TestClock
from domain.commands import SubmitOrder
from domain.errors import DomainError

_TICKERS = ("AAA", "BBB", "CCC", "DDD")
# New York closes (21:00 UTC) of consecutive sessions, a mid-session time between them
_CLOSES = [ns_from_dt(datetime(2024, 1, d, 21, tzinfo=UTC)) for d in (2, 3, 4, 5, 8, 9)]
_HOUR = 3_600_000_000_000


@st.composite
def orders(draw: st.DrawFn, k: int) -> dict[str, Any]:
    kind = draw(st.sampled_from(["market", "limit", "stop", "bracket"]))
    side = draw(st.sampled_from(["buy", "sell"]))
    spec: dict[str, Any] = {
        "client_order_id": f"o{k}", "ticker": draw(st.sampled_from(_TICKERS)), "side": side,
        "quantity": Decimal(draw(st.integers(1, 400))),
        "time_in_force": draw(st.sampled_from(["day", "gtc"]))}
    px = Decimal(draw(st.integers(95, 105)))
    if kind == "limit":
        spec.update(order_type="limit", limit_price=px)
    elif kind == "stop":
        spec.update(order_type="stop", stop_price=px)
    elif kind == "bracket" and side == "buy":
        spec.update(order_class="bracket", take_profit_price=Decimal(108),
                    stop_loss_price=Decimal(92))
    return spec


@st.composite
def scripts(draw: st.DrawFn) -> list[tuple[int, list[tuple[str, float, float, float, float,
                                                              float]], list[dict[str, Any]]]]:
    out = []
    k = 0
    times = sorted({c - draw(st.sampled_from([0, 0, 0, 3 * _HOUR])) for c in _CLOSES})
    if draw(st.integers(0, 4)) == 0:  # a step back in time
        times.insert(draw(st.integers(1, len(times))), times[0])
    for ts in times:
        n = draw(st.integers(0, 4))
        rows = []
        for t in draw(st.lists(st.sampled_from(_TICKERS), min_size=n, max_size=n)):
            o = float(draw(st.integers(90, 110)))
            c = float(draw(st.integers(90, 110)))
            rows.append((t, o, max(o, c) + 2.0, min(o, c) - 2.0, c,
                         float(draw(st.sampled_from([500, 5_000, 1e6])))))
        subs = []
        for _ in range(draw(st.integers(0, 3))):
            subs.append(draw(orders(k)))
            k += 1
        out.append((ts, rows, subs))
    return out


def _run(script: list[Any], bulk: bool) -> SimulatedExchange:
    clock = TestClock(dt_from_ns(_CLOSES[0] - 24 * _HOUR))
    ex = SimulatedExchange(ExchangeConfig(starting_cash=Decimal(100_000), history=3,
                                          enforce_tick_size=False), clock=clock)
    for ts, rows, subs in script:
        if dt_from_ns(ts) > clock.now():  # a bar back in time leaves the clock
            clock.set(dt_from_ns(ts))
        if bulk:
            ex.process_bars(ts, rows)
        else:
            for t, o, h, lo, c, v in rows:
                ex.on_bar(t, ts, o, h, lo, c, v)
            ex.end_step(ts)
        for spec in subs:
            with contextlib.suppress(DomainError):  # refused orders are never stored
                ex.submit_order(SubmitOrder(**spec))
    return ex


def _state(ex: SimulatedExchange) -> Any:
    return (ex.poll_events(), ex._last, {t: list(q) for t, q in ex._hist.items()},
            ex._unordered, ex._now_ns, ex._next_expiry, ex.ledger.cash, ex.cash_f, ex.pos_f,
            ex.list_orders("all"))


@settings(max_examples=200, deadline=None)
@given(scripts())
def test_process_bars_when_compared_with_on_bar_per_bar_then_same_exchange(
        script: list[Any]) -> None:
    assert _state(_run(script, bulk=True)) == _state(_run(script, bulk=False))


def test_process_bars_when_working_order_mid_step_then_filled_in_its_place() -> None:
    ts = _CLOSES[1]
    script = [(_CLOSES[0], [("AAA", 100.0, 101.0, 99.0, 100.0, 1e6),
                            ("BBB", 50.0, 51.0, 49.0, 50.0, 1e6)],
               [{"client_order_id": "b", "ticker": "BBB", "side": "buy",
                 "quantity": Decimal(10)}]),
              (ts, [("AAA", 100.0, 101.0, 99.0, 100.0, 1e6),
                    ("BBB", 50.0, 51.0, 49.0, 50.0, 1e6),
                    ("CCC", 20.0, 21.0, 19.0, 20.0, 1e6)], [])]
    bulk, ref = _run(script, bulk=True), _run(script, bulk=False)
    assert bulk.pos_f == ref.pos_f == {"BBB": 10.0}
    assert list(bulk._hist["CCC"]) == [(ts, 20.0, 21.0, 19.0, 20.0, 1e6)]
    assert _state(bulk) == _state(ref)
