"""A notifier that writes to the structured log (always on: the log is the last resort)."""

from __future__ import annotations

import structlog

from domain.audit import Notification, Severity

log = structlog.get_logger("catalyst.notifications")


class LogNotifier:
    """Log each notification at the level of its severity."""

    def send(self, notification: Notification) -> None:
        """Write ``notification`` to the log."""
        n = notification
        kw = {"title": n.title, "body": n.body, "ts": n.ts.isoformat(), **dict(n.data)}
        if n.severity is Severity.CRITICAL:
            log.critical("notification", **kw)
        elif n.severity is Severity.WARNING:
            log.warning("notification", **kw)
        else:
            log.info("notification", **kw)

    def notify(self, notification: Notification) -> None:
        """Write ``notification`` to the log."""
        self.send(notification)
