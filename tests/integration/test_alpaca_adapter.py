"""AlpacaBroker through the real, unpatched alpaca-py SDK against the loopback server, with faults."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal

import pytest
from pydantic import ValidationError

from adapters.alpaca import AlpacaBroker, AlpacaConfig, AlpacaPriceFeed
from domain.commands import SubmitOrder
from domain.errors import (
    AuthFailed,
    BrokerUnavailable,
    DuplicateClientOrderId,
    OrderNotFound,
)
from domain.events import OrderFilled, OrderStatus
from domain.ids import client_order_id
from domain.values import OrderClass, OrderType
from tests.contract.harness_alpaca import TEST_KEY, TEST_SECRET, AlpacaHarness

D = Decimal


@pytest.fixture
def h() -> Iterator[AlpacaHarness]:
    harness = AlpacaHarness(use_stream=False, timeout_s=0.3, max_submit_attempts=4,
                            max_read_attempts=3)
    harness.server.faults.delay = 0.6
    harness.bar("AAPL", 100, 101, 99, 100)
    yield harness
    harness.close()


def _req(n: str, qty: int = 10, side: str = "buy", **kw: object) -> SubmitOrder:
    return SubmitOrder(client_order_id=client_order_id(f"it-{n}"), ticker="AAPL", side=side,
                       quantity=qty, **kw)  # type: ignore[arg-type]


def _count(h: AlpacaHarness, cid: str) -> int:
    return sum(o["client_order_id"] == cid for o in h.server.all_orders())


def test_submit_when_504_after_the_order_was_accepted_then_found_by_lookup_not_resent(
    h: AlpacaHarness,
) -> None:
    h.server.faults.script("504_after")
    rep = h.broker.submit_order(_req("504"))
    assert rep.status.is_open and h.server.post_orders == 1
    assert _count(h, rep.client_order_id) == 1


def test_submit_when_answer_arrives_after_the_timeout_then_one_order(h: AlpacaHarness) -> None:
    h.server.faults.script("delay_after")
    t0 = time.monotonic()
    rep = h.broker.submit_order(_req("slow"))
    assert time.monotonic() - t0 < 2.0  # the timeout fired; we did not wait for the server
    assert h.server.post_orders == 1 and _count(h, rep.client_order_id) == 1


def test_submit_when_connection_dropped_before_apply_then_resent_once(h: AlpacaHarness) -> None:
    h.server.faults.script("drop")
    rep = h.broker.submit_order(_req("drop"))
    assert _count(h, rep.client_order_id) == 1 and h.broker.stats["submit_posts"] == 2


def test_submit_when_response_dropped_after_apply_then_found_not_resent(h: AlpacaHarness) -> None:
    h.server.faults.script("drop_after")
    rep = h.broker.submit_order(_req("dropafter"))
    assert h.server.post_orders == 1 and _count(h, rep.client_order_id) == 1


def test_submit_when_lookup_lags_and_resend_gets_422_duplicate_then_already_placed(
    h: AlpacaHarness,
) -> None:
    # POST accepted but answered 504; the lookup lags (404); the re-send is refused as a
    # duplicate: that means "already placed" and the order is returned, not an error
    h.server.faults.script("504_after", "stale_404")
    rep = h.broker.submit_order(_req("stale"))
    assert h.server.post_orders == 2 and _count(h, rep.client_order_id) == 1
    assert rep.status.is_open


def test_submit_when_first_send_meets_a_taken_id_then_duplicate_error(h: AlpacaHarness) -> None:
    req = _req("dup")
    h.broker.submit_order(req)
    with pytest.raises(DuplicateClientOrderId):
        h.broker.submit_order(req)


def test_sdk_when_server_answers_429_then_post_is_sent_exactly_once(h: AlpacaHarness) -> None:
    h.server.faults.set(**{"429": 1.0})
    with pytest.raises(BrokerUnavailable, match="not re-sending"):
        h.broker.submit_order(_req("429"))
    assert h.server.post_orders == 0 and h.broker.stats["submit_posts"] == 1


def test_sdk_when_server_answers_504_then_alpaca_py_does_not_resend(h: AlpacaHarness) -> None:
    from alpaca.common.exceptions import APIError

    h.server.faults.script("504_after")
    t0 = time.monotonic()
    with pytest.raises(APIError):  # the bare (hardened) SDK call: one POST, no 3 s retries
        h.broker.client.post("/orders", {"symbol": "AAPL", "qty": "1", "side": "buy",
                                         "type": "market", "time_in_force": "day",
                                         "client_order_id": "raw-504"})
    assert h.server.post_orders == 1 and time.monotonic() - t0 < 1.0


def test_every_call_when_server_stalls_then_times_out_quickly(h: AlpacaHarness) -> None:
    h.server.faults.delay = 3.0
    h.server.faults.script("delay_before")
    t0 = time.monotonic()
    with pytest.raises(BrokerUnavailable, match="timeout"):
        h.broker._once("list orders", lambda: h.broker.client.get_orders())
    assert time.monotonic() - t0 < 1.5


def test_submit_when_everything_fails_then_unavailable_with_outcome_unknown(
    h: AlpacaHarness,
) -> None:
    h.server.faults.set(**{"500": 1.0})
    with pytest.raises(BrokerUnavailable):
        h.broker.submit_order(_req("down"))
    assert h.server.post_orders == 0


def test_auth_when_key_is_wrong_then_auth_failed_without_the_key(h: AlpacaHarness) -> None:
    bad = AlpacaBroker(AlpacaConfig(api_key="PKWRONGKEY123456", secret_key="wrong-secret-987654",
                                    base_url=h.server.base_url, use_stream=False,
                                    timeout_s=1.0, max_read_attempts=1))
    with pytest.raises(AuthFailed) as info:
        bad.get_account()
    text = str(info.value) + repr(info.value) + repr(bad.config)
    assert "PKWRONGKEY123456" not in text and "wrong-secret-987654" not in text
    assert "APCA_API_KEY_ID" in str(info.value)
    bad.close()


def test_submit_when_vendor_sends_unknown_enum_then_order_still_accepted(
    h: AlpacaHarness,
) -> None:
    from alpaca.trading.models import Order as SdkOrder

    def hook(o: dict[str, object]) -> dict[str, object]:
        return {**o, "status": "pending_review", "order_class": "mleg_new"}

    h.server.order_hook = hook
    rep = h.broker.submit_order(_req("enum"))
    assert rep.status is OrderStatus.ACCEPTED and rep.order_class is OrderClass.SIMPLE
    raw = h.server.all_orders()[0]
    with pytest.raises(ValidationError):  # what alpaca-py's own models do with it
        SdkOrder(**raw)
    assert h.server.post_orders == 1


def test_order_types_when_submitted_then_server_holds_them_as_sent(h: AlpacaHarness) -> None:
    b = h.broker
    cases = {
        "lim": _req("lim", order_type="limit", limit_price=D("95.5"), time_in_force="gtc"),
        "stp": _req("stp", order_type="stop", stop_price=D(120), time_in_force="gtc"),
        "stl": _req("stl", order_type="stop_limit", stop_price=D(120), limit_price=D(121),
                    time_in_force="gtc"),
        "trl": _req("trl", side="sell", order_type="trailing_stop", trail_percent=D(3),
                    time_in_force="gtc", qty=1),
        "brk": _req("brk", order_type="limit", limit_price=D(99), order_class="bracket",
                    take_profit_price=D(110), stop_loss_price=D(95), time_in_force="gtc"),
    }
    b.submit_order(_req("own", qty=1))
    h.bar("AAPL", 100, 101, 99, 100)  # hold 1 share for the trailing sell
    for req in cases.values():
        rep = b.submit_order(req)
        assert rep.order_type is req.order_type and rep.quantity == req.quantity
    got = {o["client_order_id"]: o for o in h.server.all_orders()}
    assert got[cases["lim"].client_order_id]["limit_price"] == "95.5"
    assert got[cases["stl"].client_order_id]["stop_price"] == "120"
    assert got[cases["trl"].client_order_id]["type"] == OrderType.TRAILING_STOP.value
    brk = got[cases["brk"].client_order_id]
    assert brk["order_class"] == "bracket"


def test_bracket_when_entry_fills_then_legs_work_and_stop_leg_fills(h: AlpacaHarness) -> None:
    req = _req("brk2", order_class="bracket", take_profit_price=D(110), stop_loss_price=D(95))
    h.broker.submit_order(req)
    h.bar("AAPL", 100, 101, 99, 100)
    h.bar("AAPL", 96, 96, 90, 91)  # through the stop
    assert h.broker.get_positions() == []


def test_cancel_when_unknown_then_not_found_and_when_filled_then_no_op(h: AlpacaHarness) -> None:
    with pytest.raises(OrderNotFound):
        h.broker.cancel_order("never-placed")
    rep = h.broker.submit_order(_req("fill"))
    h.bar("AAPL", 100, 101, 99, 100)
    h.broker.cancel_order(rep.client_order_id)  # filled: nothing to cancel
    got = h.broker.get_order_by_client_id(rep.client_order_id)
    assert got is not None and got.status is OrderStatus.FILLED


def test_stream_when_fill_happens_then_event_arrives_without_polling() -> None:
    harness = AlpacaHarness(use_stream=True, poll_interval_s=1e9)
    try:
        harness.bar("AAPL", 100, 101, 99, 100)
        harness.broker.poll_events()  # the first call polls once; later ones do not
        deadline = time.monotonic() + 10
        while harness.server.stream_listeners < 1 and time.monotonic() < deadline:
            time.sleep(0.02)  # let the stream connect and subscribe
        rep = harness.broker.submit_order(_req("stream"))
        harness.bar("AAPL", 101, 102, 100, 101)
        fills: list[OrderFilled] = []
        deadline = time.monotonic() + 5
        while not fills and time.monotonic() < deadline:
            fills = [e for e in harness.broker.poll_events() if isinstance(e, OrderFilled)]
            time.sleep(0.05)
        assert [f.fill.quantity for f in fills] == [D(10)]
        assert fills[0].client_order_id == rep.client_order_id
        assert harness.broker.stats["stream_messages"] >= 1
    finally:
        harness.close()


def test_stream_when_messages_are_lost_then_polling_fills_the_gap() -> None:
    harness = AlpacaHarness(use_stream=True, poll_interval_s=0.0, faults="gap:1.0")
    try:
        harness.bar("AAPL", 100, 101, 99, 100)
        rep = harness.broker.submit_order(_req("gap"))
        harness.bar("AAPL", 101, 102, 100, 101)
        events = harness.broker.poll_events()
        fills = [e.fill for e in events if isinstance(e, OrderFilled)]
        assert [(f.quantity, f.price) for f in fills] == [(D(10), D(101))]
        assert fills[0].client_order_id == rep.client_order_id
        assert harness.broker.stats["stream_messages"] == 0
        assert harness.broker.poll_events() == []
    finally:
        harness.close()


def test_price_feed_when_bars_pushed_then_latest_and_history_served(h: AlpacaHarness) -> None:
    h.bar("AAPL", 101, 103, 100, 102)
    feed = AlpacaPriceFeed(AlpacaConfig(api_key=TEST_KEY, secret_key=TEST_SECRET,
                                        base_url=h.server.base_url, use_stream=False,
                                        rate_per_minute=1e9, burst=1000))
    assert feed.latest_price("AAPL") == D(102)
    bar = feed.latest_bar("AAPL")
    assert bar is not None and bar.close == 102
    from datetime import UTC, datetime

    bars = feed.get_bars("AAPL", datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 2, 1, tzinfo=UTC))
    assert [b.close for b in bars] == [100.0, 102.0]
    assert feed.latest_price("MSFT") is None


def _hold(h: AlpacaHarness, n: str, qty: int = 10) -> None:
    h.broker.submit_order(_req(n, qty=qty))
    h.bar("AAPL", 100, 101, 99, 100)


def _closing(h: AlpacaHarness) -> list[dict[str, object]]:
    return [o for o in h.server.all_orders() if o["side"] == "sell"]


def test_close_position_when_504_after_the_close_was_accepted_then_not_closed_twice(
    h: AlpacaHarness,
) -> None:
    _hold(h, "c504")
    h.server.faults.script("504_after")
    rep = h.broker.close_position("AAPL")
    assert rep is not None and rep.side.value == "sell" and len(_closing(h)) == 1
    h.bar("AAPL", 100, 101, 99, 100)
    assert h.broker.get_positions() == []


def test_close_all_when_504_after_it_was_applied_then_not_closed_twice(h: AlpacaHarness) -> None:
    _hold(h, "call504")
    h.server.faults.script("504_after")
    reps = h.broker.close_all_positions(cancel_orders=True)
    assert len(reps) == 1 and len(_closing(h)) == 1
    h.bar("AAPL", 100, 101, 99, 100)
    assert h.broker.get_positions() == []


def test_sdk_unhardened_when_504_after_accept_then_it_reposts_which_is_why_we_harden(
    h: AlpacaHarness,
) -> None:
    from alpaca.common.exceptions import APIError
    from alpaca.trading.client import TradingClient

    bare = TradingClient(TEST_KEY, TEST_SECRET, url_override=h.server.base_url, raw_data=True)
    bare._retry_wait = 0  # only to keep the test fast; the retry count is the SDK's default
    h.server.faults.script("504_after")
    with pytest.raises(APIError):  # the re-POST meets the taken id: 422
        bare.post("/orders", {"symbol": "AAPL", "qty": "1", "side": "buy", "type": "market",
                              "time_in_force": "day", "client_order_id": "bare-504"})
    assert h.server.post_orders == 2 and h.server.duplicate_posts == 1
