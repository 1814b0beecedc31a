"""structlog, set up once per entrypoint: console in a terminal, JSON otherwise, secrets redacted."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any

import structlog

_SECRET_KEYS = re.compile(r"(secret|password|passwd|token|api_key|apikey|authorization|key_id)",
                          re.IGNORECASE)
_HEADER_PATTERNS = (
    re.compile(r"(APCA-API-(?:KEY-ID|SECRET-KEY)['\"]?\s*[:=]\s*['\"]?)([^'\"\s,}]+)", re.I),
    re.compile(r"(Bearer\s+)([A-Za-z0-9._~+/=-]+)", re.I),
    re.compile(r"(://[^:/@\s]+:)([^@\s]+)(@)"),
)
MASK = "********"


class SecretRedactor:
    """A structlog processor that masks secrets by key name and by value, anywhere in an event."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def redact_text(self, text: str) -> str:
        """Return ``text`` with every known secret value and credential pattern masked."""
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        for pat in _HEADER_PATTERNS:
            text = pat.sub(lambda m: m.group(1) + MASK + (m.group(3) if m.lastindex == 3 else ""),
                           text)
        return text

    def _value(self, key: str | None, value: Any) -> Any:
        if key is not None and _SECRET_KEYS.search(key) and value not in (None, ""):
            return MASK
        if isinstance(value, str):
            return self.redact_text(value)
        if isinstance(value, dict):
            return {k: self._value(str(k), v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(self._value(None, v) for v in value)
        if isinstance(value, BaseException):
            return self.redact_text(f"{type(value).__name__}: {value}")
        return value

    def __call__(
        self, logger: Any, method: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        for key in list(event_dict):
            event_dict[key] = self._value(None if key == "event" else key, event_dict[key])
        exc = event_dict.get("exception")
        if isinstance(exc, str):
            event_dict["exception"] = self.redact_text(exc)
        return event_dict


class RedactingFormatter(logging.Formatter):
    """The stdlib logs' formatter (third-party libraries: alpaca-py, websockets, uvicorn).

    Every formatted record, its traceback included, goes through the redactor, so a vendor's
    own log line or traceback cannot print a secret. Below DEBUG a third-party traceback is
    cut to its last line (``ConnectionRefusedError: ...``): a reconnecting client logs one per
    try, and the stack says nothing to an operator.
    """

    def __init__(self, redactor: SecretRedactor, fmt: str, *, tracebacks: bool) -> None:
        super().__init__(fmt)
        self._redactor = redactor
        self._tracebacks = tracebacks

    def formatException(self, ei: Any) -> str:  # noqa: N802 - logging's name
        if self._tracebacks or ei[1] is None:
            return super().formatException(ei)
        return f"  {type(ei[1]).__name__}: {ei[1]}"

    def format(self, record: logging.LogRecord) -> str:
        return self._redactor.redact_text(super().format(record))


class _CurrentStderr:
    """Writes to whatever ``sys.stderr`` is at the time of writing.

    Binding the stream object at configuration time would keep writing to a stream that a
    test runner (or a daemonising wrapper) has since replaced and closed.
    """

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()


def configure_logging(
    level: str = "INFO", fmt: str = "auto", secrets: Iterable[str] = (), stream: Any = None
) -> SecretRedactor:
    """Configure structlog and the stdlib root logger; return the redactor in use.

    Logs go to stderr so that ``--json`` output on stdout stays machine-readable.
    """
    stream = stream if stream is not None else _CurrentStderr()
    redactor = SecretRedactor(secrets)
    use_json = fmt == "json" or (fmt == "auto" and not getattr(stream, "isatty", lambda: False)())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redactor,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=level, stream=stream, force=True)
    formatter = RedactingFormatter(redactor, "%(levelname)s %(name)s: %(message)s",
                                   tracebacks=logging.getLevelName(level) <= logging.DEBUG)
    for handler in logging.getLogger().handlers:
        handler.setFormatter(formatter)
    for noisy in ("urllib3", "httpx", "httpcore", "alembic", "asyncio", "websockets"):
        logging.getLogger(noisy).setLevel(max(logging.getLevelName(level), logging.WARNING))
    return redactor
