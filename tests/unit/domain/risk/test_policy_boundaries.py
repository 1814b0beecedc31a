"""Exact boundaries of the pre-trade rules: short entries near every cap, buying power on adds
and flips, and the labels of the limit monitor on a real book."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.events import RiskState
from domain.risk import BreakerState, Holding, MarketView, OrderIntent, Quote, RiskConfig, RiskPolicy
from domain.risk.decision import RiskDecision, RuleResult, Unit, Verdict
from domain.risk.policy import LimitStatus, reduces_position
from tests.unit.domain.risk.strategies import NOW, D, account, market

POLICY = RiskPolicy()
CFG = POLICY.config
EQ = D(100_000)
# Two return series correlated far above the 0.7 threshold, long enough for the lookback.
_BASE = [0.01 * ((i * 7) % 5 - 2) for i in range(40)]
CORRELATED = {"AAPL": _BASE, "MSFT": [x * 1.1 + 0.0001 for x in _BASE]}


def rule(d: RiskDecision, name: str) -> RuleResult:
    found = [c for c in d.checks if c.rule == name]
    assert len(found) == 1, f"{name} not checked exactly once: {[c.rule for c in d.checks]}"
    return found[0]


def short(qty: int | Decimal, price: Decimal = D(100), ticker: str = "AAPL") -> OrderIntent:
    return OrderIntent(ticker=ticker, side="sell", quantity=D(qty), price=price,
                       stop_loss=price * D("1.05"))


def buy(qty: int | Decimal, price: Decimal = D(100), ticker: str = "AAPL") -> OrderIntent:
    return OrderIntent(ticker=ticker, side="buy", quantity=D(qty), price=price,
                       stop_loss=price * D("0.95"))


def check(it: OrderIntent, book: list[Holding] = (), bp: Decimal = EQ * 10,  # type: ignore[assignment]
          policy: RiskPolicy = POLICY, state: BreakerState | RiskState = RiskState.ACTIVE,
          **returns: list[float]) -> RiskDecision:
    prices = {h.ticker: h.price for h in book}
    prices[it.ticker] = it.price
    return policy.check(it, account(EQ, bp), list(book), market(prices, **returns), state)


# --- short entries near each cap ----------------------------------------------------------------
def test_a_short_entry_is_held_to_the_ticker_cap() -> None:
    loose = RiskPolicy(RiskConfig(max_position_pct=D("0.5")))  # the order-size cap is not the one
    at_cap = check(short(100), [Holding("AAPL", D(-50), D(100))], policy=loose)  # -150 -> 15 000
    assert rule(at_cap, "ticker_concentration").verdict is Verdict.REJECTED
    assert rule(at_cap, "ticker_concentration").value == D("0.15")
    ok = check(short(50), [Holding("AAPL", D(-50), D(100))], policy=loose)  # exactly 10 %
    assert rule(ok, "ticker_concentration").verdict is Verdict.APPROVED


@pytest.mark.parametrize(("held_short", "verdict"), [
    (D(-1100), Verdict.WARNING),  # exactly the warning level, 80 % of the cap
    (D(-1099), Verdict.APPROVED),
    (D(-1400), Verdict.WARNING),  # 140 000 + 10 000 = exactly the 150 % gross cap
    (D(-1401), Verdict.REJECTED),
])
def test_a_short_entry_is_held_to_the_gross_cap(held_short: Decimal, verdict: Verdict) -> None:
    """Also: the warning starts at exactly 80 % of the cap (120 %)."""
    d = check(short(100, ticker="AAPL"), [Holding("MSFT", held_short, D(100))])
    assert rule(d, "gross_exposure").verdict is verdict
    assert rule(d, "gross_exposure").value == (-held_short * 100 + 10_000) / EQ


@pytest.mark.parametrize(("held", "verdict"), [
    (D(-950), Verdict.REJECTED),  # net -95 000 - 10 000: |net| 105 % > 100 %
    (D(500), Verdict.APPROVED),  # a short entry brings a long book's net down to 40 %
])
def test_net_exposure_is_the_absolute_net_after_a_short_entry(held: Decimal, verdict: Verdict) -> None:
    d = check(short(100), [Holding("MSFT", held, D(100))])
    assert rule(d, "net_exposure").verdict is verdict
    assert rule(d, "net_exposure").value == abs(held * 100 - 10_000) / EQ


@pytest.mark.parametrize(("held", "verdict"), [
    (D(-150), Verdict.WARNING),  # 15 000 + 10 000 = exactly the 25 % cluster cap
    (D(-151), Verdict.REJECTED),
    (D(151), Verdict.REJECTED),  # a long neighbour counts by its size as well
])
def test_a_short_entry_is_held_to_the_cluster_cap(held: Decimal, verdict: Verdict) -> None:
    d = check(short(100), [Holding("MSFT", held, D(100))], **CORRELATED)
    assert rule(d, "correlation_cluster").verdict is verdict
    assert rule(d, "correlation_cluster").value == (abs(held) * 100 + 10_000) / EQ
    uncorrelated = check(short(100), [Holding("MSFT", held, D(100))])
    assert rule(uncorrelated, "correlation_cluster").value == D("0.1")


def test_gross_exposure_counts_an_existing_holding_once_when_adding_to_it() -> None:
    d = check(short(50), [Holding("AAPL", D(-50), D(100)), Holding("MSFT", D(200), D(100))])
    assert rule(d, "gross_exposure").value == D("0.3")  # |-100 x 100| + 200 x 100
    assert rule(d, "net_exposure").value == D("0.1")


# --- buying power: adds and flips ---------------------------------------------------------------
@pytest.mark.parametrize(("bp", "verdict"), [(D("5005"), Verdict.APPROVED),
                                             (D("5004.99"), Verdict.REJECTED)])
def test_adding_to_a_long_needs_buying_power_for_the_added_shares_only(
    bp: Decimal, verdict: Verdict,
) -> None:
    d = check(buy(50, D(100)), [Holding("AAPL", D(30), D(100))], bp=bp)
    assert rule(d, "buying_power").value == D("5005.000")  # 50 x $100 x 1.001
    assert rule(d, "buying_power").verdict is verdict


@pytest.mark.parametrize(("bp", "verdict"), [(D("2002"), Verdict.APPROVED),
                                             (D("2001.99"), Verdict.REJECTED)])
def test_flipping_a_long_to_a_short_needs_buying_power_for_the_new_short(
    bp: Decimal, verdict: Verdict,
) -> None:
    d = check(short(50, D(100)), [Holding("AAPL", D(30), D(100))], bp=bp)  # +30 -> -20
    assert not d.reduces_risk
    assert rule(d, "buying_power").value == D("2002.000")
    assert rule(d, "buying_power").verdict is verdict


def test_adding_to_a_short_and_flipping_a_short_to_a_long() -> None:
    add = check(short(10), [Holding("AAPL", D(-30), D(100))], bp=D(0))
    assert rule(add, "buying_power").value == D("1001.000")
    flip = check(buy(50), [Holding("AAPL", D(-30), D(100))], bp=D(0))  # -30 -> +20
    assert rule(flip, "buying_power").value == D("2002.000")
    new = check(buy(7), bp=D(0))
    assert rule(new, "buying_power").value == D("700.700")
    fractional = check(buy(D(1), D(100)), [Holding("AAPL", D("0.5"), D(100))], bp=D(0))
    assert rule(fractional, "buying_power").value == D("100.100")  # 0.5 -> 1.5 adds 1 share


@given(held=st.integers(-500, 500).filter(bool), qty=st.integers(1, 500),
       side=st.sampled_from(["buy", "sell"]))
def test_buying_power_is_required_for_exactly_the_growth_of_the_position(
    held: int, qty: int, side: str,
) -> None:
    it = OrderIntent(ticker="AAPL", side=side, quantity=D(qty), price=D(10),
                     stop_loss=D("9.5") if side == "buy" else D("10.5"))
    d = check(it, [Holding("AAPL", D(held), D(10))], bp=D(0))
    new = held + (qty if side == "buy" else -qty)
    growth = abs(new) if held * new < 0 else max(abs(new) - abs(held), 0)
    if d.reduces_risk:
        assert growth == 0
        return
    assert rule(d, "buying_power").value == D(growth) * 10 * D("1.001")
    assert (rule(d, "buying_power").verdict is Verdict.REJECTED) == (growth > 0)


# --- position-level boundaries ------------------------------------------------------------------
def test_order_size_caps_are_inclusive() -> None:
    assert rule(check(buy(100)), "max_position_pct").verdict is Verdict.APPROVED  # exactly 10 %
    assert rule(check(buy(101)), "max_position_pct").verdict is Verdict.REJECTED
    assert rule(check(buy(1, D(100))), "min_position_value").verdict is Verdict.APPROVED
    assert rule(check(buy(1, D("99.99"))), "min_position_value").verdict is Verdict.REJECTED


@pytest.mark.parametrize(("stop", "rejected"), [
    (D(98), set()),  # exactly the 2 % minimum distance
    (D("98.01"), {"stop_distance_min"}),
    (D(80), set()),  # exactly the 20 % maximum
    (D("79.99"), {"stop_distance_max"}),
    (D(100), {"stop_loss_side"}),
    (D(101), {"stop_loss_side"}),
])
def test_stop_distance_of_a_long(stop: Decimal, rejected: set[str]) -> None:
    it = OrderIntent(ticker="AAPL", side="buy", quantity=D(10), price=D(100), stop_loss=stop)
    assert {r.rule for r in check(it).rejections} == rejected


@pytest.mark.parametrize(("stop", "rejected"), [
    (D(102), set()), (D("101.99"), {"stop_distance_min"}), (D(120), set()),
    (D("120.01"), {"stop_distance_max"}), (D(99), {"stop_loss_side"}),
])
def test_stop_distance_of_a_short(stop: Decimal, rejected: set[str]) -> None:
    it = OrderIntent(ticker="AAPL", side="sell", quantity=D(10), price=D(100), stop_loss=stop)
    d = check(it)
    assert {r.rule for r in d.rejections} == rejected
    if "stop_loss_side" in rejected:
        assert "must lie above the entry" in rule(d, "stop_loss_side").message


def test_a_stop_is_required_unless_configured_otherwise() -> None:
    it = OrderIntent(ticker="AAPL", side="buy", quantity=D(10), price=D(100))
    assert [r.rule for r in check(it).rejections] == ["stop_loss_required"]
    assert rule(check(it), "stop_loss_required").value == "none"
    relaxed = RiskPolicy(RiskConfig(require_stop_loss=False))
    d = check(it, policy=relaxed)
    assert d.approved and not [c for c in d.checks if c.rule.startswith("stop")]


def _quoted(price: Decimal, age_s: float, lo: Decimal | None = None,
            hi: Decimal | None = None) -> MarketView:
    q = Quote(price=price, ts=NOW - timedelta(seconds=age_s), day_low=lo, day_high=hi)
    return MarketView(now=NOW, quotes={"AAPL": q})


def test_price_deviation_age_and_day_range_boundaries() -> None:
    it = buy(10, D(105))
    ok = POLICY.check(it, account(EQ), [], _quoted(D(100), CFG.max_price_age_s, D(100), D(105)))
    assert ok.verdict is Verdict.APPROVED  # 5 % deviation, age at the limit, price at the high
    assert rule(ok, "price_deviation").value == D("0.05")
    assert not [c for c in ok.checks if c.rule == "day_range"]
    far = POLICY.check(buy(10, D("105.01")), account(EQ), [],
                       _quoted(D(100), CFG.max_price_age_s + 1, D(99), D(105)))
    assert {r.rule for r in far.rejections} == {"price_deviation", "stale_price"}
    assert rule(far, "day_range").verdict is Verdict.WARNING
    below = POLICY.check(buy(10, D(99)), account(EQ), [], _quoted(D(100), 0, D("99.5"), D(101)))
    assert rule(below, "day_range").verdict is Verdict.WARNING and below.approved
    unknown = POLICY.check(buy(10), account(EQ), [], MarketView(now=NOW))
    assert [r.rule for r in unknown.rejections] == ["price_known"]


def test_open_positions_count_a_new_ticker_only() -> None:
    tickers = [f"T{i}" for i in range(CFG.max_open_positions)]
    full = [Holding(t, D(1), D(10)) for t in tickers]
    assert rule(check(buy(10), full), "max_open_positions").verdict is Verdict.REJECTED
    assert rule(check(buy(10), full[:-1]), "max_open_positions").value == CFG.max_open_positions
    assert rule(check(buy(10, ticker="T0"), full), "max_open_positions").value == \
        CFG.max_open_positions


def test_daily_loss_and_drawdown_reject_at_exactly_the_limit() -> None:
    def at(equity: Decimal, state: BreakerState) -> RiskDecision:
        return POLICY.check(buy(10), account(equity), [], market({"AAPL": D(100)}), state)

    d = at(D(97_000), BreakerState(day_start_equity=D(100_000), peak_equity=D(97_000)))
    assert rule(d, "daily_loss").verdict is Verdict.REJECTED
    assert rule(d, "daily_loss").value == D("0.03")
    d = at(D("97000.01"), BreakerState(day_start_equity=D(100_000)))
    assert rule(d, "daily_loss").verdict is Verdict.WARNING
    d = at(D(90_000), BreakerState(peak_equity=D(100_000)))
    assert rule(d, "drawdown").verdict is Verdict.REJECTED
    assert rule(d, "drawdown").value == D("0.1")
    up = BreakerState(day_start_equity=EQ - 1, peak_equity=EQ)
    assert rule(check(buy(10), state=up), "daily_loss").value == 0
    assert rule(check(buy(10), state=up), "drawdown").value == 0
    none = check(buy(10), state=BreakerState(day_start_equity=D(0), peak_equity=D(0)))
    assert not [c for c in none.checks if c.rule in {"daily_loss", "drawdown"}]


def test_no_equity_rejects_with_the_equity_rule_only() -> None:
    d = POLICY.check(buy(10), account(D(0), D(0)), [], market({"AAPL": D(100)}))
    assert [c.rule for c in d.checks] == ["trading_state", "equity"]
    assert rule(d, "equity").message == "equity: account equity $0.00 must exceed limit $0.00"
    assert d.verdict is Verdict.REJECTED


# --- states and reductions ----------------------------------------------------------------------
@pytest.mark.parametrize(("held", "side", "qty", "reduces"), [
    (D(30), "sell", D(30), True), (D(30), "sell", D(31), False), (D(30), "buy", D(1), False),
    (D(-30), "buy", D(30), True), (D(-30), "buy", D(31), False), (D(-30), "sell", D(1), False),
    (D(1), "sell", D(1), True), (D(-1), "buy", D(1), True),
])
def test_reduces_position(held: Decimal, side: str, qty: Decimal, reduces: bool) -> None:
    it = OrderIntent(ticker="AAPL", side=side, quantity=qty, price=D(100))
    assert reduces_position(it, Holding("AAPL", held, D(100))) is reduces
    assert reduces_position(it, None) is False
    assert reduces_position(it, Holding("AAPL", D(0), D(100))) is False


def test_protective_exits_while_halted_follow_the_configuration() -> None:
    exit_ = OrderIntent(ticker="AAPL", side="sell", quantity=D(10), price=D(100), purpose="protective")
    book = [Holding("AAPL", D(10), D(100))]
    assert check(exit_, book, state=RiskState.HALTED).approved
    strict = RiskPolicy(RiskConfig(allow_protective_exits_when_halted=False))
    assert not check(exit_, book, policy=strict, state=RiskState.HALTED).approved
    plain_exit = OrderIntent(ticker="AAPL", side="sell", quantity=D(10), price=D(100), purpose="exit")
    assert not check(plain_exit, book, state=RiskState.HALTED).approved
    reducing = check(plain_exit, book, state=RiskState.REDUCING)
    assert reducing.approved
    assert "risk-reducing order in trading state reducing allowed under" in \
        rule(reducing, "trading_state").message
    assert rule(check(plain_exit, book), "reduces_risk").value == D(10)


# --- the limit monitor on a real book -----------------------------------------------------------
def _limits(book: list[Holding], state: BreakerState = BreakerState(),
            mkt: MarketView | None = None) -> dict[str, LimitStatus]:
    return {x.name: x for x in POLICY.limits(account(EQ), book, mkt, state)}


def test_limit_labels_on_a_long_and_short_book() -> None:
    book = [Holding("AAPL", D(120), D(100)), Holding("MSFT", D(-1000), D(100)),
            Holding("XOM", D(80), D(100))]  # +12 000, -100 000, +8 000
    lim = _limits(book, mkt=market({"AAPL": D(100), "MSFT": D(100), "XOM": D(100)}, **CORRELATED))
    assert (lim["gross_exposure"].value, lim["gross_exposure"].status) == (D("1.2"), "warning")
    assert (lim["net_exposure"].value, lim["net_exposure"].status) == (D("0.8"), "warning")
    assert (lim["ticker_concentration"].value, lim["ticker_concentration"].status) == (D(1), "breached")
    assert (lim["correlation_cluster"].value, lim["correlation_cluster"].status) == (D("1.12"),
                                                                                   "breached")
    assert (lim["max_open_positions"].value, lim["max_open_positions"].status) == (D(3), "ok")
    assert lim["gross_exposure"].headroom == D("0.3")
    assert lim["gross_exposure"].usage == D("0.8")
    assert lim["gross_exposure"].text("value") == "120.00%"


def test_limit_labels_of_the_breaker_limits() -> None:
    s = BreakerState(day_start_equity=D(100), last_equity=D(97), peak_equity=D(100),
                     consecutive_losses=4, broker_calls=((NOW, False), (NOW, True)))
    lim = _limits([], s)
    assert lim["daily_loss"].status == "breached"  # exactly at the 3 % limit
    assert lim["drawdown"].status == "ok"
    assert lim["consecutive_losses"].status == "warning"  # 4 of 5: exactly the warning fraction
    assert lim["broker_error_rate"].status == "breached"  # 50 % of 50 %
    assert lim["stale_prices"].value == 0


def test_stale_prices_limit_reports_the_oldest_held_price() -> None:
    mkt = MarketView(now=NOW, quotes={
        "AAPL": Quote(price=D(100), ts=NOW - timedelta(seconds=30)),
        "MSFT": Quote(price=D(100), ts=NOW - timedelta(seconds=270)),
        "KO": Quote(price=D(100), ts=NOW - timedelta(seconds=900)),  # not held
        "XOM": Quote(price=D(100)),
    })
    book = [Holding("AAPL", D(1), D(100)), Holding("MSFT", D(1), D(100)), Holding("XOM", D(1), D(100))]
    lim = _limits(book, mkt=mkt)
    assert lim["stale_prices"].value == D(270) and lim["stale_prices"].status == "warning"


@pytest.mark.parametrize(("value", "status"), [
    (D("0.79"), "ok"), (D("0.8"), "warning"), (D("0.99"), "warning"), (D(1), "breached"),
    (D(2), "breached"), (D(0), "ok"),
])
def test_limit_status_labels(value: Decimal, status: str) -> None:
    s = LimitStatus("x", value, D(1), Unit.PCT, D("0.8"))
    assert s.status == status
    assert s.headroom == 1 - value


def test_a_zero_limit_has_zero_usage_and_nothing_held_is_ok() -> None:
    s = LimitStatus("x", D(0), D(0), Unit.COUNT, D("0.8"))
    assert (s.usage, s.status) == (0, "ok")
    assert LimitStatus("x", D(0), D(1), Unit.PCT, D(0)).status == "ok"  # nothing used: no warning
    lim = _limits([])
    assert all(x.status == "ok" and x.value == 0 for x in lim.values())
    nothing = POLICY.limits(account(D(0), D(0)), [Holding("AAPL", D(1), D(100))], None, BreakerState())
    assert {x.name: x.value for x in nothing}["gross_exposure"] == 0
    tiny = POLICY.limits(account(D("0.5"), D(0)), [Holding("AAPL", D(1), D("0.25"))], None,
                         BreakerState())
    assert {x.name: x.value for x in tiny}["gross_exposure"] == D("0.5")


# --- the messages people read ---------------------------------------------------------------------
def test_every_rule_message_of_an_order_that_breaks_most_rules() -> None:
    it = OrderIntent(ticker="AAPL", side="buy", quantity=D(2000), price=D(100), stop_loss=D("99.5"))
    quote = Quote(price=D(90), ts=NOW - timedelta(seconds=400), day_low=D(80), day_high=D(95))
    mkt = MarketView(now=NOW, quotes={"AAPL": quote}, returns=CORRELATED)
    state = BreakerState(day_start_equity=D(200_000), peak_equity=D(300_000))
    d = POLICY.check(it, account(EQ, D(1000)), [Holding("MSFT", D(500), D(100))], mkt, state)
    assert {c.rule: c.message for c in d.checks} == {
        "trading_state": "trading_state: trading state active is limit active",
        "max_position_pct": "max_position_pct: order value $200,000.00 is 200.00% of equity vs limit 10.00%",
        "min_position_value": "min_position_value: order value $200,000.00 vs minimum limit $100.00",
        "stop_distance_min": "stop_distance_min: stop distance 0.50% vs minimum limit 2.00%",
        "stop_distance_max": "stop_distance_max: stop distance 0.50% vs maximum limit 20.00%",
        "price_deviation": "price_deviation: entry 100 deviates from current 90 by 11.11% vs limit 5.00%",
        "stale_price": "stale_price: age of the AAPL price 400s vs limit 300s",
        "day_range": "day_range: entry 100 lies outside the day's range (limit 80-95)",
        "buying_power": "buying_power: required with 0.10% buffer $200,200.00 vs buying power limit "
                        "$1,000.00",
        "ticker_concentration": "ticker_concentration: AAPL exposure after the order 200.00% exceeds "
                                "limit 10.00%",
        "gross_exposure": "gross_exposure: gross exposure after the order 250.00% exceeds limit 150.00%",
        "net_exposure": "net_exposure: |net exposure| after the order 250.00% exceeds limit 100.00%",
        "max_open_positions": "max_open_positions: open positions after the order 2 within limit 10",
        "correlation_cluster": "correlation_cluster: exposure of correlated cluster [AAPL,MSFT] after "
                               "the order 250.00% exceeds limit 25.00%",
        "daily_loss": "daily_loss: loss from the day's starting equity 50.00% exceeds limit 3.00%",
        "drawdown": "drawdown: drawdown from peak equity 66.67% exceeds limit 10.00%",
    }


def test_messages_of_the_states_stops_and_warnings() -> None:
    entry = OrderIntent(ticker="AAPL", side="buy", quantity=D(10), price=D(100), stop_loss=D(101))
    reducing = check(entry, state=RiskState.REDUCING)
    assert rule(reducing, "trading_state").message == (
        "trading_state: trading state reducing accepts exits only (limit: exits only); a entry buy "
        "of 10 AAPL does not reduce a position")
    assert rule(reducing, "stop_loss_side").message == (
        "stop_loss_side: stop-loss of a buy must lie below the entry: stop 101 vs entry limit 100")
    bare = OrderIntent(ticker="AAPL", side="buy", quantity=D(1), price=D(100))
    halted = POLICY.check(bare, account(EQ), [], MarketView(now=NOW), RiskState.HALTED)
    assert rule(halted, "trading_state").message == (
        "trading_state: trading state halted accepts nothing new (limit: nothing new until a "
        "recorded resume); rejected entry buy of 1 AAPL")
    assert rule(halted, "stop_loss_required").message == (
        "stop_loss_required: stop-loss on the entry: none required: limit a stop-loss")
    assert rule(halted, "price_known").message == (
        "price_known: current price of AAPL: none required: limit a current price")
    warned = check(short(100), [Holding("MSFT", D(-1200), D(100))])
    assert rule(warned, "gross_exposure").message == (
        "gross_exposure: gross exposure after the order 130.00% is at 86.67% of limit 150.00%")
    protective = OrderIntent(ticker="AAPL", side="sell", quantity=D(10), price=D(100),
                             purpose="protective")
    held = [Holding("AAPL", D(10), D(100))]
    assert rule(check(protective, held, state=RiskState.HALTED), "trading_state").message == (
        "trading_state: protective exit in trading state halted allowed under limit protective exits only")
    assert rule(check(protective, held), "reduces_risk").message == (
        "reduces_risk: exit quantity 10 within held limit 10")
