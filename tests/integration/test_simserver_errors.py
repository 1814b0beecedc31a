"""Bad input, limits and guards of the sim-server: JSON errors in Alpaca's shape, never a 500.

Includes the raw-HTTP and websocket shapes of the older alpaca-trade-api SDK (stream at
``/stream/`` with a trailing slash), which is not installed here because it pins old
msgpack/websockets/aiohttp versions.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from websockets.sync.client import connect

import adapters.alpaca  # noqa: F401 - first: silences alpaca-py's websockets.legacy warning
from adapters.alpaca_server import AlpacaCompatServer

KEY, SECRET = "PKSIMERR00000000000001", "sim-err-secret-00000000000000000000000001"
H = {"APCA-API-KEY-ID": KEY, "APCA-API-SECRET-KEY": SECRET}


def _start(**kw: Any) -> AlpacaCompatServer:
    s = AlpacaCompatServer(api_key=KEY, secret_key=SECRET, **kw)
    s.bar("AAPL", 100, 100, 100, 100, ts=datetime(2024, 1, 2, 15, tzinfo=UTC))
    s.start()
    return s


@pytest.fixture(scope="module")
def server() -> Iterator[AlpacaCompatServer]:
    s = _start()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture(scope="module")
def http(server: AlpacaCompatServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, headers=H, timeout=10) as c:
        yield c


def _is_alpaca_error(r: httpx.Response, status: int) -> None:
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert set(body) == {"code", "message"} and isinstance(body["code"], int), body
    assert body["message"]


@pytest.mark.parametrize(("body", "status", "words"), [
    (b"[1, 2]", 400, "JSON object"),
    (b'"buy"', 400, "JSON object"),
    (b"{not json", 400, "not valid JSON"),
    (b"", 400, "JSON object"),
    (json.dumps({"symbol": "AAPL", "qty": 1, "side": "buy", "type": "limit",
                 "time_in_force": "day", "order_class": "bracket", "limit_price": 99,
                 "take_profit": "110", "stop_loss": {"stop_price": 90}}).encode(), 422,
     "take_profit"),
    (json.dumps({"symbol": "AAPL", "qty": "abc", "side": "buy", "type": "market",
                 "time_in_force": "day"}).encode(), 422, "qty"),
    (json.dumps({"symbol": "AAPL", "qty": 1, "side": "hold", "type": "market",
                 "time_in_force": "day"}).encode(), 422, "side"),
    (json.dumps({"symbol": "AAPL", "qty": 1, "notional": 100, "side": "buy",
                 "type": "market", "time_in_force": "day"}).encode(), 422, "notional"),
    (json.dumps({"symbol": ["AAPL"], "qty": 1, "side": "buy", "type": "market",
                 "time_in_force": "day"}).encode(), 422, "symbol"),
])
def test_post_order_when_body_is_bad_then_4xx_json_naming_the_problem(
    http: httpx.Client, body: bytes, status: int, words: str,
) -> None:
    r = http.post("/v2/orders", content=body, headers={"content-type": "application/json"})
    _is_alpaca_error(r, status)
    assert words in r.json()["message"]


@pytest.mark.parametrize(("path", "params", "words"), [
    ("/v2/orders", {"limit": "abc"}, "limit"),
    ("/v2/orders", {"limit": "0"}, "limit"),
    ("/v2/orders", {"after": "not-a-time"}, "after"),
    ("/v2/orders", {"status": "weird"}, "status"),
    ("/v2/orders", {"nested": "maybe"}, "nested"),
    ("/v2/account/activities", {"direction": "up"}, "direction"),
    ("/v2/account/portfolio/history", {"period": "forever"}, "period"),
])
def test_queries_when_a_parameter_is_bad_then_4xx_json(
    http: httpx.Client, path: str, params: dict[str, str], words: str,
) -> None:
    r = http.get(path, params=params)
    assert r.status_code in (400, 422), r.text
    _is_alpaca_error(r, r.status_code)
    assert words in r.json()["message"]


def test_unknown_path_and_method_when_called_then_404_and_405_json(http: httpx.Client) -> None:
    _is_alpaca_error(http.get("/v2/nothing/here"), 404)
    _is_alpaca_error(http.put("/v2/clock"), 405)
    _is_alpaca_error(http.get("/v2/orders/does-not-exist"), 404)
    _is_alpaca_error(http.delete("/v2/positions/ZZZZ"), 404)


def test_sim_bar_when_body_is_bad_then_422_not_500(http: httpx.Client) -> None:
    for body in ({"symbol": "AAPL"}, {"symbol": "AAPL", "o": "x", "h": 1, "l": 1, "c": 1},
                 {"symbol": "AAPL", "o": 2, "h": 1, "l": 1, "c": 1}, [1]):
        r = http.post("/_sim/bar", json=body)
        assert r.status_code in (400, 422), (body, r.text)
        _is_alpaca_error(r, r.status_code)
    _is_alpaca_error(http.post("/_sim/faults", content=b"429:2"), 422)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=3),
    max_leaves=8)
_order_field = st.sampled_from(["symbol", "qty", "notional", "side", "type", "time_in_force",
                                "limit_price", "stop_price", "trail_price", "trail_percent",
                                "order_class", "take_profit", "stop_loss", "client_order_id",
                                "extended_hours"])


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.dictionaries(_order_field, _json, max_size=8) | _json)
@example(body={"symbol": "AAPL", "qty": 1, "side": "buy", "type": "market",
               "time_in_force": "day", "order_class": "oto", "take_profit": {"limit_price": []}})
@example(body={"symbol": "AAPL", "qty": 1e400, "side": "buy"})
def test_post_order_when_body_is_fuzzed_then_never_a_500(
    http: httpx.Client, body: Any,
) -> None:
    r = http.post("/v2/orders", content=json.dumps(body, allow_nan=True),
                  headers={"content-type": "application/json"})
    assert r.status_code < 500, (body, r.text)
    if r.status_code >= 400:
        _is_alpaca_error(r, r.status_code)


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(["/v2/orders", "/v2/stocks/bars", "/v2/stocks/AAPL/bars",
                             "/v2/calendar", "/v2/account/activities",
                             "/v2/account/portfolio/history", "/v2/assets"]),
       params=st.dictionaries(st.sampled_from(["limit", "after", "until", "start", "end",
                                               "timeframe", "symbols", "direction", "sort",
                                               "page_token", "status", "side", "period",
                                               "date", "page_size", "nested"]),
                              st.text(max_size=12), max_size=4))
def test_queries_when_fuzzed_then_never_a_500(
    http: httpx.Client, path: str, params: dict[str, str],
) -> None:
    r = http.get(path, params=params)
    assert r.status_code < 500, (path, params, r.text)


def test_body_over_the_limit_when_posted_then_413_and_no_order() -> None:
    s = _start(max_body=10_000)
    try:
        big = json.dumps({"symbol": "AAPL", "qty": 1, "side": "buy", "type": "market",
                          "time_in_force": "day", "pad": "x" * 50_000})
        r = httpx.post(f"{s.base_url}/v2/orders", content=big, headers=H, timeout=10)
        _is_alpaca_error(r, 413)
        assert s.all_orders() == []
    finally:
        s.stop()


def test_rate_limit_when_exceeded_then_429_like_alpaca() -> None:
    s = _start(rate_limit=5)
    try:
        with httpx.Client(base_url=s.base_url, headers=H, timeout=10) as c:
            codes = [c.get("/v2/account").status_code for _ in range(8)]
            last = c.get("/v2/account")
        assert codes[:5] == [200] * 5 and 429 in codes[5:]
        _is_alpaca_error(last, 429)
        assert last.headers["X-RateLimit-Limit"] == "5"
    finally:
        s.stop()


def test_sim_control_when_key_is_set_then_needs_key_and_control_token() -> None:
    s = _start(control_token="tok-123")
    try:
        bar = {"symbol": "AAPL", "o": 1, "h": 1, "l": 1, "c": 1}
        assert httpx.post(f"{s.base_url}/_sim/bar", json=bar).status_code == 401
        assert httpx.get(f"{s.base_url}/_sim/orders").status_code == 401
        assert httpx.post(f"{s.base_url}/_sim/bar", json=bar, headers=H).status_code == 403
        ok = httpx.post(f"{s.base_url}/_sim/bar", json=bar,
                        headers={**H, "X-Sim-Control-Token": "tok-123"})
        assert ok.status_code == 200
    finally:
        s.stop()


# --- stream -------------------------------------------------------------------------------------
def _auth(ws: Any) -> dict[str, Any]:
    ws.send(json.dumps({"action": "authenticate", "data": {"key_id": KEY,
                                                           "secret_key": SECRET}}))
    return json.loads(ws.recv(timeout=5))  # type: ignore[no-any-return]


@pytest.mark.parametrize("path", ["/stream", "/stream/"])
def test_stream_when_path_has_or_lacks_trailing_slash_then_trade_updates_flow(
    server: AlpacaCompatServer, http: httpx.Client, path: str,
) -> None:
    with connect(f"ws://127.0.0.1:{server.port}{path}") as ws:
        assert _auth(ws)["data"]["status"] == "authorized"
        ws.send(json.dumps({"action": "listen", "data": {"streams": ["trade_updates"]}}))
        assert json.loads(ws.recv(timeout=5))["stream"] == "listening"
        r = http.post("/v2/orders", json={"symbol": "AAPL", "qty": 1, "side": "buy",
                                          "type": "limit", "limit_price": 1,
                                          "time_in_force": "gtc"})
        assert r.status_code == 200
        msg = json.loads(ws.recv(timeout=5))
        assert msg["stream"] == "trade_updates" and msg["data"]["event"] == "new"
        assert msg["data"]["order"]["id"] == r.json()["id"]


def test_stream_when_first_frame_is_not_json_then_error_and_close(
    server: AlpacaCompatServer,
) -> None:
    from websockets.exceptions import ConnectionClosed  # noqa: PLC0415

    with connect(f"ws://127.0.0.1:{server.port}/stream") as ws:
        ws.send("hello")
        reply = json.loads(ws.recv(timeout=5))
        assert reply["data"]["status"] == "unauthorized"
        with pytest.raises(ConnectionClosed) as exc:
            ws.recv(timeout=5)
        assert exc.value.rcvd is not None and exc.value.rcvd.code == 1003


def test_stream_when_later_frame_is_garbage_then_connection_survives(
    server: AlpacaCompatServer,
) -> None:
    with connect(f"ws://127.0.0.1:{server.port}/stream/") as ws:
        _auth(ws)
        ws.send("{{{")
        assert "error" in json.loads(ws.recv(timeout=5))["data"]
        ws.send(json.dumps({"action": "listen", "data": {"streams": ["trade_updates"]}}))
        assert json.loads(ws.recv(timeout=5))["stream"] == "listening"


def test_time_moves_only_forward_when_bars_pushed_then_clock_follows(
    server: AlpacaCompatServer, http: httpx.Client,
) -> None:
    before = http.get("/v2/clock").json()["timestamp"]
    server.bar("AAPL", 100, 100, 100, 100, ts=datetime(2024, 1, 2, 16, tzinfo=UTC)
               + timedelta(days=1))
    after = http.get("/v2/clock").json()["timestamp"]
    assert before < after == "2024-01-03T16:00:00Z"


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.dictionaries(st.sampled_from(["qty", "time_in_force", "limit_price",
                                             "stop_price", "trail", "client_order_id",
                                             "extra"]), _json, max_size=4) | _json,
       close=st.dictionaries(st.sampled_from(["qty", "percentage"]), st.text(max_size=8),
                             max_size=2))
def test_replace_and_close_when_fuzzed_then_never_a_500(
    http: httpx.Client, body: Any, close: dict[str, str],
) -> None:
    placed = http.post("/v2/orders", json={"symbol": "AAPL", "qty": 1, "side": "buy",
                                           "type": "limit", "limit_price": 50,
                                           "time_in_force": "gtc"})
    assert placed.status_code == 200, placed.text
    r = http.patch(f"/v2/orders/{placed.json()['id']}", content=json.dumps(body))
    assert r.status_code < 500, (body, r.text)
    r = http.delete("/v2/positions/AAPL", params=close)
    assert r.status_code < 500, (close, r.text)


def test_stream_when_order_replaced_then_replaced_event_for_the_old_order(
    server: AlpacaCompatServer, http: httpx.Client,
) -> None:
    with connect(f"ws://127.0.0.1:{server.port}/stream") as ws:
        _auth(ws)
        ws.send(json.dumps({"action": "listen", "data": {"streams": ["trade_updates"]}}))
        json.loads(ws.recv(timeout=5))
        old = http.post("/v2/orders", json={"symbol": "AAPL", "qty": 1, "side": "buy",
                                            "type": "limit", "limit_price": 2,
                                            "time_in_force": "gtc"}).json()
        new = http.patch(f"/v2/orders/{old['id']}", json={"limit_price": 3}).json()
        events = [json.loads(ws.recv(timeout=5))["data"] for _ in range(3)]
        assert [(e["event"], e["order"]["id"]) for e in events] == \
            [("new", old["id"]), ("replaced", old["id"]), ("new", new["id"])]
        assert events[1]["order"]["replaced_by"] == new["id"]
