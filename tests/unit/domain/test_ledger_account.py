"""The ledger's account snapshot with long, short and mixed books, margin, and fills that flip."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import DuplicateFill
from domain.events import Fill
from domain.portfolio import Ledger, default_position_id
from domain.values import ExitReason, PositionSide

D = Decimal
T0 = datetime(2024, 3, 1, 15, tzinfo=UTC)


def fill(fid: str, side: str, qty: int, price: Decimal | int, fee: Decimal = D(0),
         ticker: str = "AAPL") -> Fill:
    return Fill(fill_id=fid, client_order_id=f"c-{fid}", ticker=ticker, side=side, quantity=D(qty),
                price=D(price), ts_event=T0 + timedelta(minutes=len(fid)), commission=fee)


def test_account_of_a_long_book() -> None:
    led = Ledger(cash=D(100_000))
    led.apply_fill(fill("a", "buy", 100, 50, D(1)))
    acct = led.account({"AAPL": D(60)}, ts=T0)
    assert (acct.cash, acct.long_market_value, acct.short_market_value) == (D(94_999), D(6000), 0)
    assert acct.equity == D(100_999) and acct.ts == T0
    assert acct.buying_power == D(94_999)  # equity less the gross exposure
    assert led.account({"AAPL": D(60)}, margin_multiplier=D(2)).buying_power == D(195_998)


def test_account_of_a_short_book() -> None:
    led = Ledger(cash=D(100_000))
    led.apply_fill(fill("a", "sell", 100, 50))
    acct = led.account({"AAPL": D(40)})
    assert (acct.cash, acct.long_market_value, acct.short_market_value) == (D(105_000), 0, D(-4000))
    assert acct.equity == D(101_000)
    assert acct.buying_power == D(97_000)
    assert led.account({"AAPL": D(40)}, margin_multiplier=D(4)).buying_power == D(400_000)


def test_account_of_a_mixed_book_and_a_missing_price() -> None:
    led = Ledger(cash=D(10_000))
    led.apply_fill(fill("a", "buy", 10, 100))
    led.apply_fill(fill("bb", "sell", 20, 50, ticker="MSFT"))
    assert led.market_values({"AAPL": D(110), "MSFT": D(55)}) == (D(1100), D(-1100))
    assert led.equity({"AAPL": D(110), "MSFT": D(55)}) == D(10_000)
    assert led.market_values({}) == (D(1000), D(-1000))  # the last fill price marks them
    acct = led.account({"AAPL": D(110), "MSFT": D(55)})
    assert acct.buying_power == D(10_000) - D(2200)


def test_a_position_worth_less_than_a_dollar_is_still_long() -> None:
    led = Ledger(cash=D(10))
    led.apply_fill(fill("a", "buy", 1, D("0.5")))
    assert led.market_values({}) == (D("0.5"), 0)


def test_buying_power_never_goes_below_zero() -> None:
    led = Ledger(cash=D(1000))
    led.apply_fill(fill("a", "buy", 100, 50))  # cash -4000, long 5000
    acct = led.account({"AAPL": D(50)})
    assert (acct.equity, acct.buying_power) == (D(1000), 0)


@given(st.lists(st.tuples(st.sampled_from(["AAPL", "MSFT"]), st.sampled_from(["buy", "sell"]),
                          st.integers(1, 50), st.integers(1, 500)), max_size=10),
       st.integers(1, 500), st.integers(1, 500), st.sampled_from([D(1), D(2), D(4)]))
def test_account_adds_up(trades: list[tuple[str, str, int, int]], pa: int, pm: int,
                         mult: Decimal) -> None:
    led = Ledger(cash=D(50_000))
    for i, (t, side, q, p) in enumerate(trades):
        led.apply_fill(fill(f"f{i}", side, q, p, ticker=t))
    prices = {"AAPL": D(pa), "MSFT": D(pm)}
    acct = led.account(prices, margin_multiplier=mult)
    signed = {t: p.signed_quantity * prices[t] for t, p in led.positions.items()}
    assert acct.long_market_value == sum((v for v in signed.values() if v > 0), D(0))
    assert acct.short_market_value == sum((v for v in signed.values() if v < 0), D(0))
    assert acct.equity == led.cash + sum(signed.values(), D(0)) == led.equity(prices)
    gross = sum((abs(v) for v in signed.values()), D(0))
    assert acct.buying_power == max(D(0), acct.equity * mult - gross)


def test_fill_outcomes_open_add_reduce_and_close() -> None:
    led = Ledger(cash=D(0))
    (o,) = led.apply_fill(fill("a", "buy", 10, 100))
    assert o.opened is o.changed and o.opened is not None and o.closed is None
    assert o.opened.entry_order_id == "c-a" and o.opened.position_id == default_position_id(
        fill("a", "buy", 10, 100))
    (o,) = led.apply_fill(fill("bb", "buy", 10, 110))
    assert o.opened is None and o.changed is led.positions["AAPL"] and o.realized_gross == 0
    (o,) = led.apply_fill(fill("ccc", "sell", 5, 120))
    assert o.closed is None and o.realized_gross == D(75) and led.positions["AAPL"].quantity == 15
    (o,) = led.apply_fill(fill("dddd", "sell", 15, 100), ExitReason.STOP_LOSS)
    assert o.closed is not None and o.realized_gross == D(-75)
    assert o.closed.exit_reason is ExitReason.STOP_LOSS and led.closed == [o.closed]
    assert "AAPL" not in led.positions
    assert led.cash == D(-1000 - 1100 + 600 + 1500)


def test_a_fill_larger_than_the_position_closes_it_and_opens_the_rest() -> None:
    led = Ledger(cash=D(10_000))
    led.apply_fill(fill("a", "buy", 100, 50, D(1)))
    closed, opened = led.apply_fill(fill("bb", "sell", 150, 60, D(3)))
    assert closed.closed is not None and closed.realized_gross == D(1000)
    assert closed.closed.commission == D(3)  # 1 on the entry + 2 of the 3 (100 of 150 shares)
    assert opened.opened is not None and opened.opened.side is PositionSide.SHORT
    short = led.positions["AAPL"]
    assert (short.quantity, short.avg_entry_price, short.commission) == (D(50), D(60), D(1))
    assert short.fill_ids == {"bb#2"} and closed.closed.exit_order_id == "c-bb"
    assert led.cash == D(10_000) - 5000 - 1 + 9000 - 3


def test_a_fill_id_is_applied_once() -> None:
    led = Ledger(cash=D(0))
    led.apply_fill(fill("a", "buy", 1, 1))
    with pytest.raises(DuplicateFill):
        led.apply_fill(fill("a", "buy", 1, 1))
    assert led.cash == D(-1) and led.positions["AAPL"].quantity == 1


def test_position_ids_are_deterministic_per_fill() -> None:
    a = default_position_id(fill("a", "buy", 1, 1))
    assert a == default_position_id(fill("a", "sell", 2, 3)) and a.startswith("pos-")
    assert len(a) == len("pos-") + 20
    assert a != default_position_id(fill("b", "buy", 1, 1))
    assert a != default_position_id(fill("a", "buy", 1, 1, ticker="MSFT"))
    led = Ledger(cash=D(0), position_id_for=lambda f: f"my-{f.fill_id}")
    (o,) = led.apply_fill(fill("a", "buy", 1, 1))
    assert o.opened is not None and o.opened.position_id == "my-a"
