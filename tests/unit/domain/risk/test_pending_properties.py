"""No sequence of signals, fills (partial too) and cancels ever takes the book past a limit.

A rule-based state machine drives the domain: signals are sized (counting what is committed
to the ticker) and checked by the risk policy with the working entry orders; approved ones
become accepted orders; fills arrive in any part and any order, orders are canceled. Several
signals in a row without a fill between them are entries released in the same step. After
every step, the worst the book can reach (positions plus every working remainder) is within
every limit, and so is the book itself.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_CEILING, Decimal

import numpy as np
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from domain.account import Account
from domain.commands import SubmitOrder
from domain.events import Fill, OrderFilled, OrderStatus, OrderStatusChanged
from domain.orders import Order
from domain.portfolio import Ledger
from domain.risk import (
    MarketView,
    OrderIntent,
    Quote,
    RiskConfig,
    RiskPolicy,
    correlation_clusters,
    exposures,
    holdings,
    pending_entries,
    size_position,
)
from domain.risk.sizing import SizingConfig, SizingMethod
from domain.values import Side

D = Decimal
NOW = datetime(2024, 3, 4, 15, tzinfo=UTC)
PRICES = {"AAA": D(100), "BBB": D(50), "CCC": D(20), "DDD": D(250)}
CASH = D(100_000)
MARGIN = D("0.4")  # buying power binds before gross exposure does
CFG = RiskConfig(
    max_position_pct=D("0.10"), max_ticker_pct=D("0.12"), max_gross_exposure_pct=D("0.45"),
    max_net_exposure_pct=D("0.25"), max_open_positions=3, max_cluster_pct=D("0.18"),
    min_position_value=D(100),
)
POLICY = RiskPolicy(CFG)


def _returns() -> dict[str, list[float]]:
    rng = np.random.default_rng(3)
    base = rng.normal(0, 0.01, 60)
    return {"AAA": list(base + rng.normal(0, 0.001, 60)),
            "BBB": list(base + rng.normal(0, 0.001, 60)),
            "CCC": list(rng.normal(0, 0.01, 60)), "DDD": list(rng.normal(0, 0.01, 60))}


MARKET = MarketView(now=NOW, quotes={t: Quote(price=p, ts=NOW) for t, p in PRICES.items()},
                    returns=_returns())
CLUSTERS = correlation_clusters(MARKET.returns, list(PRICES), CFG.correlation_threshold,
                                CFG.correlation_lookback, CFG.correlation_min_obs)
assert CLUSTERS["AAA"] == frozenset({"AAA", "BBB"})  # one real cluster to fill


class PendingBook(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.ledger = Ledger(cash=CASH)
        self.working: list[Order] = []
        self.n = 0

    def _account(self) -> Account:
        return self.ledger.account(PRICES, margin_multiplier=MARGIN)

    def _signal(self, ticker: str, side: Side, qty: Decimal) -> None:
        held = self.ledger.positions.get(ticker)
        if held is not None and held.side.entry_side is not side:
            return  # an opposite signal on a held position is an exit, not an entry
        if qty <= 0:
            return
        p = PRICES[ticker]
        stop = p * D("0.95") if side is Side.BUY else p * D("1.05")
        intent = OrderIntent(ticker=ticker, side=side, quantity=qty, price=p, stop_loss=stop)
        pending = pending_entries(self.working, MARKET)
        d = POLICY.check(intent, self._account(), list(self.ledger.positions.values()), MARKET,
                         pending=pending)
        if not d.approved:
            return
        self.n += 1
        o = Order.create(SubmitOrder(client_order_id=f"o{self.n}", ticker=ticker, side=side,
                                     quantity=qty), NOW)
        o.apply(OrderStatusChanged(client_order_id=o.client_order_id, ts_event=NOW,
                                   status=OrderStatus.ACCEPTED))
        self.working.append(o)

    @rule(ticker=st.sampled_from(sorted(PRICES)), side=st.sampled_from(list(Side)),
          pct=st.integers(1, 15))
    def sized_signal(self, ticker: str, side: Side, pct: int) -> None:
        p = PRICES[ticker]
        held = self.ledger.positions.get(ticker)
        committed = sum((o.leaves_qty for o in self.working
                         if o.ticker == ticker and o.side is side), D(0)) * p
        if held is not None and held.side.entry_side is side:
            committed += held.quantity * p
        size = size_position(SizingMethod.FIXED, self._account().equity, p,
                             config=SizingConfig(fixed_pct=D(pct) / 100, max_pct=D("0.10")),
                             committed=committed)
        self._signal(ticker, side, size.quantity)

    @rule(ticker=st.sampled_from(sorted(PRICES)), side=st.sampled_from(list(Side)),
          qty=st.integers(1, 400))
    def raw_signal(self, ticker: str, side: Side, qty: int) -> None:
        # not sized: the risk policy alone must hold every limit
        self._signal(ticker, side, D(qty))

    @rule(i=st.integers(0, 50), part=st.integers(1, 4))
    def fill(self, i: int, part: int) -> None:
        if not self.working:
            return
        o = self.working[i % len(self.working)]
        qty = (o.leaves_qty * part / 4).to_integral_value(ROUND_CEILING)
        self.n += 1
        f = Fill(fill_id=f"f{self.n}", client_order_id=o.client_order_id, ticker=o.ticker,
                 side=o.side, quantity=qty, price=PRICES[o.ticker], ts_event=NOW)
        o.apply(OrderFilled(client_order_id=o.client_order_id, ts_event=NOW, fill=f))
        self.ledger.apply_fill(f)
        if not o.is_open:
            self.working.remove(o)

    @rule(i=st.integers(0, 50))
    def cancel(self, i: int) -> None:
        if not self.working:
            return
        o = self.working.pop(i % len(self.working))
        o.apply(OrderStatusChanged(client_order_id=o.client_order_id, ts_event=NOW,
                                   status=OrderStatus.CANCELED))

    @invariant()
    def worst_case_book_is_within_every_limit(self) -> None:
        acct = self._account()
        equity = acct.equity
        assert equity == CASH  # fixed prices, no costs: the limits' base never moves
        held = holdings(self.ledger.positions.values(), MARKET)
        pending = pending_entries(self.working, MARKET)
        for with_pending in (False, True):
            ex, unpriced = exposures(held, pending if with_pending else ())
            assert not unpriced
            for e in ex.values():
                assert e.worst_value <= CFG.max_ticker_pct * equity, e
            gross = sum((e.worst_value for e in ex.values()), D(0))
            assert gross <= CFG.max_gross_exposure_pct * equity
            high = sum((e.high * e.price for e in ex.values()), D(0))
            low = sum((e.low * e.price for e in ex.values()), D(0))
            assert max(abs(high), abs(low)) <= CFG.max_net_exposure_pct * equity
            assert sum(1 for e in ex.values() if e.worst_quantity > 0) <= CFG.max_open_positions
            for members in CLUSTERS.values():
                value = sum((ex[t].worst_value for t in members if t in ex), D(0))
                assert value <= CFG.max_cluster_pct * equity, (members, value)
            reserved = sum((e.opening_quantity * e.price for e in ex.values()), D(0)) \
                * (1 + CFG.buying_power_buffer)
            assert reserved <= acct.buying_power, (reserved, acct.buying_power)
        # every working entry is one the sizing and the policy approved: never more than the
        # per-position cap of one side of a ticker in entries not yet filled
        for t, price in PRICES.items():
            for side in Side:
                value = sum((o.leaves_qty for o in self.working
                             if o.ticker == t and o.side is side), D(0)) * price
                assert value <= CFG.max_position_pct * equity


PendingBook.TestCase.settings = settings(max_examples=150, stateful_step_count=40,
                                         deadline=None)
TestPendingBook = PendingBook.TestCase
