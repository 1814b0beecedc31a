"""Signal router: rules, threshold, duplicates, cool-down, state round trip."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from application.router import AlertSignalSource, RouterConfig, RoutingRule, SignalRouter
from domain.alerts import Alert
from domain.errors import InvalidInput
from domain.values import Action

T = datetime(2024, 3, 1, 14, 30, tzinfo=UTC)


def alert(id_: str = "a1", ticker: str = "AAPL", score: float = 0.8, sentiment: float = 1.0,
          at: datetime = T, kind: str = "earnings") -> Alert:
    return Alert(id=id_, ticker=ticker, known_at=at, catalyst_type=kind, score=score,
                 sentiment=sentiment)


def test_route_when_positive_high_score_then_buy_with_scaled_confidence() -> None:
    d = SignalRouter().route(alert(score=0.8))
    assert d.signal is not None and d.reason == "signal"
    assert d.signal.action is Action.BUY
    assert d.signal.confidence == pytest.approx(0.9)
    assert d.signal.signal_id == "sig-a1" and d.signal.ts == T


def test_route_when_negative_sentiment_then_sell() -> None:
    d = SignalRouter().route(alert(sentiment=-1.0))
    assert d.signal is not None and d.signal.action is Action.SELL


def test_route_when_confidence_below_default_threshold_then_dropped() -> None:
    d = SignalRouter().route(alert(score=0.39))  # 0.5 + 0.5 * 0.39 = 0.695 < 0.70
    assert d.signal is None and d.reason == "below_threshold"
    assert d.confidence == pytest.approx(0.695)


def test_route_when_same_alert_twice_then_second_suppressed() -> None:
    r = SignalRouter()
    assert r.route(alert()).signal is not None
    assert r.route(alert()).reason == "duplicate"


def test_route_when_same_ticker_within_cooldown_then_suppressed() -> None:
    r = SignalRouter(RouterConfig(cooldown=timedelta(days=2)))
    assert r.route(alert("a1")).signal is not None
    assert r.route(alert("a2", at=T + timedelta(days=1))).reason == "cooldown"
    assert r.route(alert("a3", at=T + timedelta(days=2))).signal is not None
    assert r.route(alert("a4", ticker="MSFT", at=T + timedelta(days=2))).signal is not None


def test_route_when_no_rule_matches_then_no_signal() -> None:
    fda_only = RoutingRule.from_dict({"catalyst_types": ["fda"], "action": "buy"})
    r = SignalRouter(RouterConfig(rules=(fda_only,)))
    assert r.route(alert(kind="earnings")).reason == "no_rule"
    assert r.route(alert("b", kind="fda")).signal is not None


def test_route_when_shorts_disabled_then_sell_alert_dropped() -> None:
    d = SignalRouter(RouterConfig(allow_short=False)).route(alert(sentiment=-1))
    assert d.reason == "short_disabled"


def test_rule_from_dict_when_bad_action_then_invalid_input() -> None:
    with pytest.raises(InvalidInput):
        RoutingRule.from_dict({"action": "yolo"})


def test_config_when_threshold_out_of_range_then_invalid_input() -> None:
    with pytest.raises(InvalidInput):
        RouterConfig(threshold=1.5)


def test_state_round_trip_when_restored_then_duplicates_and_cooldowns_remembered() -> None:
    r = SignalRouter()
    r.route(alert("a1"))
    r2 = SignalRouter()
    r2.load_state(r.dump_state())
    assert r2.route(alert("a1")).reason == "duplicate"
    assert r2.route(alert("a2", at=T + timedelta(hours=1))).reason == "cooldown"


class _ListFeed:
    def __init__(self, alerts: list[Alert]) -> None:
        self.alerts = alerts

    def poll(self, now: datetime) -> list[Alert]:
        out = [a for a in self.alerts if a.known_at <= now]
        self.alerts = [a for a in self.alerts if a.known_at > now]
        return out

    def dump_state(self) -> str:
        return "null"

    def load_state(self, raw: str | None) -> None:
        return None


def test_alert_source_when_polled_then_counts_every_decision() -> None:
    src = AlertSignalSource(_ListFeed([alert("a"), alert("b", ticker="KO", score=0.1),
                                       alert("a")]))
    sigs = src.poll(T)
    assert [s.signal_id for s in sigs] == ["sig-a"]
    assert src.counts == {"signal": 1, "below_threshold": 1, "duplicate": 1}


_IDS = st.text(alphabet='ab"\\é-1', min_size=1, max_size=6)  # quotes, escapes, non-ASCII


@given(st.lists(st.tuples(_IDS, st.sampled_from(["AAPL", "MSFT", "XOM"]), st.integers(0, 30)),
                max_size=40),
       st.integers(0, 40))
def test_dump_state_when_ids_arrive_then_text_of_plain_json_and_round_trips(
        arrivals: list[tuple[str, str, int]], dump_at: int) -> None:
    router = SignalRouter(RouterConfig(threshold=0.0))
    t0 = datetime(2024, 1, 1, 14, tzinfo=UTC)
    for i, (id_, ticker, day) in enumerate(arrivals):
        if i == dump_at:
            router.dump_state()  # an earlier dump: later ids are inserted in order
        router.route(alert(id_, ticker, at=t0 + timedelta(days=day)))
    text = router.dump_state()
    assert text == json.dumps({
        "seen": sorted(router._seen),
        "last": {t: ts.isoformat() for t, ts in sorted(router._last.items())}})
    again = SignalRouter()
    again.load_state(text)
    assert again.dump_state() == text


def test_alert_source_state_when_dumped_then_router_embedded_as_object_and_round_trips() -> None:
    src = AlertSignalSource(_ListFeed([alert("a"), alert("b\"q", ticker="KO"), alert("a")]))
    src.poll(T)
    text = src.dump_state()
    doc = json.loads(text)
    assert doc == {"feed": "null", "router": json.loads(src.router.dump_state()),
                   "counts": {"signal": 2, "duplicate": 1}}
    again = AlertSignalSource(_ListFeed([]))
    again.load_state(text)
    assert again.dump_state() == text
    # a state written with the router as a JSON string still loads
    old = json.dumps({"feed": "null", "router": src.router.dump_state(), "counts": src.counts})
    older = AlertSignalSource(_ListFeed([]))
    older.load_state(old)
    assert older.dump_state() == text
    assert [d.reason for d in (older.router.route(alert("a")),)] == ["duplicate"]
