"""Every exposure rule counts entry orders accepted but not yet filled, one case per rule."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from domain.account import Account
from domain.commands import SubmitOrder
from domain.events import Fill, OrderFilled, OrderStatus, OrderStatusChanged
from domain.orders import Order
from domain.risk import (
    Holding,
    OrderIntent,
    PendingOrder,
    RiskConfig,
    RiskPolicy,
    TickerExposure,
    exposures,
    pending_entries,
    size_position,
)
from domain.risk.sizing import SizingConfig, SizingMethod
from tests.unit.domain.risk.strategies import D, account, market, names_rule_value_limit

T0 = datetime(2024, 3, 4, 15, tzinfo=UTC)
P = RiskPolicy()
PRICES = {"AAPL": D(100), "MSFT": D(100), "XOM": D(100), "JPM": D(100)}


def _buy(ticker: str = "AAPL", qty: int = 50) -> OrderIntent:
    return OrderIntent(ticker=ticker, side="buy", quantity=qty, price=D(100), stop_loss=D(95))


def _pending(ticker: str = "AAPL", qty: int = 60, side: str = "buy") -> PendingOrder:
    return PendingOrder(ticker, side, D(qty), D(100), f"p-{ticker}-{qty}")


def _rules(it: OrderIntent, pending: list[PendingOrder], book: list[Holding] | None = None,
           acct: Account | None = None, policy: RiskPolicy = P, **returns: list[float],
           ) -> tuple[set[str], set[str]]:
    """Return the rules rejected without and with the pending orders."""
    m = market(PRICES, **returns)
    without = policy.check(it, acct or account(), book or [], m)
    with_ = policy.check(it, acct or account(), book or [], m, pending=pending)
    assert names_rule_value_limit(with_)
    return {c.rule for c in without.rejections}, {c.rule for c in with_.rejections}


def test_two_entries_for_one_ticker_cannot_pass_the_position_cap_together() -> None:
    # 6 % working + 5 % new = 11 % > 10 %: each alone fits
    before, after = _rules(_buy(qty=50), [_pending(qty=60)])
    assert before == set()
    assert after == {"max_position_pct", "ticker_concentration"}
    d = P.check(_buy(qty=50), account(), [], market(PRICES), pending=[_pending(qty=60)])
    assert "plus $6,000.00 working in AAPL" in d.message


def test_a_working_entry_on_another_ticker_does_not_touch_the_position_cap() -> None:
    before, after = _rules(_buy(qty=50), [_pending("MSFT", qty=60)])
    assert before == after == set()


def test_ticker_cap_counts_a_partially_filled_remainder() -> None:
    # held 40 (the filled part) + 30 still working + 40 new = 110 shares = 11 %
    cfg = RiskPolicy(RiskConfig(max_position_pct=D("0.5")))
    before, after = _rules(_buy(qty=40), [_pending(qty=30)], [Holding("AAPL", D(40), D(100))],
                           policy=cfg)
    assert before == set() and after == {"ticker_concentration"}


def test_gross_exposure_counts_working_entries() -> None:
    cfg = RiskPolicy(RiskConfig(max_gross_exposure_pct=D("0.25"), max_net_exposure_pct=D(1)))
    book = [Holding("MSFT", D(-90), D(100))]
    before, after = _rules(_buy(qty=90), [_pending("XOM", qty=80, side="sell")], book,
                           policy=cfg)
    assert before == set() and after == {"gross_exposure"}


def test_net_exposure_counts_working_entries() -> None:
    cfg = RiskPolicy(RiskConfig(max_net_exposure_pct=D("0.2")))
    before, after = _rules(_buy(qty=90), [_pending("XOM", qty=90), _pending("MSFT", qty=50,
                                                                            side="sell")],
                           policy=cfg)
    # all filled: 9 + 9 - 5 = 13 %; if the sell never fills: 18 % <= 20 %
    assert before == after == set()
    before, after = _rules(_buy(qty=90), [_pending("XOM", qty=120), _pending("MSFT", qty=50,
                                                                             side="sell")],
                           policy=cfg)
    # the buys may fill and the sell not: 9 + 12 = 21 % > 20 %, though all filled is 16 %
    assert before == set() and after == {"net_exposure"}


def test_open_position_count_counts_working_entries() -> None:
    cfg = RiskPolicy(RiskConfig(max_open_positions=2))
    before, after = _rules(_buy(qty=50), [_pending("MSFT", qty=10), _pending("XOM", qty=10)],
                           policy=cfg)
    assert before == set() and after == {"max_open_positions"}


def test_correlation_cluster_counts_working_entries() -> None:
    rng = np.random.default_rng(7)
    base = rng.normal(0, 0.01, 60)
    a = list(base + rng.normal(0, 0.001, 60))
    b = list(base + rng.normal(0, 0.001, 60))
    before, after = _rules(_buy(qty=100), [_pending("MSFT", qty=100), _pending("JPM", qty=60)],
                           AAPL=a, MSFT=b, JPM=[x * 1.01 for x in a])
    # 10 % + 10 % + 6 % = 26 % of the cluster [AAPL, JPM, MSFT] > 25 %
    assert before == set() and after == {"correlation_cluster"}


def test_buying_power_is_reserved_by_working_entries() -> None:
    acct = account(buying_power=D(10_000))
    before, after = _rules(_buy(qty=50), [_pending("MSFT", qty=60)], acct=acct)
    assert before == set() and after == {"buying_power"}
    d = P.check(_buy(qty=50), acct, [], market(PRICES), pending=[_pending("MSFT", qty=60)])
    assert "reserved by working orders" in d.message
    # a broker that reserves open orders in its buying power is not counted twice
    reserved = Account(cash=D(100_000), equity=D(100_000), buying_power=D(10_000),
                       open_orders_reserved=True)
    assert P.check(_buy(qty=50), reserved, [], market(PRICES),
                   pending=[_pending("MSFT", qty=60)]).approved


def test_a_working_exit_of_a_held_position_reserves_no_buying_power() -> None:
    # a sell that can only close the long held needs no buying power
    ex = TickerExposure("AAPL", D(100), held=D(100), pending_sell=D(60))
    assert ex.opening_quantity == 0 and ex.worst_quantity == 100
    ex = TickerExposure("AAPL", D(100), held=D(100), pending_sell=D(160))
    assert ex.opening_quantity == 60 and (ex.low, ex.high) == (D(-60), D(100))


def test_an_unpriced_working_order_refuses_new_entries() -> None:
    unpriced = PendingOrder("XOM", "buy", D(10), None, "p-x")
    d = P.check(_buy(), account(), [], market(PRICES), pending=[unpriced])
    assert d.rule == "pending_priced" and "XOM (p-x)" in d.message


def test_exits_are_not_blocked_by_working_entries() -> None:
    book = [Holding("AAPL", D(100), D(100))]
    exit_ = OrderIntent(ticker="AAPL", side="sell", quantity=100, price=D(100), purpose="exit")
    d = P.check(exit_, account(), book, market(PRICES), pending=[_pending(qty=500)])
    assert d.approved and d.reduces_risk


def _order(cid: str, qty: int, reduce_only: bool = False, limit: str | None = None) -> Order:
    return Order.create(SubmitOrder(client_order_id=cid, ticker="AAPL", side="buy",
                                    quantity=qty, reduce_only=reduce_only,
                                    order_type="limit" if limit else "market",
                                    limit_price=D(limit) if limit else None), T0)


def test_pending_entries_keep_open_entries_and_their_unfilled_remainder() -> None:
    working = _order("a", 100)
    part = _order("b", 100)
    part.apply(OrderFilled(client_order_id="b", ts_event=T0, fill=Fill(
        fill_id="f1", client_order_id="b", ticker="AAPL", side="buy", quantity=D(30),
        price=D(99), ts_event=T0)))
    canceled = _order("c", 100)
    canceled.apply(OrderStatusChanged(client_order_id="c", ts_event=T0,
                                      status=OrderStatus.CANCELED))
    exit_ = _order("d", 100, reduce_only=True)
    limit = _order("e", 10, limit="98.5")
    got = pending_entries([working, part, canceled, exit_, limit])
    assert [(p.client_order_id, p.quantity, p.price) for p in got] == [
        ("a", D(100), None), ("b", D(70), D(99)), ("e", D(10), D("98.5"))]
    priced = pending_entries([working, limit], market({"AAPL": D(101)}), exclude=["e"])
    assert [(p.client_order_id, p.price) for p in priced] == [("a", D(101))]


def test_exposures_value_a_pending_ticker_at_the_holding_mark() -> None:
    ex, unpriced = exposures({"AAPL": Holding("AAPL", D(10), D(100))},
                             [PendingOrder("AAPL", "buy", D(5), None),
                              PendingOrder("MSFT", "sell", D(5), None)])
    assert ex["AAPL"] == TickerExposure("AAPL", D(100), held=D(10), pending_buy=D(5))
    assert [p.ticker for p in unpriced] == ["MSFT"]


def test_sizing_counts_what_is_already_committed_to_the_ticker() -> None:
    cfg = SizingConfig(fixed_pct=D("0.08"), max_pct=D("0.10"))
    first = size_position(SizingMethod.FIXED, D(100_000), D(100), config=cfg)
    assert first.quantity == 80
    second = size_position(SizingMethod.FIXED, D(100_000), D(100), config=cfg,
                           committed=first.notional)
    assert second.quantity == 20 and "already committed" in second.reason
    full = size_position(SizingMethod.FIXED, D(100_000), D(100), config=cfg,
                         committed=D(10_000))
    assert full.quantity == 0
