"""Position-level rules, one case each, with the tickets' defaults."""

from __future__ import annotations

from decimal import Decimal

import pytest

from domain.account import Account
from domain.errors import InvalidInput
from domain.events import RiskState
from domain.risk import (
    BreakerState,
    Holding,
    MarketView,
    OrderIntent,
    Quote,
    RiskConfig,
    RiskPolicy,
    Verdict,
)
from tests.unit.domain.risk.strategies import NOW, D, account, market, names_rule_value_limit

P = RiskPolicy()


def _buy(qty: int = 50, price: str = "100", stop: str | None = "95", **kw: object) -> OrderIntent:
    return OrderIntent(ticker="AAPL", side="buy", quantity=qty, price=D(price),
                       stop_loss=D(stop) if stop else None, **kw)  # type: ignore[arg-type]


def _check(it: OrderIntent, acct: Account | None = None, book: list[Holding] | None = None,
           m: MarketView | None = None) -> tuple[Verdict, str, str]:
    d = P.check(it, acct or account(), book or [], m or market({"AAPL": D(100)}))
    assert names_rule_value_limit(d)
    return d.verdict, d.rule, d.message


def test_clean_entry_is_approved() -> None:
    assert _check(_buy())[0] is Verdict.APPROVED


def test_position_above_ten_percent_is_rejected_with_values() -> None:
    v, rule, msg = _check(_buy(qty=101))
    assert (v, rule) == (Verdict.REJECTED, "max_position_pct")
    assert "10.10%" in msg and "10.00%" in msg and "$10,100.00" in msg


def test_position_below_minimum_value_is_rejected() -> None:
    v, rule, msg = _check(_buy(qty=99, price="1", stop="0.95"), m=market({"AAPL": D(1)}))
    assert (v, rule) == (Verdict.REJECTED, "min_position_value")
    assert "$99.00" in msg and "$100.00" in msg


def test_missing_stop_is_rejected_unless_not_required() -> None:
    assert _check(_buy(stop=None))[1] == "stop_loss_required"
    relaxed = RiskPolicy(RiskConfig(require_stop_loss=False))
    d = relaxed.check(_buy(stop=None), account(), [], market({"AAPL": D(100)}))
    assert d.approved


@pytest.mark.parametrize(("side", "stop", "rule"), [
    ("buy", "101", "stop_loss_side"), ("buy", "100", "stop_loss_side"),
    ("sell", "99", "stop_loss_side"), ("buy", "99", "stop_distance_min"),
    ("sell", "101.5", "stop_distance_min"), ("buy", "79", "stop_distance_max"),
    ("sell", "121", "stop_distance_max"),
])
def test_stop_on_wrong_side_too_tight_or_too_wide_is_rejected(
    side: str, stop: str, rule: str,
) -> None:
    it = OrderIntent(ticker="AAPL", side=side, quantity=50, price=D(100), stop_loss=D(stop))
    v, r, msg = _check(it)
    assert (v, r) == (Verdict.REJECTED, rule)


@pytest.mark.parametrize(("side", "stop"), [("buy", "98"), ("buy", "80"), ("sell", "102"),
                                            ("sell", "120")])
def test_stop_at_the_bounds_is_accepted(side: str, stop: str) -> None:
    it = OrderIntent(ticker="AAPL", side=side, quantity=50, price=D(100), stop_loss=D(stop))
    assert _check(it)[0] is Verdict.APPROVED


def test_entry_far_from_current_price_is_rejected() -> None:
    v, rule, msg = _check(_buy(price="106", stop="100"))
    assert (v, rule) == (Verdict.REJECTED, "price_deviation")
    assert "6.00%" in msg and "5.00%" in msg


def test_unknown_or_stale_price_is_rejected() -> None:
    assert _check(_buy(), m=market({}))[1] == "price_known"
    from datetime import timedelta
    stale = MarketView(now=NOW, quotes={"AAPL": Quote(price=D(100), ts=NOW - timedelta(minutes=6))})
    v, rule, msg = _check(_buy(), m=stale)
    assert rule == "stale_price" and "360s" in msg and "300s" in msg


def test_buying_power_needs_the_buffer() -> None:
    # 5000 notional needs 5005 with the 0.1 % buffer
    assert _check(_buy(), acct=account(D(100_000), D(5_004)))[1] == "buying_power"
    assert _check(_buy(), acct=account(D(100_000), D(5_005)))[0] is Verdict.APPROVED


def test_outside_days_range_is_a_warning_not_a_rejection() -> None:
    m = MarketView(now=NOW, quotes={"AAPL": Quote(price=D(100), ts=NOW, day_low=D("100.5"),
                                                  day_high=D(103))})
    v, rule, msg = _check(_buy(), m=m)
    assert (v, rule) == (Verdict.WARNING, "day_range")
    d = P.check(_buy(), account(), [], m)
    assert d.approved


