"""Vendor error translation and the tolerant JSON mapping."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
import requests
from alpaca.common.exceptions import APIError

from adapters.alpaca.errors import Redactor, translate
from adapters.alpaca.mapping import parse_account, parse_order, parse_position, to_order_request, ts
from adapters.alpaca_server.faults import FaultPlan, FaultSpecError
from domain.commands import SubmitOrder
from domain.errors import (
    AuthFailed,
    BrokerUnavailable,
    DuplicateClientOrderId,
    InsufficientBuyingPower,
    InvalidOrder,
    MarketClosed,
    OrderNotFound,
    OrderRejected,
    RateLimited,
)
from domain.events import OrderStatus

KEY, SECRET = "PKUNITKEY123456", "unitSecret987654321"  # fake


def _api(status: int, message: str) -> APIError:
    resp = requests.Response()
    resp.status_code = status
    return APIError(json.dumps({"code": 1, "message": message}),
                    requests.HTTPError(response=resp))


@pytest.mark.parametrize(("status", "message", "cls"), [
    (401, "request is not authorized", AuthFailed),
    (403, "forbidden.", AuthFailed),
    (403, "insufficient buying power", InsufficientBuyingPower),
    (422, "client_order_id must be unique", DuplicateClientOrderId),
    (422, "market orders are not allowed when the market is closed", MarketClosed),
    (422, "invalid limit_price", InvalidOrder),
    (404, "order not found", OrderNotFound),
    (429, "rate limit exceeded", RateLimited),
    (500, "internal server error", BrokerUnavailable),
    (504, "gateway timeout", BrokerUnavailable),
    (409, "something new", OrderRejected),
])
def test_translate_when_vendor_status_then_domain_error(status: int, message: str,
                                                        cls: type) -> None:
    err = translate(_api(status, message), client_order_id="c1")
    assert type(err) is cls


def test_translate_when_message_echoes_secret_then_masked() -> None:
    err = translate(_api(422, f"bad key {KEY} / {SECRET}"), redact=Redactor([KEY, SECRET]))
    assert KEY not in str(err) and SECRET not in str(err) and "********" in str(err)


def test_translate_when_auth_fails_then_message_names_the_variables_not_the_key() -> None:
    err = translate(_api(401, f"key {KEY} not authorized"), redact=Redactor([KEY, SECRET]))
    assert isinstance(err, AuthFailed) and KEY not in str(err)
    assert "APCA_API_KEY_ID" in str(err)


def test_translate_when_network_fails_then_retryable_unavailable() -> None:
    for exc in (requests.ReadTimeout("x"), requests.ConnectionError("y"),
                requests.exceptions.ChunkedEncodingError("z")):
        err = translate(exc, timeout_s=0.5)
        assert isinstance(err, BrokerUnavailable) and err.retryable
    assert "0.5 s" in str(translate(requests.ReadTimeout("x"), timeout_s=0.5))


def test_translate_when_vendor_error_named_api_auth_error_then_auth_failed() -> None:
    class APIAuthError(Exception):  # newer alpaca-py: not an APIError subclass
        status_code = 401

    assert isinstance(translate(APIAuthError("nope")), AuthFailed)


def _order_json(**kw: object) -> dict[str, object]:
    base: dict[str, object] = {
        "id": "61e69015-8549-4bfd-b9c3-01e75843f47d", "client_order_id": "c1",
        "symbol": "AAPL", "qty": "10", "filled_qty": "4", "filled_avg_price": "101.25",
        "side": "buy", "type": "limit", "order_type": "limit", "time_in_force": "gtc",
        "limit_price": "102", "stop_price": None, "status": "partially_filled",
        "order_class": "", "created_at": "2024-01-02T14:30:00.123456789Z",
        "updated_at": "2024-01-02T14:31:00Z", "legs": None,
    }
    base.update(kw)
    return base


def test_parse_order_when_alpaca_json_then_exact_decimals_and_times() -> None:
    r = parse_order(_order_json())
    assert r.quantity == Decimal(10) and r.filled_qty == Decimal(4)
    assert r.filled_avg_price == Decimal("101.25") and r.limit_price == Decimal(102)
    assert r.status is OrderStatus.PARTIALLY_FILLED
    assert r.created_at is not None and r.created_at.microsecond == 123456


def test_parse_order_when_unknown_enum_values_then_tolerated_not_raised() -> None:
    r = parse_order(_order_json(status="brand_new_status", type="mystery", order_class="mleg",
                                time_in_force="gtd", filled_qty="0"))
    assert r.status is OrderStatus.ACCEPTED  # still open, polled until it says more
    r2 = parse_order(_order_json(status="brand_new_status"))
    assert r2.status is OrderStatus.PARTIALLY_FILLED


def test_parse_position_and_account_when_short_then_signed() -> None:
    p = parse_position({"symbol": "TSLA", "qty": "5", "side": "short",
                        "avg_entry_price": "200", "current_price": "190"})
    assert p.quantity == Decimal(-5)
    a = parse_account({"cash": "1000.5", "equity": "1200", "buying_power": "2400",
                       "account_number": "PA123", "status": "ACTIVE"})
    assert a.cash == Decimal("1000.5") and a.account_id == "PA123"


def test_to_order_request_when_each_type_then_alpaca_payload() -> None:
    def req(**kw: object) -> SubmitOrder:
        return SubmitOrder(client_order_id="c1", ticker="AAPL", side="buy",  # type: ignore[arg-type]
                           quantity=2, **kw)

    f = to_order_request(req()).to_request_fields()
    assert f["type"] == "market" and f["client_order_id"] == "c1" and f["qty"] == 2
    f = to_order_request(req(order_type="stop_limit", stop_price=10, limit_price=11)
                         ).to_request_fields()
    assert (f["type"], f["stop_price"], f["limit_price"]) == ("stop_limit", 10, 11)
    f = to_order_request(req(order_type="trailing_stop", trail_percent=2)).to_request_fields()
    assert f["type"] == "trailing_stop" and f["trail_percent"] == 2
    f = to_order_request(req(order_class="bracket", take_profit_price=12,
                             stop_loss_price=9)).to_request_fields()
    assert f["order_class"] == "bracket"
    assert f["take_profit"] == {"limit_price": 12} and f["stop_loss"]["stop_price"] == 9


def test_ts_when_nanoseconds_then_microseconds_kept() -> None:
    t = ts("2024-05-01T13:30:00.987654321-04:00")
    assert t is not None and t.microsecond == 987654 and t.utcoffset() is not None


def test_fault_spec_when_parsed_then_rates_seed_and_delay() -> None:
    plan = FaultPlan.parse("429:0.1, 504_after:0.2,seed=9,delay=0.3,only=POST")
    assert plan.rates == {"429": 0.1, "504_after": 0.2}
    assert (plan.seed, plan.delay, plan.only) == (9, 0.3, "POST")


@pytest.mark.parametrize("spec", ["boom:0.1", "429:2", "429:x", "seed=x"])
def test_fault_spec_when_bad_then_clear_error(spec: str) -> None:
    with pytest.raises(FaultSpecError, match="fault spec item"):
        FaultPlan.parse(spec)


def test_fault_plan_when_same_seed_then_same_draws_and_script_first() -> None:
    a, b = FaultPlan.parse("500:0.3,seed=4"), FaultPlan.parse("500:0.3,seed=4")
    assert [a.draw(("500",)) for _ in range(50)] == [b.draw(("500",)) for _ in range(50)]
    a.script("drop", None)
    assert a.draw(("drop", "500")) == "drop" and a.draw(("500",)) is None
