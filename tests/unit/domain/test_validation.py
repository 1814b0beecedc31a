"""Bad input raises a typed error that names the field, the value and what was expected."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from domain.alerts import Alert
from domain.commands import SubmitOrder
from domain.errors import InvalidInput
from domain.events import Fill
from domain.signal import Signal

TS = datetime(2024, 1, 2, 15, tzinfo=UTC)


def _signal(**kw: object) -> Signal:
    base: dict[str, object] = dict(signal_id="s1", ticker="AAPL", action="buy", confidence=0.8,
                                   ts=TS)
    base.update(kw)
    return Signal(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("confidence", 1.5, "[0, 1]"),
        ("confidence", -0.1, "[0, 1]"),
        ("confidence", float("nan"), "[0, 1]"),
        ("ticker", "", "non-empty"),
        ("ticker", "not a ticker!", "letters"),
        ("action", "moon", "buy, sell, hold"),
        ("entry_price", -5, "> 0"),
        ("stop_loss", float("nan"), "finite"),
        ("ts", datetime(2024, 1, 2), "timezone-aware"),
        ("size_hint", 2.0, "(0, 1]"),
        ("signal_id", " ", "non-empty"),
    ],
)
def test_signal_with_bad_field_then_error_names_field_value_and_expectation(
    field: str, value: object, expected: str
) -> None:
    with pytest.raises(InvalidInput) as err:
        _signal(**{field: value})
    assert err.value.field == field
    assert expected in str(err.value)
    assert repr(value)[:10] in str(err.value) or str(value)[:10] in str(err.value)


def test_signal_normalises_ticker_and_action() -> None:
    s = _signal(ticker=" aapl ", action="BUY", entry_price="101.25")
    assert s.ticker == "AAPL" and s.action.value == "buy" and s.entry_price == Decimal("101.25")


def test_signal_metadata_is_read_only() -> None:
    s = _signal(metadata={"alert": "a1"})
    with pytest.raises(TypeError):
        s.metadata["alert"] = "x"  # type: ignore[index]


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"quantity": -1}, "quantity"),
        ({"quantity": float("nan")}, "quantity"),
        ({"quantity": 0}, "quantity"),
        ({"side": "long"}, "side"),
        ({"order_type": "limit"}, "limit_price"),
        ({"order_type": "stop"}, "stop_price"),
        ({"order_type": "trailing_stop"}, "trail_price/trail_percent"),
        ({"order_type": "trailing_stop", "trail_percent": 150}, "trail_percent"),
        ({"client_order_id": "x" * 49}, "client_order_id"),
        ({"order_class": "bracket", "take_profit_price": 90, "stop_loss_price": 95},
         "take_profit_price"),
        ({"order_class": "bracket", "take_profit_price": 110}, "stop_loss_price"),
        ({"extended_hours": True}, "extended_hours"),
    ],
)
def test_submit_order_with_bad_combination_then_invalid_input(
    kw: dict[str, object], field: str
) -> None:
    base: dict[str, object] = dict(client_order_id="c1", ticker="AAPL", side="buy", quantity=10)
    base.update(kw)
    with pytest.raises(InvalidInput) as err:
        SubmitOrder(**base)  # type: ignore[arg-type]
    assert err.value.field == field


def test_fill_with_negative_price_then_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="price"):
        Fill(fill_id="f", client_order_id="c", ticker="AAPL", side="buy", quantity=1,
             price=-1, ts_event=TS)


def test_alert_with_nan_score_then_invalid_input() -> None:
    with pytest.raises(InvalidInput) as err:
        Alert(id="a", ticker="AAPL", known_at=TS, catalyst_type="earnings",
              score=float("nan"), sentiment=0.5)
    assert err.value.field == "score"


@pytest.mark.parametrize("score", [10**400, -(10**400)])
def test_alert_with_score_too_large_for_a_float_then_invalid_input_not_overflow(
        score: int) -> None:
    with pytest.raises(InvalidInput) as err:
        Alert(id="a", ticker="AAPL", known_at=TS, catalyst_type="earnings", score=score,
              sentiment=0.5)
    assert err.value.field == "score"


def test_float_prices_convert_through_repr_not_binary_expansion() -> None:
    s = _signal(entry_price=0.1)
    assert s.entry_price == Decimal("0.1")