def test_scale_in_cannot_escape_the_ticker_cap() -> None:
    book = [Holding("AAPL", D(60), D(100))]
    v, rule, _ = _check(_buy(qty=50), book=book)
    assert (v, rule) == (Verdict.REJECTED, "ticker_concentration")


def test_exposure_and_count_caps() -> None:
    book = [Holding(t, D(140), D(100)) for t in ("A", "B", "C", "D", "E", "F", "G", "H", "I",
                                                 "J")]
    v, rule, _ = _check(_buy(qty=50), book=book)
    assert v is Verdict.REJECTED and rule == "net_exposure"
    d = P.check(_buy(qty=50), account(), book, market({"AAPL": D(100)}))
    assert {c.rule for c in d.rejections} >= {"net_exposure", "max_open_positions"}
    shorts = [Holding(t, D(-140), D(100)) for t in ("A", "B", "C", "D", "E", "F", "G", "H")]
    longs = [Holding(t, D(50), D(100)) for t in ("I", "J")]
    pol = RiskPolicy(RiskConfig(max_open_positions=20))
    d = pol.check(_buy(qty=50), account(), shorts + longs, market({"AAPL": D(100)}))
    assert d.rule == "gross_exposure"  # 112 % + 10 % + 5 % of 100k... net is fine


def test_reducing_orders_skip_entry_rules() -> None:
    book = [Holding("AAPL", D(500), D(100))]  # already 50 %: far above the cap
    exit_ = OrderIntent(ticker="AAPL", side="sell", quantity=100, price=D(100), purpose="exit")
    d = P.check(exit_, account(), book, market({"AAPL": D(100)}))
    assert d.approved and d.reduces_risk
    flip = OrderIntent(ticker="AAPL", side="sell", quantity=600, price=D(100), stop_loss=D(105))
    assert not P.check(flip, account(), book, market({"AAPL": D(100)})).reduces_risk


def test_daily_loss_and_drawdown_pretrade_use_breaker_baselines() -> None:
    st = BreakerState(day_start_equity=D(103_000), peak_equity=D(104_000))
    d = P.check(_buy(), account(D(100_000)), [], market({"AAPL": D(100)}), st)
    assert d.rule == "daily_loss" and d.verdict is Verdict.WARNING  # 2.91 % of 3 %
    st = BreakerState(day_start_equity=D(103_100), peak_equity=D(104_000))
    d = P.check(_buy(), account(D(100_000)), [], market({"AAPL": D(100)}), st)
    assert d.rule == "daily_loss" and d.verdict is Verdict.REJECTED
    st = BreakerState(day_start_equity=D(100_000), peak_equity=D(112_000))
    d = P.check(_buy(), account(D(100_000)), [], market({"AAPL": D(100)}), st)
    assert d.rule == "drawdown" and not d.approved


def test_no_equity_rejects_entries() -> None:
    acct = Account(cash=D(0), equity=D(0), buying_power=D(0))
    assert _check(_buy(), acct=acct)[1] == "equity"


def test_halted_message_names_state_and_limit() -> None:
    d = P.check(_buy(), account(), [], market({"AAPL": D(100)}), RiskState.HALTED)
    assert d.rule == "trading_state" and "halted" in d.message and "nothing new" in d.message


def test_config_is_validated() -> None:
    with pytest.raises(InvalidInput):
        RiskConfig(max_position_pct=D("1.5"))
    with pytest.raises(InvalidInput):
        RiskConfig(min_stop_pct=D("0.3"))
    with pytest.raises(InvalidInput):
        RiskConfig(max_open_positions=0)
    assert RiskConfig(max_position_pct=0.2).max_position_pct == Decimal("0.2")


def test_intent_from_submit_order_uses_limit_and_bracket_stop() -> None:
    from domain.commands import SubmitOrder
    order = SubmitOrder(client_order_id="c1", ticker="AAPL", side="buy", quantity=10,
                        order_type="limit", limit_price=D(100), order_class="bracket",
                        take_profit_price=D(110), stop_loss_price=D(95))
    it = OrderIntent.from_order(order, price=D(101))
    assert it.price == D(100) and it.stop_loss == D(95) and it.purpose.value == "entry"
    mkt = SubmitOrder(client_order_id="c2", ticker="AAPL", side="sell", quantity=10,
                      reduce_only=True)
    assert OrderIntent.from_order(mkt, price=D(101)).purpose.value == "exit"


def test_a_value_that_rounds_to_its_limit_shows_the_exact_numbers() -> None:
    it = OrderIntent(ticker="AAPL", side="buy", quantity=10, price=D("100"),
                     stop_loss=D("98.001"))  # 1.999 % from the entry, displayed as 2.00 %
    d = RiskPolicy().check(it, account(), [], market({"AAPL": D(100)}))
    assert d.rule == "stop_distance_min"
    assert "stop distance 2.00% vs minimum limit 2.00% (exactly 0.01999 vs 0.02)" in d.message
