"""Notifiers against local stand-ins: a loopback HTTP server for the Discord webhook and aiosmtpd
for e-mail, including servers that are down. Nothing may block or raise into the caller."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from adapters.notifiers import (
    BackgroundNotifier,
    DiscordWebhookNotifier,
    FanoutNotifier,
    LogNotifier,
    NotifierError,
    SeverityFilter,
    SmtpNotifier,
)
from domain.audit import Notification, Severity

T0 = datetime(2024, 1, 2, 15, tzinfo=UTC)


def _note(title: str = "Circuit breaker daily_loss", sev: Severity = Severity.CRITICAL,
          ) -> Notification:
    return Notification(severity=sev, title=title, body="daily_loss: 3.10% reached limit 3.00%",
                        ts=T0, data={"rule": "daily_loss"})


class _Webhook:
    """A loopback stand-in for a Discord webhook; ``statuses`` are answered in turn."""

    def __init__(self, statuses: list[int] | None = None, delay: float = 0.0) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.statuses = list(statuses or [])
        self.delay = delay
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                n = int(self.headers.get("Content-Length", 0))
                outer.bodies.append(json.loads(self.rfile.read(n)))
                if outer.delay:
                    time.sleep(outer.delay)
                code = outer.statuses.pop(0) if outer.statuses else 204
                self.send_response(code)
                body = b'{"retry_after": 0.01}' if code == 429 else b""
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/webhooks/1/secret-token"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook() -> Iterator[_Webhook]:
    w = _Webhook()
    yield w
    w.close()


def _dead_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = int(s.getsockname()[1])
    s.close()
    return port


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp_server() -> Iterator[tuple[Controller, _Inbox]]:
    inbox = _Inbox()
    c = Controller(inbox, hostname="127.0.0.1", port=_dead_port())
    c.start()
    yield c, inbox
    c.stop()


def test_discord_posts_an_embed(webhook: _Webhook) -> None:
    n = DiscordWebhookNotifier(webhook.url, timeout=2)
    n.send(_note())
    body = webhook.bodies[0]
    assert body["embeds"][0]["title"] == "Circuit breaker daily_loss"
    assert "3.10%" in body["embeds"][0]["description"]
    assert body["embeds"][0]["fields"][0] == {"name": "rule", "value": "daily_loss",
                                              "inline": True}
    assert "secret-token" not in repr(n)


def test_discord_down_raises_a_clean_error_without_the_token() -> None:
    n = DiscordWebhookNotifier(f"http://127.0.0.1:{_dead_port()}/api/webhooks/1/secret-token",
                               timeout=0.5)
    with pytest.raises(NotifierError) as err:
        n.send(_note())
    assert "secret-token" not in str(err.value) and err.value.retryable
    n.notify(_note())  # the port method swallows it


def test_discord_4xx_is_not_retried_but_5xx_and_429_are() -> None:
    w = _Webhook(statuses=[400, 500, 429])
    try:
        n = DiscordWebhookNotifier(w.url, timeout=2)
        with pytest.raises(NotifierError) as e400:
            n.send(_note())
        assert not e400.value.retryable
        with pytest.raises(NotifierError) as e500:
            n.send(_note())
        assert e500.value.retryable
        with pytest.raises(NotifierError) as e429:
            n.send(_note())
        assert e429.value.retry_after == pytest.approx(0.01)
    finally:
        w.close()


def test_background_retries_until_delivered() -> None:
    w = _Webhook(statuses=[503, 429])
    try:
        bg = BackgroundNotifier(DiscordWebhookNotifier(w.url, timeout=2), backoff=0.01)
        bg.notify(_note())
        assert bg.flush(5)
        assert (bg.sent, bg.failed) == (1, 0) and len(w.bodies) == 3
        bg.close()
    finally:
        w.close()


def test_background_never_blocks_on_a_dead_or_slow_server() -> None:
    dead = DiscordWebhookNotifier(f"http://127.0.0.1:{_dead_port()}/x", timeout=0.2)
    bg = BackgroundNotifier(dead, max_attempts=2, backoff=0.01, max_queue=5)
    t = time.perf_counter()
    for _ in range(50):
        bg.notify(_note())
    assert time.perf_counter() - t < 0.1  # the caller never waits for the network
    assert bg.dropped >= 40
    assert bg.flush(10)
    assert bg.failed >= 1 and bg.sent == 0
    bg.close(1)


def test_background_drops_after_close_and_survives_buggy_inner() -> None:
    class Boom:
        def send(self, n: Notification) -> None:
            raise RuntimeError("bug")

    bg = BackgroundNotifier(Boom())
    bg.notify(_note())
    assert bg.flush(2) and bg.failed == 1
    bg.close(1)
    bg.notify(_note())
    assert bg.dropped == 1


def test_smtp_delivers_to_aiosmtpd(smtp_server: tuple[Controller, _Inbox]) -> None:
    c, inbox = smtp_server
    n = SmtpNotifier(c.hostname, c.port, "bot@example.com", ["ops@example.com"], timeout=5)
    bg = BackgroundNotifier(n)
    bg.notify(_note())
    assert bg.flush(5) and bg.sent == 1
    env = inbox.messages[0]
    assert env.rcpt_tos == ["ops@example.com"]
    text = env.content.decode()
    assert "Subject: [catalyst] [CRITICAL] Circuit breaker daily_loss" in text
    assert "3.10%" in text
    bg.close()


def test_smtp_down_is_a_retryable_error() -> None:
    n = SmtpNotifier("127.0.0.1", _dead_port(), "bot@example.com", ["ops@example.com"],
                     timeout=0.5)
    with pytest.raises(NotifierError) as err:
        n.send(_note())
    assert err.value.retryable
    n.notify(_note())  # swallowed


def test_fanout_and_severity_filter(webhook: _Webhook) -> None:
    class Broken:
        def notify(self, n: Notification) -> None:
            raise ConnectionError("down")

    got: list[Notification] = []

    class Keep:
        def notify(self, n: Notification) -> None:
            got.append(n)

    f = FanoutNotifier([Broken(), LogNotifier(), SeverityFilter(Keep(), Severity.WARNING)])
    f.notify(_note(sev=Severity.INFO))
    f.notify(_note(sev=Severity.CRITICAL))
    assert [n.severity for n in got] == [Severity.CRITICAL]


def test_risk_kill_reaches_discord_and_email_while_a_dead_notifier_never_blocks(
    webhook: _Webhook, smtp_server: tuple[Controller, _Inbox],
) -> None:
    from decimal import Decimal

    from adapters.memory.broker import FakeBroker
    from adapters.memory.uow import InMemoryUnitOfWork
    from adapters.notifiers import notifier_from_settings
    from application.risk import RiskService
    from domain.clock import TestClock
    from domain.events import RiskState


    class Settings:  # the fields notifier_from_settings reads, as the real settings name them
        discord_webhook_url = webhook.url
        smtp_host, smtp_port = smtp_server[0].hostname, smtp_server[0].port
        smtp_user = smtp_password = None
        smtp_from, smtp_to = "bot@example.com", "ops@example.com, risk@example.com"

    live = notifier_from_settings(Settings())
    dead = BackgroundNotifier(DiscordWebhookNotifier(f"http://127.0.0.1:{_dead_port()}/x",
                                                     timeout=0.5), backoff=0.05, name="dead")
    notifier = FanoutNotifier([live, dead])
    clock = TestClock(T0)
    svc = RiskService(InMemoryUnitOfWork(), FakeBroker(Decimal(100_000), clock=clock), notifier,
                      clock)
    t = time.perf_counter()
    rep = svc.kill("ops", "drill")
    assert time.perf_counter() - t < 0.2  # nothing waits for the network
    assert rep.state is RiskState.HALTED
    notifier.close(10)  # what the CLI does before exiting: queued notices are delivered
    assert [b["embeds"][0]["title"] for b in webhook.bodies] == ["KILL SWITCH: trading halted"]
    env = smtp_server[1].messages[0]
    assert env.rcpt_tos == ["ops@example.com", "risk@example.com"]
    assert "KILL SWITCH: trading halted" in env.content.decode()
    assert dead.failed == 1 and dead.sent == 0
