"""Harnesses of the Notifier contract: each wraps one notifier and reads back what arrived.

What a destination received is normalised to :class:`Received` (severity, title and the text
a person reads), so one suite checks them all:

* ``recording`` -- :class:`RecordingNotifier`, the in-memory fake;
* ``log`` -- :class:`LogNotifier`, read back with ``structlog.testing.capture_logs``;
* ``discord`` -- :class:`DiscordWebhookNotifier` posting to a loopback HTTP stand-in;
* ``smtp`` -- :class:`SmtpNotifier` talking to a loopback ``aiosmtpd`` server;
* ``background`` -- :class:`BackgroundNotifier` around the Discord notifier;
* ``fanout`` -- :class:`FanoutNotifier` over a :class:`SeverityFilter` (INFO and up) around
  the SMTP notifier.

The HTTP and SMTP stand-ins are started once per module (:class:`Servers`); each harness
reads only what arrived since it was made. A webhook path under ``/fail/<code>`` answers
``<code>``; a recipient at ``refused.example`` is refused by the SMTP server.
"""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import attrs
from aiosmtpd.controller import Controller

from adapters.memory.notifier import RecordingNotifier
from adapters.notifiers import (
    BackgroundNotifier,
    DiscordWebhookNotifier,
    FanoutNotifier,
    LogNotifier,
    SeverityFilter,
    SmtpNotifier,
)
from adapters.notifiers.base import body_text
from application.ports import Notifier
from domain.audit import Notification, Severity

WEBHOOK_TOKEN = "s3cret-webhook-token"  # noqa: S105 - a fake token the tests look for in logs


@attrs.frozen
class Received:
    """One notification as its destination got it."""

    severity: str
    title: str
    text: str


def dead_port() -> int:
    """Return a loopback port nothing listens on."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = int(s.getsockname()[1])
    s.close()
    return port


def discord_limits_broken(body: dict[str, Any]) -> list[str]:
    """Return the Discord message limits ``body`` breaks (Discord answers 400 to any).

    Content 2000; per embed: title 256, description 4096, 25 fields (name 256, value 1024),
    and the title, description and field names and values of all embeds 6000 together.
    """
    out = []
    if len(body.get("content") or "") > 2000:
        out.append("content > 2000")
    total = 0
    for e in body.get("embeds", []):
        title, desc = e.get("title") or "", e.get("description") or ""
        fields = e.get("fields", [])
        if len(title) > 256:
            out.append("title > 256")
        if len(desc) > 4096:
            out.append("description > 4096")
        if len(fields) > 25:
            out.append("fields > 25")
        for f in fields:
            if len(f["name"]) > 256 or len(f["value"]) > 1024 or not f["value"]:
                out.append(f"field {f['name'][:20]!r} too long or empty")
        total += len(title) + len(desc) + sum(len(f["name"]) + len(f["value"]) for f in fields)
    if total > 6000:
        out.append(f"embeds total {total} > 6000")
    return out


class Webhook:
    """A loopback Discord stand-in: records JSON bodies; ``/fail/<code>`` answers ``<code>``.

    Like Discord, it answers 400 to a message that breaks the documented size limits.
    """

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                n = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(n))
                parts = self.path.strip("/").split("/")
                code = int(parts[1]) if parts[0] == "fail" else 204
                if code < 400 and discord_limits_broken(body):
                    code = 400
                if code < 400:
                    with outer.lock:
                        outer.bodies.append(body)
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, fail: int | None = None) -> str:
        path = f"/fail/{fail}" if fail else "/api/webhooks/1"
        return f"{self.base}{path}/{WEBHOOK_TOKEN}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Inbox:
    """aiosmtpd handler: keeps messages; refuses recipients at ``refused.example``."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,  # noqa: N802
                          rcpt_options: Any) -> str:
        if address.endswith("@refused.example"):
            return "550 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(envelope)
        return "250 OK"


class Servers:
    """The module's loopback stand-ins."""

    def __init__(self) -> None:
        self.webhook = Webhook()
        self.inbox = Inbox()
        self.smtp = Controller(self.inbox, hostname="127.0.0.1", port=dead_port())
        self.smtp.start()

    def close(self) -> None:
        self.webhook.close()
        self.smtp.stop()


def _from_notification(n: Notification) -> Received:
    return Received(n.severity.value, n.title, body_text(n))


def _from_discord(body: dict[str, Any]) -> Received:
    embed = body["embeds"][0]
    severity = body["content"].split("**")[1].lower()
    fields = "\n".join(f"{f['name']}: {f['value']}" for f in embed["fields"])
    return Received(severity, embed["title"], f"{embed['description']}\n{fields}")


