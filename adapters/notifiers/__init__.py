"""Notifier adapters: Discord webhook, SMTP e-mail, the log, and a background wrapper."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from adapters.notifiers.background import (
    BackgroundNotifier,
    FanoutNotifier,
    SeverityFilter,
)
from adapters.notifiers.base import NotifierError, Sender
from adapters.notifiers.log import LogNotifier
from domain.audit import Severity

if TYPE_CHECKING:
    from adapters.notifiers.discord import DiscordWebhookNotifier
    from adapters.notifiers.smtp import SmtpNotifier


def __getattr__(name: str) -> Any:
    # Discord (httpx) and e-mail (smtplib) load only when configured or asked for by name
    if name == "DiscordWebhookNotifier":
        from adapters.notifiers.discord import DiscordWebhookNotifier  # noqa: PLC0415

        return DiscordWebhookNotifier
    if name == "SmtpNotifier":
        from adapters.notifiers.smtp import SmtpNotifier  # noqa: PLC0415

        return SmtpNotifier
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
    "notifier_from_settings",
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
        from adapters.notifiers.discord import DiscordWebhookNotifier  # noqa: PLC0415

        outs.append(SeverityFilter(BackgroundNotifier(DiscordWebhookNotifier(discord_url),
                                                      name="discord"), min_severity))
    if smtp_host and smtp_recipients:
        from adapters.notifiers.smtp import SmtpNotifier  # noqa: PLC0415

        outs.append(SeverityFilter(BackgroundNotifier(SmtpNotifier(
            smtp_host, smtp_port, smtp_sender, smtp_recipients, username=smtp_username,
            password=smtp_password, starttls=smtp_starttls), name="smtp"), min_severity))
    return FanoutNotifier(outs)


def _secret(v: Any) -> str | None:
    if v is None:
        return None
    get = getattr(v, "get_secret_value", None)
    out = get() if get is not None else str(v)
    return out or None


def notifier_from_settings(settings: Any) -> FanoutNotifier:
    """Return :func:`build_notifier` configured from the project's settings object.

    Reads ``discord_webhook_url``, ``smtp_host``, ``smtp_port``, ``smtp_user``,
    ``smtp_password``, ``smtp_from`` and ``smtp_to`` (comma-separated); STARTTLS on port 587.
    The log notifier is always on.
    """
    to = [x.strip() for x in (getattr(settings, "smtp_to", None) or "").split(",") if x.strip()]
    port = int(getattr(settings, "smtp_port", 25) or 25)
    return build_notifier(
        discord_url=_secret(getattr(settings, "discord_webhook_url", None)),
        smtp_host=getattr(settings, "smtp_host", None), smtp_port=port,
        smtp_sender=getattr(settings, "smtp_from", None) or "catalyst@localhost",
        smtp_recipients=to, smtp_username=getattr(settings, "smtp_user", None),
        smtp_password=_secret(getattr(settings, "smtp_password", None)),
        smtp_starttls=port == 587,
    )
