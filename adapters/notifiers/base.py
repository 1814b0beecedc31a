"""What every notifier adapter shares: the error a sender raises and the sender protocol."""

from __future__ import annotations

from typing import Protocol

from domain.audit import Notification, Severity

SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


class NotifierError(Exception):
    """Sending failed. ``retryable`` says whether trying again may help; ``retry_after`` is the
    delay the server asked for, in seconds, when it asked for one."""

    def __init__(self, message: str, *, retryable: bool = True,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


class Sender(Protocol):
    """A notifier that can report failure: ``send`` raises :class:`NotifierError`."""

    def send(self, notification: Notification) -> None:
        """Deliver ``notification`` now or raise :class:`NotifierError`."""
        ...


def title_line(n: Notification) -> str:
    """Return ``[SEVERITY] title``."""
    return f"[{n.severity.value.upper()}] {n.title}"


def body_text(n: Notification) -> str:
    """Return the body followed by the data fields, one per line."""
    lines = [n.body, "", f"time: {n.ts.isoformat()}"]
    lines += [f"{k}: {v}" for k, v in n.data.items()]
    return "\n".join(lines)
