"""A notifier that remembers what it was told."""

from __future__ import annotations

from domain.audit import Notification


class RecordingNotifier:
    """Keeps every notification in ``sent``; can be told to fail to test resilience."""

    def __init__(self, fail: bool = False) -> None:
        self.sent: list[Notification] = []
        self.fail = fail

    def notify(self, notification: Notification) -> None:
        """Record ``notification`` (or raise when told to fail)."""
        if self.fail:
            raise ConnectionError("notifier is down")
        self.sent.append(notification)
