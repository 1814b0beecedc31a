"""Notifier adapters: Discord webhook, SMTP e-mail, the log, and a background wrapper."""

from __future__ import annotations

from collections.abc import Sequence

from adapters.notifiers.background import (
    BackgroundNotifier,
    FanoutNotifier,
    SeverityFilter,
)
from adapters.notifiers.base import NotifierError, Sender
from adapters.notifiers.discord import DiscordWebhookNotifier
from adapters.notifiers.log import LogNotifier
from adapters.notifiers.smtp import SmtpNotifier
from domain.audit import Severity

__all__ = [
    "BackgroundNotifier",
    "DiscordWebhookNotifier",
    "FanoutNotifier",
    "LogNotifier",
    "NotifierError",
    "Sender",
    "SeverityFilter",
    "SmtpNotifier",
    "build_notifier",
]


def build_notifier(
    *, discord_url: str | None = None, smtp_host: str | None = None, smtp_port: int = 25,
    smtp_sender: str = "catalyst@localhost", smtp_recipients: Sequence[str] = (),
    smtp_username: str | None = None, smtp_password: str | None = None,
    smtp_starttls: bool = False, min_severity: Severity = Severity.WARNING,
) -> FanoutNotifier:
    """Return the log notifier plus, when configured, Discord and e-mail in the background.

    The log gets everything; Discord and e-mail get ``min_severity`` and above, each on its own
    worker so a slow one never delays another.
    """
    outs: list[BackgroundNotifier | LogNotifier | SeverityFilter] = [LogNotifier()]
    if discord_url:
        outs.append(SeverityFilter(BackgroundNotifier(DiscordWebhookNotifier(discord_url),
                                                      name="discord"), min_severity))
    if smtp_host and smtp_recipients:
        outs.append(SeverityFilter(BackgroundNotifier(SmtpNotifier(
            smtp_host, smtp_port, smtp_sender, smtp_recipients, username=smtp_username,
            password=smtp_password, starttls=smtp_starttls), name="smtp"), min_severity))
    return FanoutNotifier(outs)
