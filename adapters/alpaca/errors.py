"""Translate alpaca-py / requests / pydantic failures into :mod:`domain.errors`.

Messages are rewritten so that no API key or secret can ever reach a log line or an exception:
every known secret value is masked, and the vendor's raw exception is never chained.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable

import requests
from pydantic import ValidationError

from domain.errors import (
    AuthFailed,
    BrokerError,
    BrokerUnavailable,
    DomainError,
    DuplicateClientOrderId,
    InsufficientBuyingPower,
    InvalidOrder,
    MarketClosed,
    OrderNotFound,
    OrderRejected,
    RateLimited,
)

MASK = "********"
AUTH_HELP = ("Alpaca rejected the API credentials (HTTP {status}); check APCA_API_KEY_ID / "
             "APCA_API_SECRET_KEY and that paper keys go with the paper endpoint")


class Redactor:
    """Masks known secret values in text."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for s in self._secrets:
            text = text.replace(s, MASK)
        return text


class CredentialLogFilter(logging.Filter):
    """Withholds any third-party log record that carries a known credential.

    The ``websockets`` client logs every frame at DEBUG, including the stream's
    ``authenticate`` message with the key and the secret (truncated in the message, whole in
    the record's arguments): such records keep their level but lose their content.
    """

    LOGGERS = ("websockets", "websockets.client", "websockets.protocol", "alpaca",
               "alpaca.trading.stream", "alpaca.common.websocket", "urllib3.connectionpool",
               "uvicorn.error")

    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()
        self._installed = False

    def protect(self, *secrets: str | None) -> None:
        """Start withholding records that contain any of ``secrets``."""
        self._secrets.update(s for s in secrets if s)
        if not self._installed:
            for name in self.LOGGERS:
                logging.getLogger(name).addFilter(self)
            self._installed = True

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        try:
            text = f"{record.msg} {record.args!r}"
        except Exception:  # noqa: BLE001 - a broken record is withheld rather than leaked
            text = ""
        if not text or any(s in text for s in self._secrets):
            record.msg = "[log record withheld: it contained credentials]"
            record.args = ()
        return True


CREDENTIAL_FILTER = CredentialLogFilter()


def _vendor_message(exc: Exception) -> tuple[int | None, str]:
    status = getattr(exc, "status_code", None)
    raw = str(exc)
    try:
        body = json.loads(raw)
        msg = str(body.get("message") or raw) if isinstance(body, dict) else raw
    except (ValueError, TypeError):
        msg = raw
    return status, msg[:300]


def translate(
    exc: BaseException, *, client_order_id: str | None = None, what: str = "request",
    timeout_s: float | None = None, redact: Redactor | None = None,
) -> DomainError:
    """Return the domain error for a vendor failure (already a DomainError is returned as is)."""
    red = redact or Redactor()
    if isinstance(exc, DomainError):
        return exc
    name = type(exc).__name__
    if name == "APIAuthError":  # newer alpaca-py: not a subclass of APIError
        return AuthFailed(AUTH_HELP.format(status=getattr(exc, "status_code", 401)))
    if isinstance(exc, requests.Timeout):
        return BrokerUnavailable(
            f"Alpaca {what}: no answer within {timeout_s or '?'} s (timeout); outcome unknown")
    if isinstance(exc, requests.RequestException):
        return BrokerUnavailable(f"Alpaca {what}: connection failed ({name}); outcome unknown")
    if isinstance(exc, ValidationError):
        return InvalidOrder(red(f"invalid request for alpaca-py: {exc.errors()[0].get('msg')}"),
                            client_order_id)
    if name == "APIError" or hasattr(exc, "status_code"):
        status, msg = _vendor_message(exc if isinstance(exc, Exception) else Exception(str(exc)))
        msg = red(msg)
        low = msg.lower()
        if status == 401 or (status == 403 and ("not authorized" in low or "forbidden" in low)):
            return AuthFailed(AUTH_HELP.format(status=status))
        if status == 429:
            return RateLimited(f"Alpaca {what}: rate limited (HTTP 429)")
        if status is not None and status >= 500:
            return BrokerUnavailable(f"Alpaca {what}: HTTP {status} ({msg}); outcome unknown")
        if status == 404:
            return OrderNotFound(f"Alpaca {what}: not found ({msg})")
        if "client_order_id" in low and ("unique" in low or "duplicate" in low):
            return DuplicateClientOrderId(client_order_id or "?")
        if "buying power" in low or "insufficient" in low:
            return InsufficientBuyingPower(msg, client_order_id)
        if "market" in low and ("closed" in low or "hours" in low):
            return MarketClosed(msg, client_order_id)
        if status in {422, 400}:
            return InvalidOrder(msg, client_order_id)
        return OrderRejected(f"HTTP {status}: {msg}", client_order_id)
    if isinstance(exc, ValueError):
        return InvalidOrder(red(str(exc)), client_order_id)
    err = BrokerError(red(f"Alpaca {what} failed: {name}: {exc}"))
    return err


__all__ = ["CREDENTIAL_FILTER", "MASK", "CredentialLogFilter", "Redactor", "translate"]
