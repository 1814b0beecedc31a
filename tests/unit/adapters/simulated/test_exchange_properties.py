"""Hypothesis over random bar paths and random orders: the exchange's invariants."""

from __future__ import annotations

import contextlib
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.commands import SubmitOrder
from domain.costs import CostModel
from domain.errors import OrderRejected
from domain.events import OrderFilled
from tests.unit.adapters.simulated.conftest import MIN, T0, make, step


@st.composite
def paths(draw: st.DrawFn) -> list[tuple[float, float, float, float, float]]:
    n = draw(st.integers(min_value=2, max_value=25))
    price = 100.0
    out = []
    for _ in range(n):
        o = round(price * (1 + draw(st.floats(-0.05, 0.05))), 2)
        c = round(o * (1 + draw(st.floats(-0.05, 0.05))), 2)
        h = round(max(o, c) * (1 + draw(st.floats(0, 0.03))), 2)
        lo = round(min(o, c) * (1 - draw(st.floats(0, 0.03))), 2)
        v = float(draw(st.integers(0, 400)))
        out.append((o, h, max(lo, 0.01), c, v))
        price = c
    return out


@st.composite
def orders(draw: st.DrawFn) -> list[tuple[int, dict[str, object]]]:
    out = []
    for k in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["market", "limit", "stop", "trailing_stop", "bracket"]))
        side = draw(st.sampled_from(["buy", "sell"]))
        qty = draw(st.integers(1, 60))
        tif = draw(st.sampled_from(["gtc", "day", "ioc", "fok"]))
        px = round(100 * (1 + draw(st.floats(-0.08, 0.08))), 2)
        kw: dict[str, object] = {"side": side, "quantity": qty, "time_in_force": tif}
        if kind == "limit":
            kw |= {"order_type": "limit", "limit_price": px}
        elif kind == "stop":
            kw |= {"order_type": "stop", "stop_price": px}
        elif kind == "trailing_stop":
            kw |= {"order_type": "trailing_stop", "trail_percent": 3}
        elif kind == "bracket":
            up, dn = round(px * 1.05, 2), round(px * 0.95, 2)
            tp, sl = (up, dn) if side == "buy" else (dn, up)
            kw |= {"order_class": "bracket", "take_profit_price": tp, "stop_loss_price": sl,
                   "time_in_force": "gtc"}
        out.append((draw(st.integers(0, 10)), kw | {"client_order_id": f"o{k}"}))
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(paths(), orders(), st.sampled_from([None, 0.1, 0.5]),
       st.sampled_from([0.0, 5.0]), st.sampled_from([0.0, 1.0]))
def test_random_paths_when_orders_trade_then_invariants_hold(
    path: list[tuple[float, float, float, float, float]],
    plan: list[tuple[int, dict[str, object]]],
    cap: float | None, bps: float, per_order: float,
) -> None:
    costs = CostModel(commission_bps=bps, commission_per_order=per_order, slippage_bps=bps)
    ex, clock = make(participation=cap, costs=costs, margin_multiplier=Decimal(4))
    bars: dict[int, tuple[float, float, float, float, float]] = {}
    step(ex, clock, T0, "XYZ", 100, 100, 100, 100)
    bars[T0] = (100, 100, 100, 100, 1e6)
    fills = []
    for i, bar in enumerate(path):
        for when, kw in plan:
            if when == i:
                with contextlib.suppress(OrderRejected):
                    ex.submit_order(SubmitOrder(ticker="XYZ", **kw))  # type: ignore[arg-type]
        ts = T0 + (i + 1) * MIN
        bars[ts] = bar
        step(ex, clock, ts, "XYZ", *bar)
        fills += [e.fill for e in ex.poll_events() if isinstance(e, OrderFilled)]
    per_bar: dict[int, Decimal] = {}
    for f in fills:
        o, h, lo, c, v = bars[int(f.ts_event.timestamp()) * 1_000_000_000]
        assert Decimal(repr(lo)) <= f.price <= Decimal(repr(h))  # never outside the bar
        ns = int(f.ts_event.timestamp()) * 1_000_000_000
        per_bar[ns] = per_bar.get(ns, Decimal(0)) + f.quantity
        if cap is not None:
            assert per_bar[ns] <= int(v * cap)  # the participation cap holds per bar
    for rep in ex.list_orders("all"):
        for r in (rep, *rep.legs):
            assert r.filled_qty <= r.quantity
    # conservation: equity = start + sum((mark - price) * signed qty) - commissions
    mark = Decimal(repr(path[-1][3]))
    expected = Decimal(100_000) + sum(
        ((mark - f.price) * f.signed_quantity - f.commission for f in fills), Decimal(0))
    assert ex.get_account().equity == expected
    assert abs(ex.equity_f() - float(expected)) < 1e-6 * max(1.0, abs(float(expected)))
