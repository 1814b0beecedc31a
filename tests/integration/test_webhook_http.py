"""The webhook over real HTTP on loopback: authentication, idempotency, limits, bad bodies.

The app runs under uvicorn in a thread of the test process, on a SQLite inbox in a temporary
folder; requests go through httpx over TCP.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from adapters.sqlalchemy import make_engine, sql_uow_factory
from application.inbox import alert_from_payload
from entrypoints.webhook.app import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookConfig,
    create_app,
    sign,
)
from entrypoints.webhook.container import WebhookContainer, admin_actions, store_health

TOKEN = "intake-secret-token"
ADMIN = "admin-secret-token"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Served:
    def __init__(self, tmp: Path, **cfg: Any) -> None:
        self.engine = make_engine(f"sqlite:///{tmp / 'inbox.db'}")
        self.factory = sql_uow_factory(self.engine)
        container = WebhookContainer()
        kill, resume = admin_actions(container, self.factory, "default")
        health = store_health(self.factory, "default")
        config = WebhookConfig(token=TOKEN, admin_token=ADMIN, **cfg)
        self.app = create_app(self.factory, config, health=health, kill=kill, resume=resume)
        self.port = _free_port()
        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=self.port,
                                                    log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        assert self.server.started
        self.url = f"http://127.0.0.1:{self.port}"
        self.http = httpx.Client(base_url=self.url, timeout=10)

    def close(self) -> None:
        self.http.close()
        self.server.should_exit = True
        self.thread.join(10)
        self.engine.dispose()

    def inbox(self) -> list[Any]:
        with self.factory() as u:
            return list(u.inbox.list())


@pytest.fixture(autouse=True)
def _kill_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CATALYST_KILL_FILE", str(tmp_path / "KILL"))


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    s = Served(tmp_path, rate=0)
    try:
        yield s
    finally:
        s.close()


def alert(i: int | str = 1, **kw: Any) -> dict[str, Any]:
    d: dict[str, Any] = {"id": f"a-{i}", "ticker": "AAPL", "known_at": "2024-01-02T14:30:00Z",
                         "catalyst_type": "earnings", "score": 0.8, "sentiment": 0.5,
                         "headline": "beat"}
    d.update(kw)
    return d


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


def signed(body: bytes, ts: float | None = None) -> dict[str, str]:
    t = str(int(time.time() if ts is None else ts))
    return {TIMESTAMP_HEADER: t, SIGNATURE_HEADER: sign(TOKEN, t, body),
            "Content-Type": "application/json"}


# --- authentication ------------------------------------------------------------------------
def test_post_without_credentials_then_401_and_nothing_stored(served: Served) -> None:
    r = served.http.post("/v1/alerts", json=alert())
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "unauthorized"
    assert r.headers["www-authenticate"] == "Bearer"
    assert served.inbox() == []


def test_post_with_wrong_bearer_then_401(served: Served) -> None:
    r = served.http.post("/v1/alerts", json=alert(), headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401 and "wrong bearer token" in r.json()["error"]["message"]
    r = served.http.post("/v1/alerts", json=alert(), headers={"Authorization": "Basic x"})
    assert r.status_code == 401
    assert served.inbox() == []


def test_post_with_bearer_then_202_after_commit(served: Served) -> None:
    r = served.http.post("/v1/alerts", json=alert(), headers=auth())
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["id"] == "a-1" and body["status"] == "received" and not body["duplicate"]
    (rec,) = served.inbox()
    assert rec.alert_id == "a-1" and rec.status == "received" and len(rec.body_hash) == 64
    assert alert_from_payload(rec.payload).score == 0.8


def test_post_with_valid_signature_then_202(served: Served) -> None:
    body = json.dumps(alert()).encode()
    r = served.http.post("/v1/alerts", content=body, headers=signed(body))
    assert r.status_code == 202, r.text


def test_signature_of_another_body_then_401(served: Served) -> None:
    body = json.dumps(alert()).encode()
    headers = signed(b"something else")
    r = served.http.post("/v1/alerts", content=body, headers=headers)
    assert r.status_code == 401 and "wrong signature" in r.json()["error"]["message"]
    assert served.inbox() == []


def test_signature_older_than_five_minutes_then_401_expired(served: Served) -> None:
    body = json.dumps(alert()).encode()
    r = served.http.post("/v1/alerts", content=body, headers=signed(body, time.time() - 301))
    assert r.status_code == 401 and r.json()["error"]["code"] == "signature_expired"
    r = served.http.post("/v1/alerts", content=body, headers=signed(body, time.time() + 400))
    assert r.status_code == 401 and r.json()["error"]["code"] == "signature_expired"
    assert served.inbox() == []


def test_replayed_signature_then_401_and_stored_once(served: Served) -> None:
    body = json.dumps(alert()).encode()
    headers = signed(body)
    assert served.http.post("/v1/alerts", content=body, headers=headers).status_code == 202
    r = served.http.post("/v1/alerts", content=body, headers=headers)
    assert r.status_code == 401 and r.json()["error"]["code"] == "replayed"
    assert len(served.inbox()) == 1


def test_tradingview_body_with_passphrase_is_mapped(served: Served) -> None:
    tv = {"passphrase": TOKEN, "ticker": "NASDAQ:AAPL", "action": "sell", "price": 187.5,
          "time": "2024-01-02T15:00:00Z", "message": "RSI cross down"}
    r = served.http.post("/v1/alerts", json=tv)
    assert r.status_code == 202, r.text
    (rec,) = served.inbox()
    a = alert_from_payload(rec.payload)
    assert (a.ticker, a.sentiment, a.score, a.headline) == ("AAPL", -1.0, 1.0, "RSI cross down")
    assert a.known_at == datetime(2024, 1, 2, 15, tzinfo=UTC) and a.source == "tradingview"
    assert a.data["price"] == 187.5 and a.id.startswith("tv-")
    # TradingView sending the same alert again is the same alert
    assert served.http.post("/v1/alerts", json=tv).status_code == 200
    bad = {**tv, "passphrase": "wrong"}
    assert served.http.post("/v1/alerts", json=bad).status_code == 401
    for field, value in (("time", "noon"), ("action", "hold"), ("ticker", None)):
        r = served.http.post("/v1/alerts", json={**tv, field: value})
        assert r.status_code == 422 and r.json()["error"]["field"] == field, r.text
    no_time = {k: v for k, v in tv.items() if k != "time"}
    r = served.http.post("/v1/alerts", json=no_time)
    assert r.status_code == 422 and r.json()["error"]["field"] == "time", r.text


# --- idempotency -------------------------------------------------------------------------
def test_same_alert_id_again_then_200_with_the_first_result(served: Served) -> None:
    first = served.http.post("/v1/alerts", json=alert(headline="first"), headers=auth())
    again = served.http.post("/v1/alerts", json=alert(headline="second"), headers=auth())
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["duplicate"] is True
    assert again.json()["body_hash"] == first.json()["body_hash"]
    assert again.json()["received_at"] == first.json()["received_at"]
    (rec,) = served.inbox()
    assert alert_from_payload(rec.payload).headline == "first"
    got = served.http.get("/v1/alerts/a-1", headers=auth())
    assert got.status_code == 200 and got.json()["status"] == "received"
    assert served.http.get("/v1/alerts/nope", headers=auth()).status_code == 404
    assert served.http.get("/v1/alerts/a-1").status_code == 401


def test_batch_stores_each_once_and_reports_duplicates(served: Served) -> None:
    served.http.post("/v1/alerts", json=alert(1), headers=auth())
    r = served.http.post("/v1/alerts", json=[alert(1), alert(2), alert(2)], headers=auth())
    assert r.status_code == 202
    assert [x["duplicate"] for x in r.json()["alerts"]] == [True, False, True]
    r = served.http.post("/v1/alerts", json={"alerts": [alert(1), alert(2)]}, headers=auth())
    assert r.status_code == 200
    assert [x.alert_id for x in served.inbox()] == ["a-1", "a-2"]


def test_batch_with_one_bad_alert_then_422_naming_it_and_nothing_stored(served: Served) -> None:
    r = served.http.post("/v1/alerts", json=[alert(1), alert(2, score=3)], headers=auth())
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "alerts[1].score"
    assert served.inbox() == []


@pytest.mark.parametrize(("bad", "field"), [
    ({"score": None}, "score"), ({"score": "x"}, "score"), ({"score": 1.5}, "score"),
    ({"ticker": 5}, "ticker"), ({"known_at": "yesterday"}, "known_at"),
    ({"known_at": "2024-01-02T14:30:00"}, "known_at"), ({"id": ""}, "id"),
    ({"catalyst_type": "rumour"}, "catalyst_type"), ({"sentiment": 2}, "sentiment"),
    ({"data": [1]}, "data"), ({"id": "x" * 200}, "id"),
])
def test_bad_field_then_422_naming_it(served: Served, bad: dict[str, Any], field: str) -> None:
    r = served.http.post("/v1/alerts", json=alert(**bad), headers=auth())
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == field, r.json()
    assert served.inbox() == []


# --- limits --------------------------------------------------------------------------------
def test_body_over_256_kib_then_413(served: Served) -> None:
    big = json.dumps(alert(headline="x" * (256 * 1024))).encode()
    r = served.http.post("/v1/alerts", content=big, headers={**auth(),
                                                             "Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while streaming
        for i in range(0, len(big), 65536):
            yield big[i:i + 65536]

    r = served.http.post("/v1/alerts", content=chunks(), headers=auth())
    assert r.status_code == 413
    assert served.inbox() == []


def test_rate_limit_then_429_with_retry_after(tmp_path: Path) -> None:
    s = Served(tmp_path, rate=1.0, burst=3)
    try:
        codes = [s.http.post("/v1/alerts", json=alert(i), headers=auth()) for i in range(5)]
        assert [c.status_code for c in codes] == [202, 202, 202, 429, 429]
        assert int(codes[3].headers["retry-after"]) >= 1
        assert codes[3].json()["error"]["code"] == "rate_limited"
        assert len(s.inbox()) == 3
    finally:
        s.close()


# --- JSON errors everywhere, never a 500 for bad input -------------------------------------
def test_unknown_paths_and_methods_answer_json(served: Served) -> None:
    r = served.http.get("/nope")
    assert r.status_code == 404 and r.json()["error"]["code"] == "http_404"
    r = served.http.put("/v1/alerts", json={})
    assert r.status_code == 405 and "error" in r.json()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=10), kids,
                                                              max_size=5),
    max_leaves=20,
)
alert_like = st.fixed_dictionaries({}, optional={
    "id": json_values | st.text(max_size=140), "ticker": json_values | st.sampled_from(["AAPL",
                                                                                  "", "a b"]),
    "known_at": json_values | st.sampled_from(["2024-01-02T14:30:00Z", "2024-13-40",
                                               "2024-01-02"]),
    "score": json_values, "sentiment": json_values, "catalyst_type": json_values,
    "data": json_values, "action": json_values, "time": json_values, "passphrase": json_values,
})


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(body=st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    alert_like.map(lambda v: json.dumps(v).encode()),
    st.lists(alert_like, max_size=3).map(lambda v: json.dumps(v).encode()),
))
@example(body=b'{"id": "x", "ticker": "AAPL", "known_at": 1e400, "score": 0.5}')
@example(body=b'[' * 5000 + b']' * 5000)
@example(body=b'{"time": 1e300, "action": "buy", "ticker": "AAPL"}')
@example(body=b'\xff\xfe')
def test_fuzzed_bodies_never_get_a_500(served: Served, body: bytes) -> None:
    for headers in (auth(), {}):
        r = served.http.post("/v1/alerts", content=body,
                             headers={**headers, "Content-Type": "application/json"})
        assert r.status_code in (200, 202, 400, 401, 413, 422), (r.status_code, r.text)
        assert "error" in r.json() or r.status_code in (200, 202)


# --- health and admin ---------------------------------------------------------------------
def test_health_reports_inbox_and_risk(served: Served) -> None:
    served.http.post("/v1/alerts", json=alert(), headers=auth())
    h = served.http.get("/v1/health").json()
    assert h["status"] == "ok" and h["inbox"]["received"] == 1
    assert h["risk"]["killed"] is False and h["engine"]["run"] == "default"


def test_kill_and_resume_need_the_admin_token_and_an_approver(served: Served) -> None:
    r = served.http.post("/v1/kill", json={"by": "ops"}, headers=auth())
    assert r.status_code == 401
    assert served.http.get("/v1/health").json()["risk"]["killed"] is False
    adm = {"Authorization": f"Bearer {ADMIN}"}
    r = served.http.post("/v1/kill", json={"by": "ops", "reason": "test"}, headers=adm)
    assert r.status_code == 200, r.text
    assert r.json()["by"] == "http:ops"
    h = served.http.get("/v1/health").json()["risk"]
    assert h["killed"] is True and h["state"] == "halted"
    r = served.http.post("/v1/resume", json={"reason": "fine"}, headers=adm)
    assert r.status_code == 422 and r.json()["error"]["field"] == "approved_by"
    r = served.http.post("/v1/resume", json={"approved_by": "alice"}, headers=adm)
    assert r.status_code == 200, r.text
    assert r.json()["resumed_by"] == "http:alice"
    assert served.http.get("/v1/health").json()["risk"]["killed"] is False
    r = served.http.post("/v1/kill", json={"flatten": "yes"}, headers=adm)
    assert r.status_code == 422 and r.json()["error"]["field"] == "flatten"