def _from_email(envelope: Any) -> Received:
    msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
    subject = str(msg["Subject"])  # "[catalyst] [SEVERITY] title"
    sev, _, title = subject.removeprefix("[catalyst] ").partition("] ")
    body = msg.get_body()
    assert body is not None
    return Received(sev.strip("[").lower(), title, body.get_content())


class NotifierHarness:
    """A notifier under test plus how to read back what arrived (after :meth:`settle`)."""

    def __init__(self, notifier: Notifier, read: Callable[[], list[Received]],
                 settle: Callable[[], object] = lambda: None,
                 close: Callable[[], object] = lambda: None) -> None:
        self.notifier = notifier
        self._read = read
        self._settle = settle
        self._close = close

    def received(self) -> list[Received]:
        """Wait for background delivery, then return what arrived, in arrival order."""
        self._settle()
        return self._read()

    def close(self) -> None:
        self._close()


IMPLEMENTATIONS = ("recording", "log", "discord", "smtp", "background", "fanout")


def make(kind: str, servers: Servers, logs: list[dict[str, Any]]) -> NotifierHarness:
    """Return a working harness of ``kind``; ``logs`` is the test's captured log."""
    if kind == "recording":
        rec = RecordingNotifier()
        return NotifierHarness(rec, lambda: [_from_notification(n) for n in rec.sent])
    if kind == "log":
        def read_log() -> list[Received]:
            out = []
            for e in logs:
                if e.get("event") != "notification":
                    continue
                extra = "\n".join(f"{k}: {v}" for k, v in e.items()
                                  if k not in ("event", "log_level", "title", "body", "ts"))
                level = {"critical": "critical", "warning": "warning"}.get(e["log_level"], "info")
                out.append(Received(level, e["title"], f"{e['body']}\n{extra}"))
            return out
        return NotifierHarness(LogNotifier(), read_log)
    wh, inbox = servers.webhook, servers.inbox
    if kind in ("discord", "background"):
        start = len(wh.bodies)

        def read_hook() -> list[Received]:
            with wh.lock:
                return [_from_discord(b) for b in wh.bodies[start:]]
        discord = DiscordWebhookNotifier(wh.url(), timeout=2.0)
        if kind == "discord":
            return NotifierHarness(discord, read_hook, close=discord.close)
        bg = BackgroundNotifier(discord, backoff=0.01, name="contract")
        return NotifierHarness(bg, read_hook, settle=lambda: bg.flush(10),
                               close=lambda: bg.close(5))
    start_mail = len(inbox.messages)
    smtp = SmtpNotifier(servers.smtp.hostname, servers.smtp.port, "bot@example.com",
                        ["ops@example.com"], timeout=5.0)

    def read_mail() -> list[Received]:
        return [_from_email(m) for m in inbox.messages[start_mail:]]
    if kind == "smtp":
        return NotifierHarness(smtp, read_mail)
    assert kind == "fanout"
    fan = FanoutNotifier([SeverityFilter(smtp, Severity.INFO)])
    return NotifierHarness(fan, read_mail)


#: Notifiers whose destination fails, each with a description (the NT "down" cases).
DOWN = ("recording-failing", "discord-dead", "discord-500", "discord-400", "smtp-dead",
        "smtp-refused", "background-dead", "fanout-with-a-broken-member")


def make_down(kind: str, servers: Servers) -> Notifier:
    """Return a notifier of ``kind`` whose delivery fails."""
    dead = f"http://127.0.0.1:{dead_port()}/api/webhooks/1/{WEBHOOK_TOKEN}"
    if kind == "recording-failing":
        return RecordingNotifier(fail=True)
    if kind == "discord-dead":
        return DiscordWebhookNotifier(dead, timeout=0.5)
    if kind == "discord-500":
        return DiscordWebhookNotifier(servers.webhook.url(fail=500), timeout=2.0)
    if kind == "discord-400":
        return DiscordWebhookNotifier(servers.webhook.url(fail=400), timeout=2.0)
    if kind == "smtp-dead":
        return SmtpNotifier("127.0.0.1", dead_port(), "bot@example.com", ["ops@example.com"],
                            timeout=0.5)
    if kind == "smtp-refused":
        return SmtpNotifier(servers.smtp.hostname, servers.smtp.port, "bot@example.com",
                            ["nobody@refused.example"], timeout=5.0)
    if kind == "background-dead":
        return BackgroundNotifier(DiscordWebhookNotifier(dead, timeout=0.5), max_attempts=2,
                                  backoff=0.01, name="contract-dead")
    assert kind == "fanout-with-a-broken-member"
    return FanoutNotifier([RecordingNotifier(fail=True), LogNotifier()])
