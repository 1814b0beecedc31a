"""P&L, average price, excursions and exits of positions; conservation in the ledger."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import DuplicateFill, InvalidInput, OverFill
from domain.events import Fill
from domain.portfolio import Ledger
from domain.position import Position, TrailingStopConfig
from domain.values import ExitReason, PositionSide

T0 = datetime(2024, 3, 1, 15, tzinfo=UTC)
D = Decimal
prices = st.integers(100, 100_000).map(lambda c: D(c) / 100)  # 1.00 .. 1000.00
qtys = st.integers(1, 500).map(D)
sides = st.sampled_from(["buy", "sell"])


def _fill(n: int, side: str, qty: Decimal, price: Decimal, fee: Decimal = D(0),
          ticker: str = "AAPL") -> Fill:
    return Fill(fill_id=f"f{n}", client_order_id=f"c{n}", ticker=ticker, side=side,
                quantity=qty, price=price, ts_event=T0 + timedelta(minutes=n), commission=fee)


@given(st.lists(st.tuples(sides, qtys, prices, st.integers(0, 500).map(lambda c: D(c) / 100)),
                min_size=1, max_size=30), prices)
def test_ledger_conserves_cash_plus_value_minus_costs(
    fills: list[tuple[str, Decimal, Decimal, Decimal]], mark: Decimal
) -> None:
    start = D(1_000_000)
    ledger = Ledger(cash=start)
    fees = D(0)
    flows = D(0)
    net_qty = D(0)
    for i, (side, q, p, fee) in enumerate(fills):
        f = _fill(i, side, q, p, fee)
        ledger.apply_fill(f)
        fees += fee
        flows += f.signed_quantity * p
        net_qty += f.signed_quantity
    marks = {"AAPL": mark}
    # cash is exact
    assert ledger.cash == start - flows - fees
    # equity = start + (value of what we hold at the mark) - (what we paid) - fees
    expected_equity = start + net_qty * mark - flows - fees
    assert abs(ledger.equity(marks) - expected_equity) < D("1e-12")
    # realised (closed + open) + unrealised = total P&L
    realized = sum((c.realized_pnl for c in ledger.closed), D(0))
    open_pos = ledger.positions.get("AAPL")
    if open_pos is not None:
        realized += open_pos.realized_pnl
        unreal = open_pos.unrealized_pnl(mark)
        assert open_pos.signed_quantity == net_qty
    else:
        unreal = D(0)
        assert net_qty == 0
    assert abs((realized + unreal) - (expected_equity - start)) < D("1e-12")


@given(st.lists(st.tuples(qtys, prices), min_size=1, max_size=20), st.sampled_from(
    [PositionSide.LONG, PositionSide.SHORT]))
def test_scale_in_average_price_is_quantity_weighted(
    entries: list[tuple[Decimal, Decimal]], side: PositionSide
) -> None:
    pos = Position(position_id="p", ticker="AAPL", side=side, opened_at=T0)
    for i, (q, p) in enumerate(entries):
        pos.apply_fill(_fill(i, side.entry_side.value, q, p))
    total = sum(q for q, _ in entries)
    assert pos.quantity == total
    assert abs(pos.avg_entry_price - sum(q * p for q, p in entries) / total) < D("1e-20")


@given(qtys, prices, prices, st.sampled_from([PositionSide.LONG, PositionSide.SHORT]))
def test_partial_close_realises_sign_times_move_times_quantity(
    q: Decimal, entry: Decimal, exit_: Decimal, side: PositionSide
) -> None:
    pos = Position(position_id="p", ticker="AAPL", side=side, opened_at=T0)
    pos.apply_fill(_fill(1, side.entry_side.value, q * 2, entry))
    realized = pos.apply_fill(_fill(2, side.exit_side.value, q, exit_))
    assert realized == side.sign * (exit_ - entry) * q
    assert pos.quantity == q and pos.avg_entry_price == entry


def test_same_fill_twice_is_rejected_and_changes_nothing() -> None:
    pos = Position(position_id="p", ticker="AAPL", side=PositionSide.LONG, opened_at=T0)
    f = _fill(1, "buy", D(10), D(100))
    pos.apply_fill(f)
    with pytest.raises(DuplicateFill):
        pos.apply_fill(f)
    assert pos.quantity == D(10)
    ledger = Ledger(cash=D(10_000))
    ledger.apply_fill(f)
    with pytest.raises(DuplicateFill):
        ledger.apply_fill(f)
    assert ledger.cash == D(9_000)


def test_exit_larger_than_position_raises() -> None:
    pos = Position(position_id="p", ticker="AAPL", side=PositionSide.LONG, opened_at=T0)
    pos.apply_fill(_fill(1, "buy", D(10), D(100)))
    with pytest.raises(OverFill):
        pos.apply_fill(_fill(2, "sell", D(11), D(100)))


def test_ledger_flip_closes_long_and_opens_short() -> None:
    ledger = Ledger(cash=D(10_000))
    ledger.apply_fill(_fill(1, "buy", D(10), D(100)))
    out = ledger.apply_fill(_fill(2, "sell", D(15), D(110), fee=D(3)))
    assert out[0].closed is not None and out[0].closed.gross_pnl == D(100)
    assert out[0].closed.commission == D(2)  # 10/15 of the fee
    short = ledger.positions["AAPL"]
    assert short.side is PositionSide.SHORT and short.quantity == D(5)
    assert short.commission == D(1)


def _long(stop: str | None = "95", tp: str | None = "120", trailing: bool = True) -> Position:
    pos = Position(position_id="p", ticker="AAPL", side=PositionSide.LONG, opened_at=T0)
    pos.apply_fill(_fill(1, "buy", D(10), D(100)))
    pos.set_exits(D(stop) if stop else None, D(tp) if tp else None,
                  TrailingStopConfig() if trailing else None)
    return pos


def test_mfe_is_the_peak_while_open_not_the_pnl_at_close() -> None:
    pos = _long(trailing=False)
    pos.mark(D(110), T0, high=D(112), low=D(104))
    pos.mark(D(101), T0, high=D(106), low=D(100))
    pos.apply_fill(_fill(2, "sell", D(10), D(101)))
    closed = pos.close(T0 + timedelta(days=2), ExitReason.SIGNAL)
    assert closed.max_unrealized_pnl == D(120)  # (112 - 100) * 10
    assert closed.max_unrealized_pnl_pct == D("0.12")
    assert closed.max_drawdown_pct == (D(112) - D(100)) / D(112)
    assert closed.realized_pnl == D(10)
    assert closed.hold_duration_seconds == 2 * 86400


def test_trailing_stop_arms_at_plus_five_percent_and_trails_three() -> None:
    pos = _long()
    pos.mark(D(104), T0, high=D(104.9), low=D(103))
    assert not pos.trailing_active
    pos.mark(D(108), T0, high=D(110), low=D(106))
    assert pos.trailing_active and pos.trailing_stop == D(110) * D("0.97")
    pos.mark(D(105), T0, high=D(107), low=D(105))
    assert pos.trailing_stop == D(110) * D("0.97")  # never loosens


def test_stop_and_trailing_in_one_check_fire_exactly_once() -> None:
    pos = _long()
    pos.mark(D(110), T0, high=D(110), low=D(108))  # trailing at 106.7, above the 95 stop
    ev = pos.check_exit(T0, open_=D(105), high=D(105), low=D(90))
    assert ev is not None and ev.reason is ExitReason.TRAILING_STOP
    assert ev.trigger_price == D(105)  # gapped through 106.7: filled at the open
    assert pos.check_exit(T0, open_=D(90), high=D(91), low=D(80)) is None
    assert pos.trigger_exit(ExitReason.TIME_EXIT, D(90), T0) is None


def test_stop_and_target_inside_one_bar_assume_the_stop_first() -> None:
    pos = _long(trailing=False)
    ev = pos.check_exit(T0, open_=D(100), high=D(125), low=D(94))
    assert ev is not None and ev.reason is ExitReason.STOP_LOSS and ev.trigger_price == D(95)


def test_short_take_profit_and_wrong_side_stop() -> None:
    pos = Position(position_id="p", ticker="AAPL", side=PositionSide.SHORT, opened_at=T0)
    pos.apply_fill(_fill(1, "sell", D(10), D(100)))
    with pytest.raises(InvalidInput, match="above the entry"):
        pos.set_exits(stop_loss=D(95))
    pos.set_exits(stop_loss=D(105), take_profit=D(90))
    ev = pos.check_exit(T0, open_=D(99), high=D(99), low=D(89))
    assert ev is not None and ev.reason is ExitReason.TAKE_PROFIT and ev.trigger_price == D(90)


@given(st.lists(st.tuples(prices, prices), min_size=1, max_size=40))
def test_at_most_one_exit_per_position_whatever_the_path(bars: list[tuple[Decimal, Decimal]]) -> None:
    pos = _long()
    fired = 0
    for a, b in bars:
        hi, lo = max(a, b), min(a, b)
        if pos.check_exit(T0, open_=lo, high=hi, low=lo) is not None:
            fired += 1
        pos.mark(lo, T0, high=hi, low=lo)
    assert fired <= 1
