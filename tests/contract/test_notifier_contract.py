"""Notifier contract: every notifier must pass these numbered cases (NT-..).

The port promises two things: a notification reaches its destination with what a person needs
(severity, title, body, data), and ``notify`` never raises into the caller, whatever the
destination does. The delivery cases run against every working notifier; the failure cases
against notifiers whose destination is down, refuses, or errors (see harness_notifiers.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from structlog.testing import capture_logs

from domain.audit import Notification, Severity
from tests.contract.harness_notifiers import (
    DOWN,
    IMPLEMENTATIONS,
    WEBHOOK_TOKEN,
    NotifierHarness,
    Servers,
    make,
    make_down,
)

T0 = datetime(2024, 1, 2, 15, tzinfo=UTC)


def _note(title: str = "Circuit breaker daily_loss", sev: Severity = Severity.CRITICAL,
          body: str = "daily_loss: 3.10% reached limit 3.00%",
          data: dict[str, Any] | None = None) -> Notification:
    return Notification(severity=sev, title=title, body=body, ts=T0,
                        data={"rule": "daily_loss", "limit": "3.00%"} if data is None else data)


@pytest.fixture(scope="module")
def servers() -> Iterator[Servers]:
    s = Servers()
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def logs() -> Iterator[list[dict[str, Any]]]:
    with capture_logs() as cap:
        yield cap


@pytest.fixture(params=IMPLEMENTATIONS)
def h(request: pytest.FixtureRequest, servers: Servers,
      logs: list[dict[str, Any]]) -> Iterator[NotifierHarness]:
    harness = make(request.param, servers, logs)
    try:
        yield harness
    finally:
        harness.close()


def test_nt01_a_notification_arrives_once_with_its_severity_and_title(
    h: NotifierHarness,
) -> None:
    assert h.notifier.notify(_note()) is None
    got = h.received()
    assert [(r.severity, r.title) for r in got] == [("critical", "Circuit breaker daily_loss")]


def test_nt02_body_and_every_data_field_reach_the_reader(h: NotifierHarness) -> None:
    h.notifier.notify(_note(data={"rule": "daily_loss", "limit": "3.00%", "equity": "96900"}))
    (got,) = h.received()
    assert "daily_loss: 3.10% reached limit 3.00%" in got.text
    for line in ("rule: daily_loss", "limit: 3.00%", "equity: 96900"):
        assert line in got.text


def test_nt03_every_severity_is_delivered_as_itself(h: NotifierHarness) -> None:
    for sev in (Severity.INFO, Severity.WARNING, Severity.CRITICAL):
        h.notifier.notify(_note(title=f"t-{sev.value}", sev=sev))
    got = h.received()
    assert [(r.severity, r.title) for r in got] == [
        ("info", "t-info"), ("warning", "t-warning"), ("critical", "t-critical")]


def test_nt04_notifications_arrive_in_the_order_they_were_sent(h: NotifierHarness) -> None:
    titles = [f"order rejected #{i}" for i in range(5)]
    for t in titles:
        h.notifier.notify(_note(title=t, sev=Severity.WARNING))
    assert [r.title for r in h.received()] == titles


def test_nt05_non_ascii_text_arrives_intact(h: NotifierHarness) -> None:
    title = "Kill switch — trading halted ✓ (Zürich desk)"
    body = "Equity fell to € 96 900,00 — Ελλάδα 日本"
    h.notifier.notify(_note(title=title, body=body, data={"desk": "Zürich"}))
    (got,) = h.received()
    assert got.title == title
    assert body in got.text and "desk: Zürich" in got.text


def test_nt06_data_values_of_any_type_are_delivered(h: NotifierHarness) -> None:
    data = {"qty": 10, "price": Decimal("101.37"), "at": T0, "reason": None,
            "limits": {"daily": "3%"}}
    h.notifier.notify(_note(data=data))
    (got,) = h.received()
    assert "qty: 10" in got.text and "price: 101.37" in got.text
    assert "at: 2024-01-02" in got.text


def test_nt07_a_long_message_is_delivered_with_its_title_and_beginning(
    h: NotifierHarness,
) -> None:
    body = "".join(f"line {i:05d}; " for i in range(1000))  # 12,000 characters
    data = {f"ticker_{i}": "mismatch " * 150 for i in range(3)}  # 1,350 characters each
    h.notifier.notify(_note(title="Reconciliation report", body=body, data=data))
    many = {f"order_{i:02d}": "rejected " * 120 for i in range(25)}  # 25 x 1,080 characters
    h.notifier.notify(_note(title="Rejected orders", body="25 orders rejected", data=many))
    long_report, short_body = h.received()
    assert long_report.title == "Reconciliation report"
    assert body[:2000] in long_report.text
    assert short_body.title == "Rejected orders"
    assert "25 orders rejected" in short_body.text and "order_00: rejected" in short_body.text


# The fake's failing mode raises on purpose (it lets tests check that callers survive a
# misbehaving notifier), so it is no conforming notifier and sits out the no-raise case.
@pytest.mark.parametrize("kind", [k for k in DOWN if k != "recording-failing"])
def test_nt08_a_failing_destination_never_raises_into_the_caller(
    kind: str, servers: Servers,
) -> None:
    n = make_down(kind, servers)
    try:
        for sev in (Severity.CRITICAL, Severity.INFO):
            assert n.notify(_note(sev=sev)) is None
    finally:
        _finish(n)


@pytest.mark.parametrize("kind", [k for k in DOWN if k != "recording-failing"])
def test_nt09_a_failed_delivery_is_logged_without_secrets(
    kind: str, servers: Servers, logs: list[dict[str, Any]],
) -> None:
    n = make_down(kind, servers)
    try:
        n.notify(_note())
    finally:
        _finish(n)
    failures = [e for e in logs if e.get("log_level") in ("warning", "error", "critical")
                and "fail" in str(e.get("event", ""))]
    assert failures, f"no failure was logged: {logs}"
    assert WEBHOOK_TOKEN not in repr(logs)
    assert WEBHOOK_TOKEN not in repr(n)


def _finish(n: object) -> None:
    """Let a background notifier finish its retries, then close it."""
    flush = getattr(n, "flush", None)
    if flush is not None:
        assert flush(10)
    close = getattr(n, "close", None)
    if close is not None:
        close()
