"""Alert-feed contract (:class:`application.router.AlertFeed`): numbered cases AS-...

An alert feed releases each alert once, when the clock reaches its ``known_at`` (no acting on
news before it is public), in ``(known_at, id)`` order; bad lines are skipped and reported
with their line number; ``dump_state`` / ``load_state`` carry its position across a restart so
nothing is released twice and nothing is lost. Cases AS-10.. apply to feeds that follow a
growing source (folder, stdin).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.contract.harness_alert_feeds import HARNESSES, AlertFeedHarness, alert

D1 = "2024-01-02T14:30:00Z"
D2 = "2024-01-03T14:30:00Z"
D3 = "2024-01-04T14:30:00Z"


def at(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


END = datetime(2030, 1, 1, tzinfo=UTC)


@pytest.fixture(params=sorted(HARNESSES))
def h(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AlertFeedHarness]:
    harness = HARNESSES[request.param](tmp_path)
    try:
        yield harness
    finally:
        harness.close()


@pytest.fixture(params=sorted(k for k, v in HARNESSES.items() if v.follows))
def follower(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AlertFeedHarness]:
    harness = HARNESSES[request.param](tmp_path)
    try:
        yield harness
    finally:
        harness.close()


def ids(alerts: object) -> list[str]:
    return [a.id for a in alerts]  # type: ignore[attr-defined]


def test_as01_poll_releases_only_alerts_already_known(h: AlertFeedHarness) -> None:
    h.write([alert(1, D1), alert(2, D2), alert(3, D3)])
    feed = h.open()
    h.settle()
    assert ids(feed.poll(at(D1) - (at(D2) - at(D1)))) == []
    assert ids(feed.poll(at(D2))) == ["a1", "a2"]  # known_at == now is known
    assert ids(feed.poll(END)) == ["a3"]


def test_as02_release_order_is_known_at_then_id_whatever_the_source_order(
    h: AlertFeedHarness,
) -> None:
    h.write([alert("c", D2), alert("b", D1), alert("z", D1), alert("a", D2), alert("m", D1)])
    feed = h.open()
    h.settle()
    assert ids(feed.poll(END)) == ["ab", "am", "az", "aa", "ac"]


def test_as03_each_alert_is_released_once(h: AlertFeedHarness) -> None:
    h.write([alert(1, D1), alert(2, D2)])
    feed = h.open()
    h.settle()
    assert ids(feed.poll(at(D1))) == ["a1"]
    assert ids(feed.poll(at(D1))) == []
    assert ids(feed.poll(END)) == ["a2"]
    assert ids(feed.poll(END)) == []


def test_as04_released_alerts_carry_every_field(h: AlertFeedHarness) -> None:
    h.write([alert(7, D1, ticker="MSFT", score=0.55, sentiment=-0.5)])
    feed = h.open()
    h.settle()
    (a,) = feed.poll(END)
    assert (a.id, a.ticker, a.known_at, a.catalyst_type.value) == (
        "a7", "MSFT", at(D1), "earnings")
    assert (a.score, a.sentiment, a.headline) == (0.55, -0.5, "headline 7")
    assert a.known_at.utcoffset() is not None


def test_as05_a_bad_line_is_skipped_with_its_line_number_and_the_rest_released(
    h: AlertFeedHarness,
) -> None:
    h.write([alert(1, D1), h.bad_line(), alert(3, D2)])
    feed = h.open()
    h.settle()
    assert ids(feed.poll(END)) == ["a1", "a3"]
    issues = feed.issues.issues
    assert len(issues) == 1 and feed.issues.skipped == 1
    line = issues[0].line - (1 if h.kind == "csv" else 0)  # the CSV header is line 1
    assert line == 2 and issues[0].reason


def test_as06_unknown_tickers_and_future_alerts_are_skipped_with_a_reason(
    h: AlertFeedHarness,
) -> None:
    h.write([alert(1, D1), alert(2, D1, ticker="ZZZZ"), alert(3, "2029-01-01T00:00:00Z")])
    feed = h.open(known_tickers={"AAPL"}, not_after=at(D3))
    h.settle()
    assert ids(feed.poll(END)) == ["a1"]
    reasons = sorted(i.reason for i in feed.issues.issues)
    assert len(reasons) == 2
    assert any("unknown ticker 'ZZZZ'" in r for r in reasons)
    assert any("future timestamp" in r for r in reasons)


def test_as07_a_restart_from_dumped_state_releases_the_rest_once(h: AlertFeedHarness) -> None:
    h.write([alert(1, D1), alert(2, D1), alert(3, D2), alert(4, D3)])
    first = h.open()
    h.settle()
    assert ids(first.poll(at(D1))) == ["a1", "a2"]
    state = first.dump_state()
    assert isinstance(state, str)
    json.loads(state)  # the engine keeps it in the state repository as text
    second = h.open()
    second.load_state(state)
    h.settle()
    assert ids(second.poll(END)) == ["a3", "a4"]


def test_as08_loading_no_state_starts_from_the_beginning(h: AlertFeedHarness) -> None:
    h.write([alert(1, D1), alert(2, D2)])
    for raw in (None, ""):
        feed = h.open()
        feed.load_state(raw)
        h.settle()
        assert ids(feed.poll(END)) == ["a1", "a2"]


def test_as09_state_is_unchanged_by_a_poll_that_finds_nothing_new(h: AlertFeedHarness) -> None:
    h.write([alert(1, D1), alert(2, D3)])
    feed = h.open()
    h.settle()
    feed.poll(at(D1))
    before = feed.dump_state()
    assert ids(feed.poll(at(D2))) == []
    assert feed.dump_state() == before


def test_as10_alerts_written_after_opening_are_released_later(
    follower: AlertFeedHarness,
) -> None:
    h = follower
    h.write([alert(1, D1)])
    feed = h.open()
    h.settle()
    assert ids(feed.poll(END)) == ["a1"]
    h.write([alert(2, D2), alert(3, D3)])
    h.settle()
    assert ids(feed.poll(END)) == ["a2", "a3"]


def test_as11_a_restart_after_growth_neither_repeats_nor_loses_alerts(
    follower: AlertFeedHarness,
) -> None:
    h = follower
    h.write([alert(1, D1), alert(2, D2)])
    first = h.open()
    h.settle()
    assert ids(first.poll(at(D1))) == ["a1"]
    h.write([alert(3, D3)])
    h.settle()
    first.poll(at(D1))
    state = first.dump_state()
    second = h.open()
    second.load_state(state)
    h.settle()
    assert ids(second.poll(END)) == ["a2", "a3"]


def test_as12_a_late_arrival_older_than_released_alerts_is_not_silently_lost(
    follower: AlertFeedHarness,
) -> None:
    h = follower
    h.write([alert(2, D2)])
    feed = h.open()
    h.settle()
    assert ids(feed.poll(at(D3))) == ["a2"]
    h.write([alert(1, D1)])  # known earlier, written later (a slow upstream)
    h.settle()
    got = ids(feed.poll(at(D3)))
    reported = [i for i in feed.issues.issues if "a1" in i.reason or "late" in i.reason]
    assert got == ["a1"] or reported
