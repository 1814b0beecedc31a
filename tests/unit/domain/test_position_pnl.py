"""Positions: exact P&L of longs and shorts, excursions, short trailing stops, exact touches of a
level, and every field of the closed record."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import DuplicateFill, InvalidInput, OverFill
from domain.events import Fill
from domain.position import Position, TrailingStopConfig, position_side_for
from domain.values import ExitReason, PositionSide, Side

D = Decimal
T0 = datetime(2024, 3, 1, 15, tzinfo=UTC)
TRAIL = TrailingStopConfig(activation_pct=D("0.05"), trail_pct=D("0.03"))


def fill(n: int, side: str, qty: Decimal | int, price: Decimal | int, fee: Decimal = D(0),
         ticker: str = "AAPL") -> Fill:
    return Fill(fill_id=f"f{n}", client_order_id=f"c{n}", ticker=ticker, side=side,
                quantity=D(qty), price=D(price), ts_event=T0 + timedelta(minutes=n), commission=fee)


def opened(side: str = "long", qty: int = 10, price: Decimal | int = 100, **exits: object) -> Position:
    ps = PositionSide(side)
    p = Position(position_id="p1", ticker="AAPL", side=ps, opened_at=T0)
    p.apply_fill(fill(0, ps.entry_side.value, qty, price))
    if exits:
        p.set_exits(**exits)  # type: ignore[arg-type]
    return p


# --- fills and P&L --------------------------------------------------------------------------------
def test_scale_in_average_price_realized_pnl_and_commissions_of_a_short() -> None:
    p = Position(position_id="p1", ticker="AAPL", side=PositionSide.SHORT, opened_at=T0)
    assert p.apply_fill(fill(1, "sell", 10, 100, D("1.5"))) == 0
    assert p.apply_fill(fill(2, "sell", 30, 120, D("0.5"))) == 0
    assert (p.quantity, p.avg_entry_price, p.max_quantity) == (D(40), D(115), D(40))
    assert p.signed_quantity == D(-40) and p.cost_basis == D(4600)
    assert p.apply_fill(fill(3, "buy", 15, 105, D(1))) == D(150)  # short gains when price falls
    assert (p.quantity, p.realized_gross, p.commission, p.realized_pnl) == (D(25), D(150), D(3), D(147))
    assert (p.exit_qty, p.exit_notional, p.exit_order_id) == (D(15), D(1575), "c3")
    assert p.max_quantity == D(40) and p.version == 3
    assert p.updated_at == T0 + timedelta(minutes=3)


def test_open_pnl_and_market_value_of_a_short() -> None:
    p = opened("short", 10, 100)
    assert p.market_value(D(90)) == D(-900)
    assert p.unrealized_pnl(D(90)) == D(100) and p.unrealized_pnl_pct(D(90)) == D("0.1")
    assert p.unrealized_pnl(D(110)) == D(-100) and p.unrealized_pnl_pct(D(110)) == D("-0.1")
    p.mark(D(95), T0 + timedelta(minutes=1))
    assert p.market_value() == D(-950) and p.unrealized_pnl() == D(50)
    assert p.unrealized_pnl_pct() == D("0.05")
    assert p.last_price == D(95) and p.updated_at == T0 + timedelta(minutes=1)


def test_defaults_before_any_mark_use_the_entry_price() -> None:
    p = Position(position_id="p", ticker="AAPL", side=PositionSide.LONG, opened_at=T0)
    assert (p.is_open, p.unrealized_pnl_pct(D(5)), p.market_value()) == (False, 0, 0)
    p.apply_fill(fill(0, "buy", 4, 25))
    assert p.is_open and p.last_price == D(25) and p.extreme_price == D(25)
    assert (p.market_value(), p.unrealized_pnl(), p.unrealized_pnl_pct()) == (D(100), 0, 0)


def test_refused_fills() -> None:
    p = opened("long", 10, 100)
    with pytest.raises(DuplicateFill):
        p.apply_fill(fill(0, "buy", 1, 100))
    with pytest.raises(InvalidInput, match="ticker"):
        p.apply_fill(fill(5, "buy", 1, 100, ticker="MSFT"))
    with pytest.raises(OverFill):
        p.apply_fill(fill(6, "sell", 11, 100))
    assert (p.quantity, p.version, p.fill_ids) == (D(10), 1, {"f0"})
    p.apply_fill(fill(7, "sell", 10, 100))
    assert p.quantity == 0 and not p.is_open


@given(st.lists(st.tuples(st.integers(1, 50), st.integers(100, 20_000)), min_size=1, max_size=8),
       st.integers(100, 20_000), st.sampled_from(["long", "short"]))
def test_closing_everything_realizes_sign_times_exit_minus_entry(
    entries: list[tuple[int, int]], exit_cents: int, side: str,
) -> None:
    ps = PositionSide(side)
    p = Position(position_id="p", ticker="AAPL", side=ps, opened_at=T0)
    for i, (q, c) in enumerate(entries):
        p.apply_fill(fill(i, ps.entry_side.value, q, D(c) / 100, D("0.25")))
    qty = sum(q for q, _ in entries)
    cost = sum(q * D(c) / 100 for q, c in entries)
    exit_ = D(exit_cents) / 100
    p.apply_fill(fill(99, ps.exit_side.value, qty, exit_, D("0.25")))
    sign = ps.sign
    c = p.close(T0 + timedelta(hours=2))
    expected_gross = sign * (exit_ * qty - cost)
    assert abs(c.gross_pnl - expected_gross) < D("1e-20")
    assert c.commission == D("0.25") * (len(entries) + 1)
    assert c.realized_pnl == c.gross_pnl - c.commission
    assert c.realized_pnl_pct == c.realized_pnl / (c.entry_price * qty)
    assert c.exit_price == exit_ and c.quantity == qty


# --- the closed record ----------------------------------------------------------------------------
def test_every_field_of_a_closed_short() -> None:
    p = Position(position_id="p9", ticker="AAPL", side=PositionSide.SHORT, opened_at=T0,
                 strategy="gap", signal_id="sig", signal_confidence=0.7, catalyst_score=0.4,
                 rvol=2.5, atr=1.25, entry_order_id="ce", metadata={"k": 1})
    p.apply_fill(fill(1, "sell", 20, 50, D(1)))
    p.set_exits(stop_loss=D(55), take_profit=D(40))
    p.mark(D(48), T0 + timedelta(minutes=5), high=D(52), low=D(45))
    p.apply_fill(fill(2, "buy", 5, 46, D(1)))
    p.apply_fill(fill(3, "buy", 15, 42, D(1)))
    c = p.close(T0 + timedelta(minutes=90))
    assert (c.position_id, c.ticker, c.side, c.quantity) == ("p9", "AAPL", PositionSide.SHORT, D(20))
    assert (c.entry_price, c.exit_price) == (D(50), D(43))  # (5 x 46 + 15 x 42) / 20
    assert (c.gross_pnl, c.commission, c.realized_pnl) == (D(140), D(3), D(137))
    assert c.realized_pnl_pct == D("0.137")
    assert (c.opened_at, c.closed_at, c.hold_duration_seconds) == (T0, T0 + timedelta(minutes=90), 5400)
    assert c.exit_reason is ExitReason.SIGNAL and c.is_win
    assert (c.stop_loss, c.take_profit, c.strategy, c.signal_id) == (D(55), D(40), "gap", "sig")
    assert (c.signal_confidence, c.catalyst_score, c.rvol, c.atr) == (0.7, 0.4, 2.5, 1.25)
    assert (c.entry_order_id, c.exit_order_id, dict(c.metadata)) == ("ce", "c3", {"k": 1})
    # Excursions of the short: best at the low 45 (+100), worst at the high 52 (-40).
    assert (c.max_unrealized_pnl, c.max_unrealized_pnl_pct) == (D(100), D("0.1"))
    assert (c.min_unrealized_pnl, c.min_unrealized_pnl_pct) == (D(-40), D("-0.04"))
    assert c.max_drawdown_pct == D(7) / D(45)  # from the best 45 back up to 52


def test_the_exit_reason_of_a_close() -> None:
    p = opened("long", 1, 100)
    p.trigger_exit(ExitReason.TIME_EXIT, D(100), T0)
    p.apply_fill(fill(1, "sell", 1, 100))
    assert p.close(T0).exit_reason is ExitReason.TIME_EXIT
    assert p.close(T0, ExitReason.MANUAL).exit_reason is ExitReason.MANUAL


def test_a_loss_is_not_a_win_and_open_positions_do_not_close() -> None:
    p = opened("long", 2, 100)
    with pytest.raises(OverFill, match="still holds 2"):
        p.close(T0)
    p.apply_fill(fill(1, "sell", 2, 99))
    c = p.close(T0 + timedelta(seconds=59))
    assert not c.is_win and c.realized_pnl_pct == D("-0.01") and c.hold_duration_seconds == 59
    empty = Position(position_id="e", ticker="AAPL", side=PositionSide.LONG, opened_at=T0)
    with pytest.raises(OverFill, match="no exit fill"):
        empty.close(T0)


# --- excursions -----------------------------------------------------------------------------------
def test_excursions_of_a_long_follow_the_bar_range() -> None:
    p = opened("long", 10, 100)
    p.mark(D(104), T0 + timedelta(minutes=1), high=D(110), low=D(95))
    assert (p.max_unrealized_pnl, p.max_unrealized_pnl_pct) == (D(100), D("0.1"))
    assert (p.min_unrealized_pnl, p.min_unrealized_pnl_pct) == (D(-50), D("-0.05"))
    assert p.extreme_price == D(110) and p.max_drawdown_pct == D(15) / D(110)
    p.mark(D(105), T0 + timedelta(minutes=2), high=D(106), low=D(104))  # inside the old range
    assert (p.max_unrealized_pnl, p.min_unrealized_pnl, p.extreme_price) == (D(100), D(-50), D(110))
    assert p.max_drawdown_pct == D(15) / D(110)
    p.mark(D(100), T0 + timedelta(minutes=3))  # no range: the price is both ends
    assert p.version == 4


def test_a_one_share_position_tracks_its_excursions_too() -> None:
    p = opened("short", 1, 100, stop_loss=D(103))
    p.mark(D(97), T0, high=D(104), low=D(96))
    assert (p.max_unrealized_pnl, p.min_unrealized_pnl, p.extreme_price) == (D(4), D(-4), D(96))
    assert p.unrealized_pnl_pct() == D("0.03")
    ev = p.check_exit(T0, D(100), D(103), D(99))
    assert ev is not None and ev.trigger_price == D(103)


@pytest.mark.parametrize(("exit_", "win"), [(D(100), False), (D("100.5"), True), (D("99.5"), False)])
def test_a_win_is_any_positive_net_pnl(exit_: Decimal, win: bool) -> None:
    p = opened("long", 1, 100)
    p.apply_fill(fill(1, "sell", 1, exit_))
    assert p.close(T0).is_win is win


# --- trailing stops -------------------------------------------------------------------------------
def test_a_short_trailing_stop_arms_at_exactly_the_activation_and_then_only_tightens() -> None:
    p = opened("short", 10, 100, stop_loss=D(110), trailing=TRAIL)
    p.mark(D(96), T0, high=D(97), low=D("95.01"))  # 4.99 % favourable: not armed
    assert (p.trailing_active, p.trailing_stop) == (False, None)
    assert p.effective_stop() == (D(110), False)
    p.mark(D(96), T0, high=D(97), low=D(95))  # exactly 5 %
    assert p.trailing_active and p.trailing_stop == D("97.85")  # 95 x 1.03
    assert p.effective_stop() == (D("97.85"), True)  # tighter than the 110 stop of a short
    p.mark(D(99), T0, high=D(99), low=D(96))  # a worse extreme does not loosen it
    assert p.trailing_stop == D("97.85") and p.extreme_price == D(95)
    p.mark(D(91), T0, high=D(92), low=D(90))
    assert p.trailing_stop == D("92.70")


def test_a_long_trailing_stop_wins_only_when_tighter_than_the_stop() -> None:
    p = opened("long", 10, 100, stop_loss=D(95), trailing=TrailingStopConfig(D("0.05"), D("0.1")))
    p.mark(D(105), T0, high=D(105), low=D(104))  # armed, level 94.5: looser than 95
    assert p.trailing_stop == D("94.50") and p.effective_stop() == (D(95), False)
    p.mark(D(106), T0, high=D("105.56"), low=D(104))  # level exactly 95.004
    assert p.effective_stop() == (D("95.004"), True)
    q = opened("long", 10, 100, trailing=TRAIL)
    assert q.effective_stop() == (None, False)
    q.mark(D(110), T0)
    assert q.effective_stop() == (D("106.70"), True)


def test_an_equal_trailing_stop_and_stop_loss_report_the_trailing_one() -> None:
    p = opened("long", 10, 100, stop_loss=D("99.75"),
               trailing=TrailingStopConfig(activation_pct=D("0.05"), trail_pct=D("0.05")))
    p.mark(D(105), T0)
    assert p.effective_stop() == (D("99.75"), True)


# --- exits on a bar -------------------------------------------------------------------------------
@pytest.mark.parametrize(("side", "stop", "bar", "price"), [
    ("long", D(95), (D(100), D(101), D(95)), D(95)),  # the low touches the stop exactly
    ("long", D(95), (D(94), D(96), D(93)), D(94)),  # gap down: fills at the open
    ("long", D(95), (D(95), D(96), D(94)), D(95)),  # opens exactly at the stop
    ("short", D(105), (D(100), D(105), D(99)), D(105)),  # the high touches the stop exactly
    ("short", D(105), (D(107), D(108), D(104)), D(107)),  # gap up
])
def test_a_stop_triggers_on_a_touch_and_a_gap_fills_at_the_open(
    side: str, stop: Decimal, bar: tuple[Decimal, Decimal, Decimal], price: Decimal,
) -> None:
    p = opened(side, 10, 100, stop_loss=stop)
    ev = p.check_exit(T0, *bar)
    assert ev is not None
    assert (ev.reason, ev.trigger_price, ev.level, ev.was_trailing) == (ExitReason.STOP_LOSS, price,
                                                                         stop, False)
    assert (ev.position_id, ev.ticker, ev.ts_event) == ("p1", "AAPL", T0)
    assert p.exit_pending is ExitReason.STOP_LOSS


@pytest.mark.parametrize(("side", "stop"), [("long", D("95.01")), ("short", D("104.99"))])
def test_a_stop_a_cent_away_from_the_bar_does_not_trigger(side: str, stop: Decimal) -> None:
    bar = (D(100), D("104.98"), D("95.02"))
    p = opened(side, 10, 100, stop_loss=D(95) if side == "long" else D(105))
    assert p.check_exit(T0, *bar) is None
    assert p.exit_pending is None and stop  # the stop itself lies outside the bar


@pytest.mark.parametrize(("side", "tp", "bar", "price"), [
    ("long", D(110), (D(105), D(110), D(104)), D(110)),
    ("long", D(110), (D(112), D(113), D(111)), D(112)),  # gap up through the target
    ("short", D(90), (D(95), D(96), D(90)), D(90)),
    ("short", D(90), (D(88), D(89), D(87)), D(88)),
])
def test_a_target_triggers_on_a_touch_and_a_gap_fills_at_the_open(
    side: str, tp: Decimal, bar: tuple[Decimal, Decimal, Decimal], price: Decimal,
) -> None:
    p = opened(side, 10, 100, take_profit=tp)
    ev = p.check_exit(T0, *bar)
    assert ev is not None and (ev.reason, ev.trigger_price, ev.level) == (ExitReason.TAKE_PROFIT,
                                                                          price, tp)
    assert ev.was_trailing is False


def test_a_short_target_not_reached_and_the_stop_first_when_both_lie_in_the_bar() -> None:
    p = opened("short", 10, 100, stop_loss=D(105), take_profit=D(90))
    assert p.check_exit(T0, D(100), D("104.99"), D("90.01")) is None
    ev = p.check_exit(T0, D(100), D(106), D(89))
    assert ev is not None and ev.reason is ExitReason.STOP_LOSS
    assert p.check_exit(T0, D(100), D(106), D(89)) is None  # never fires twice
    p.cancel_exit()
    assert p.exit_pending is None
    again = p.check_exit(T0, D(100), D(106), D(89))
    assert again is not None and again.reason is ExitReason.STOP_LOSS


def test_a_trailing_stop_hit_is_reported_as_trailing() -> None:
    p = opened("short", 10, 100, stop_loss=D(110), trailing=TRAIL)
    p.mark(D(95), T0)
    ev = p.check_exit(T0, D(97), D("97.85"), D(96))
    assert ev is not None
    assert (ev.reason, ev.trigger_price, ev.was_trailing) == (ExitReason.TRAILING_STOP, D("97.85"), True)


def test_non_price_exits_fire_once_and_never_on_a_flat_position() -> None:
    p = opened("long", 1, 100)
    ev = p.trigger_exit(ExitReason.KILL_SWITCH, D(99), T0)
    assert ev is not None and (ev.reason, ev.trigger_price, ev.level) == (ExitReason.KILL_SWITCH,
                                                                          D(99), None)
    assert ev.was_trailing is False and p.version == 2
    assert p.trigger_exit(ExitReason.MANUAL, D(99), T0) is None
    p.cancel_exit()
    assert p.version == 3 and p.exit_pending is None
    p.apply_fill(fill(1, "sell", 1, 99))
    assert p.trigger_exit(ExitReason.MANUAL, D(99), T0) is None
    assert p.check_exit(T0, D(1), D(1000), D(1)) is None


@pytest.mark.parametrize(("side", "kwargs", "field"), [
    ("long", {"stop_loss": D(100)}, "stop_loss"), ("long", {"stop_loss": D(101)}, "stop_loss"),
    ("long", {"take_profit": D(100)}, "take_profit"), ("short", {"stop_loss": D(100)}, "stop_loss"),
    ("short", {"stop_loss": D(99)}, "stop_loss"), ("short", {"take_profit": D(101)}, "take_profit"),
])
def test_exits_on_the_wrong_side_are_refused(side: str, kwargs: dict[str, Decimal], field: str) -> None:
    p = opened(side, 10, 100)
    with pytest.raises(InvalidInput, match=field) as err:
        p.set_exits(**kwargs)  # type: ignore[arg-type]
    where = ("below" if side == "long" else "above") if field == "stop_loss" else \
        ("above" if side == "long" else "below")
    assert where in str(err.value)
    assert (p.stop_loss, p.take_profit, p.version) == (None, None, 1)


def test_exits_on_the_right_side_are_kept_and_any_level_is_taken_before_an_entry() -> None:
    p = opened("short", 10, 100)
    p.set_exits(stop_loss=D("100.01"), take_profit=D("99.99"), trailing=TRAIL)
    assert (p.stop_loss, p.take_profit, p.trailing, p.version) == (D("100.01"), D("99.99"), TRAIL, 2)
    empty = Position(position_id="e", ticker="AAPL", side=PositionSide.LONG, opened_at=T0)
    empty.set_exits(stop_loss=D(500))
    assert empty.stop_loss == D(500)


@pytest.mark.parametrize("bad", [D(0), D(1), D(-1)])
def test_trailing_fractions_lie_strictly_between_zero_and_one(bad: Decimal) -> None:
    with pytest.raises(InvalidInput, match=r"^invalid activation_pct:"):
        TrailingStopConfig(activation_pct=bad)
    with pytest.raises(InvalidInput, match=r"^invalid trail_pct:"):
        TrailingStopConfig(trail_pct=bad)


def test_position_side_for() -> None:
    assert position_side_for(Side.BUY) is PositionSide.LONG
    assert position_side_for(Side.SELL) is PositionSide.SHORT


def test_a_one_dollar_entry_is_tracked_like_any_other() -> None:
    p = opened("long", 10, 1)
    p.mark(D("1.1"), T0, high=D("1.2"), low=D("0.9"))
    assert p.unrealized_pnl_pct() == D("0.1")
    assert (p.max_unrealized_pnl, p.min_unrealized_pnl) == (D(2), D(-1))
