"""E-mail notifier over SMTP (smtplib), with optional STARTTLS / SSL and login."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Sequence
from email.message import EmailMessage

import structlog

from adapters.notifiers.base import NotifierError, body_text, title_line
from domain.audit import Notification

log = structlog.get_logger(__name__)


class SmtpNotifier:
    """Send each notification as a plain-text e-mail.

    Parameters
    ----------
    host, port
        The SMTP server.
    sender, recipients
        ``From`` and ``To`` addresses.
    username, password
        Login, when the server needs one (the password is never logged).
    starttls, use_ssl
        Upgrade with STARTTLS, or connect with implicit TLS (port 465).
    timeout
        Seconds for the connection and each command.
    subject_prefix
        Put in front of every subject.
    """

    def __init__(self, host: str, port: int, sender: str, recipients: Sequence[str], *,
                 username: str | None = None, password: str | None = None,
                 starttls: bool = False, use_ssl: bool = False, timeout: float = 5.0,
                 subject_prefix: str = "[catalyst]") -> None:
        if not recipients:
            raise ValueError("SmtpNotifier needs at least one recipient")
        self.host, self.port = host, port
        self.sender, self.recipients = sender, list(recipients)
        self._username, self._password = username, password
        self._starttls, self._ssl = starttls, use_ssl
        self._timeout = timeout
        self._prefix = subject_prefix

    def __repr__(self) -> str:
        return f"SmtpNotifier(host={self.host!r}, port={self.port}, to={self.recipients!r})"

    def message(self, n: Notification) -> EmailMessage:
        """Return the e-mail for ``n``."""
        msg = EmailMessage()
        msg["Subject"] = f"{self._prefix} {title_line(n)}".strip()
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.recipients)
        msg.set_content(body_text(n))
        return msg

    def send(self, notification: Notification) -> None:
        """Deliver ``notification``; raise :class:`NotifierError` on any failure."""
        msg = self.message(notification)
        try:
            smtp: smtplib.SMTP
            if self._ssl:
                smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self._timeout,
                                        context=ssl.create_default_context())
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self._timeout)
            with smtp:
                if self._starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self._username:
                    smtp.login(self._username, self._password or "")
                smtp.send_message(msg)
        except (smtplib.SMTPAuthenticationError, smtplib.SMTPRecipientsRefused,
                smtplib.SMTPSenderRefused) as exc:
            raise NotifierError(f"smtp refused: {type(exc).__name__}", retryable=False) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise NotifierError(f"smtp failed: {type(exc).__name__}: {exc}") from None

    def notify(self, notification: Notification) -> None:
        """Send and swallow failures (logged): the Notifier port never raises."""
        try:
            self.send(notification)
        except NotifierError as exc:
            log.warning("notifier.smtp_failed", error=str(exc), title=notification.title)
