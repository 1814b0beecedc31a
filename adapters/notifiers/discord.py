"""Discord webhook notifier (httpx, short timeout). The webhook URL holds a secret token: it is
never logged, shown in an error or in ``repr``."""

from __future__ import annotations

from typing import Any

import httpx
import structlog

from adapters.notifiers.base import NotifierError
from domain.audit import Notification, Severity

log = structlog.get_logger(__name__)

_COLOURS = {Severity.INFO: 0x3498DB, Severity.WARNING: 0xF1C40F, Severity.CRITICAL: 0xE74C3C}
_EMBED_TOTAL = 6000  # title + description + field names and values, all embeds together
_MIN_DESCRIPTION = 2000  # description characters kept before data fields are dropped


class DiscordWebhookNotifier:
    """Post notifications to a Discord webhook as one embed each.

    Parameters
    ----------
    url
        The webhook URL (``https://discord.com/api/webhooks/<id>/<token>``).
    timeout
        Seconds for connect, read and write; short, because a slow Discord must not hold a
        notification thread for long.
    username
        The name the message appears under.
    client
        An ``httpx.Client`` to reuse (tests pass one with a transport); one is created if None.
    """

    def __init__(self, url: str, *, timeout: float = 3.0, username: str = "Catalyst Trader",
                 client: httpx.Client | None = None) -> None:
        self._url = url
        self._timeout = timeout
        self._username = username
        self._client = client if client is not None else httpx.Client()

    def __repr__(self) -> str:
        return "DiscordWebhookNotifier(url=<redacted>)"

    def payload(self, n: Notification) -> dict[str, Any]:
        """Return the JSON body Discord expects, within its limits.

        Discord refuses (HTTP 400) a message whose content exceeds 2000 characters, an embed
        title 256, description 4096, more than 25 fields (name 256, value 1024), or whose
        title, description and fields exceed 6000 characters together. Fields that would
        break the total are dropped; the description is cut to what remains.
        """
        title = n.title[:256]
        room = _EMBED_TOTAL - len(title)
        keep = min(len(n.body), _MIN_DESCRIPTION)  # description characters fields never take
        fields: list[dict[str, Any]] = []
        for k, v in list(n.data.items())[:25]:
            name, value = str(k)[:256], str(v)[:1024] or "-"
            if len(name) + len(value) > room - keep:
                break
            room -= len(name) + len(value)
            fields.append({"name": name, "value": value, "inline": True})
        return {
            "username": self._username,
            "content": f"**{n.severity.value.upper()}** {n.title}"[:2000],
            "embeds": [{
                "title": title, "description": n.body[:min(4096, room)],
                "color": _COLOURS[n.severity], "timestamp": n.ts.isoformat(), "fields": fields,
            }],
        }

    def send(self, notification: Notification) -> None:
        """Post ``notification``; raise :class:`NotifierError` on any failure."""
        try:
            r = self._client.post(self._url, json=self.payload(notification),
                                  timeout=self._timeout)
        except httpx.HTTPError as exc:
            # the exception text may contain the URL: report only its type
            raise NotifierError(f"discord webhook unreachable ({type(exc).__name__})") from None
        if r.status_code == 429:
            retry_after: float | None
            try:
                retry_after = float(r.json().get("retry_after", 1.0))
            except (ValueError, AttributeError):
                retry_after = 1.0
            raise NotifierError("discord webhook rate-limited (429)", retry_after=retry_after)
        if r.status_code >= 400:
            raise NotifierError(f"discord webhook answered HTTP {r.status_code}",
                                retryable=r.status_code >= 500)

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()

    def notify(self, notification: Notification) -> None:
        """Send and swallow failures (logged): the Notifier port never raises."""
        try:
            self.send(notification)
        except NotifierError as exc:
            log.warning("notifier.discord_failed", error=str(exc), title=notification.title)
