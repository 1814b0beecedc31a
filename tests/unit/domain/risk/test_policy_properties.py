"""Properties of the pre-trade policy: caps hold for every approved order, states gate orders,
and every rejection names its rule, value and limit."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.events import RiskState
from domain.risk import (
    BreakerState,
    Holding,
    OrderIntent,
    Purpose,
    RiskConfig,
    RiskPolicy,
    Verdict,
    correlation_clusters,
    reduces_position,
)
from tests.unit.domain.risk.strategies import (
    NOW,
    TICKERS,
    D,
    account,
    equities,
    holdings_st,
    market,
    names_rule_value_limit,
    purposes,
    sides,
)

POLICY = RiskPolicy()
CFG = POLICY.config


@st.composite
def scenario(draw: st.DrawFn) -> tuple[Decimal, list[Holding], OrderIntent, Decimal]:
    """A book, an order sized as a fraction of equity, and buying power."""
    equity = draw(equities)
    book = draw(holdings_st(equity))
    held = {h.ticker: h for h in book}
    t = draw(st.sampled_from(TICKERS))
    price = held[t].price if t in held else D(draw(st.integers(500, 50_000))) / 100
    frac = D(draw(st.integers(1, 300))) / 1000  # 0.1 % .. 30 % of equity
    qty = (equity * frac / price).quantize(D(1))
    side = draw(sides)
    stop_pct = D(draw(st.integers(150, 2500))) / 10_000
    stop = price * (1 - stop_pct) if side == "buy" else price * (1 + stop_pct)
    intent = OrderIntent(ticker=t, side=side, quantity=max(qty, D(1)), price=price,
                         stop_loss=stop, purpose=draw(purposes))
    bp = equity * D(draw(st.integers(0, 200))) / 100
    return equity, book, intent, bp


def _prices(book: list[Holding], intent: OrderIntent) -> dict[str, Decimal]:
    p = {h.ticker: h.price for h in book}
    p[intent.ticker] = intent.price
    return p


def _after(book: list[Holding], it: OrderIntent) -> dict[str, Decimal]:
    """Signed market value per ticker after the order fills at its price."""
    mv = {h.ticker: h.quantity * h.price for h in book}
    held = next((h for h in book if h.ticker == it.ticker), None)
    q = (held.quantity if held else D(0)) + it.side.sign * it.quantity
    mv[it.ticker] = q * it.price
    return {t: v for t, v in mv.items() if v != 0}


@pytest.mark.slow
@settings(max_examples=300)
@given(scenario())
def test_approved_order_never_takes_position_or_exposure_above_cap(
    s: tuple[Decimal, list[Holding], OrderIntent, Decimal],
) -> None:
    equity, book, it, bp = s
    d = POLICY.check(it, account(equity, bp), book, market(_prices(book, it)))
    if not d.approved:
        return
    before = {h.ticker: h.quantity * h.price for h in book}
    after = _after(book, it)
    gross_after = sum(abs(v) for v in after.values())
    gross_before = sum(abs(v) for v in before.values())
    if d.reduces_risk:
        assert gross_after <= gross_before
        assert abs(after.get(it.ticker, D(0))) <= abs(before[it.ticker])
        return
    assert it.notional <= CFG.max_position_pct * equity
    assert abs(after[it.ticker]) <= CFG.max_ticker_pct * equity
    assert gross_after <= CFG.max_gross_exposure_pct * equity
    assert abs(sum(after.values())) <= CFG.max_net_exposure_pct * equity
    assert len(after) <= CFG.max_open_positions
    assert it.notional * (1 + CFG.buying_power_buffer) <= bp or it.ticker in before


@pytest.mark.slow
@settings(max_examples=300)
@given(scenario(), st.sampled_from([RiskState.ACTIVE, RiskState.REDUCING, RiskState.HALTED]))
def test_every_rejection_names_rule_value_and_limit(
    s: tuple[Decimal, list[Holding], OrderIntent, Decimal], state: RiskState,
) -> None:
    equity, book, it, bp = s
    d = POLICY.check(it, account(equity, bp), book, market(_prices(book, it)), state)
    assert names_rule_value_limit(d)
    for c in d.checks:
        assert c.rule in c.message
        assert c.value_text in c.message
        assert c.limit_text in c.message
    if d.verdict is Verdict.REJECTED:
        assert d.rejections and d.rule == d.rejections[0].rule


@given(scenario())
def test_nothing_is_approved_while_halted_except_protective_exits_that_only_reduce(
    s: tuple[Decimal, list[Holding], OrderIntent, Decimal],
) -> None:
    equity, book, it, bp = s
    d = POLICY.check(it, account(equity, bp), book, market(_prices(book, it)),
                     RiskState.HALTED)
    held = {h.ticker: h for h in book}
    if d.approved:
        assert it.purpose is Purpose.PROTECTIVE
        assert reduces_position(it, held.get(it.ticker))
    strict = RiskPolicy(RiskConfig(allow_protective_exits_when_halted=False))
    d2 = strict.check(it, account(equity, bp), book, market(_prices(book, it)),
                      RiskState.HALTED)
    assert not d2.approved
    assert d2.rule == "trading_state"


@given(scenario())
def test_reducing_approves_only_orders_that_shrink_a_position(
    s: tuple[Decimal, list[Holding], OrderIntent, Decimal],
) -> None:
    equity, book, it, bp = s
    d = POLICY.check(it, account(equity, bp), book, market(_prices(book, it)),
                     RiskState.REDUCING)
    held = {h.ticker: h for h in book}
    assert d.approved == reduces_position(it, held.get(it.ticker))


@pytest.mark.slow
@given(scenario())
def test_breaker_state_and_plain_state_decide_alike(
    s: tuple[Decimal, list[Holding], OrderIntent, Decimal],
) -> None:
    equity, book, it, bp = s
    m = market(_prices(book, it))
    for state in RiskState:
        a = POLICY.check(it, account(equity, bp), book, m, state)
        b = POLICY.check(it, account(equity, bp), book, m, BreakerState(state=state))
        assert a == b


def _correlated(n: int, seed: int) -> tuple[list[float], list[float], list[float]]:
    import numpy as np

    rng = np.random.default_rng(seed)
    base = rng.normal(0, 0.01, n)
    a = base + rng.normal(0, 0.001, n)
    b = base + rng.normal(0, 0.001, n)
    c = rng.normal(0, 0.01, n)
    return list(a), list(b), list(c)


@settings(max_examples=50)
@given(st.integers(0, 10_000), st.integers(1, 250))
def test_approved_order_keeps_its_correlation_cluster_under_cap(seed: int, pct: int) -> None:
    a, b, c = _correlated(60, seed)
    equity = D(100_000)
    book = [Holding("AAPL", D(90), D(100)), Holding("MSFT", D(95), D(100)),
            Holding("XOM", D(90), D(100))]
    qty = (equity * D(pct) / 1000 / D(100)).quantize(D(1)) or D(1)
    it = OrderIntent(ticker="JPM", side="buy", quantity=qty, price=D(100), stop_loss=D(95))
    m = market({"AAPL": D(100), "MSFT": D(100), "XOM": D(100), "JPM": D(100)},
               AAPL=a, MSFT=b, JPM=[x * 1.01 for x in a], XOM=c)
    d = POLICY.check(it, account(equity), book, m)
    clusters = correlation_clusters(m.returns, ["AAPL", "MSFT", "XOM", "JPM"],
                                    CFG.correlation_threshold, CFG.correlation_lookback,
                                    CFG.correlation_min_obs)
    assert clusters["JPM"] == frozenset({"AAPL", "MSFT", "JPM"})
    exposure = D(9_000) + D(9_500) + qty * D(100)
    assert d.approved == (exposure <= CFG.max_cluster_pct * equity and qty * 100 <= 10_000)
    if not d.approved and qty * 100 <= 10_000:
        assert d.rule == "correlation_cluster"
        assert "AAPL,JPM,MSFT" in d.message


def test_intent_times_are_not_read_from_a_clock() -> None:
    # the market view carries the time; the same inputs give the same decision
    it = OrderIntent(ticker="AAPL", side="buy", quantity=10, price=D(100), stop_loss=D(95))
    m = market({"AAPL": D(100)})
    assert m.now == NOW
    assert POLICY.check(it, account(), [], m) == POLICY.check(it, account(), [], m)
