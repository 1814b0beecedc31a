"""Deliver notifications off the trading thread: a bounded queue, one worker, bounded retries.

``notify`` never blocks and never raises: when the queue is full the notification is dropped
with a log line. The worker retries retryable failures with exponential backoff (or the delay
the server asked for), then gives up with a log line.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterable

import structlog

from adapters.notifiers.base import SEVERITY_RANK, NotifierError, Sender
from application.ports import Notifier
from domain.audit import Notification, Severity

log = structlog.get_logger(__name__)

_STOP = object()


class BackgroundNotifier:
    """Wrap a :class:`Sender` (or any Notifier) so that delivery happens on a worker thread.

    Parameters
    ----------
    inner
        What delivers: its ``send`` (raising :class:`NotifierError`) is preferred, else
        ``notify``.
    max_queue
        Notifications waiting at most; more are dropped (logged), never blocking the caller.
    max_attempts
        Tries per notification, the first included.
    backoff, max_backoff
        First retry delay in seconds, doubled each time, capped.
    name
        Names the worker thread and the log lines.
    """

    def __init__(self, inner: Sender | Notifier, *, max_queue: int = 1000, max_attempts: int = 4,
                 backoff: float = 0.5, max_backoff: float = 10.0, name: str = "notifier") -> None:
        self._inner = inner
        self._q: queue.Queue[object] = queue.Queue(maxsize=max_queue)
        self._max_attempts = max(1, max_attempts)
        self._backoff, self._max_backoff = backoff, max_backoff
        self.name = name
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.sent = 0
        self.failed = 0
        self.dropped = 0

    def __repr__(self) -> str:
        return f"BackgroundNotifier({self._inner!r})"

    def _ensure_started(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None and not self._stop.is_set():
                t = threading.Thread(target=self._run, name=f"notify-{self.name}", daemon=True)
                t.start()
                self._thread = t

    def notify(self, notification: Notification) -> None:
        """Queue ``notification``; drop it (with a log line) when the queue is full or closed."""
        try:
            if self._stop.is_set():
                raise queue.Full
            self._ensure_started()
            self._q.put_nowait(notification)
        except queue.Full:
            self.dropped += 1
            log.warning("notification.dropped", notifier=self.name, title=notification.title,
                        severity=notification.severity.value, reason="queue full or closed")
        except Exception as exc:  # noqa: BLE001 - notify must never raise into trading
            self.dropped += 1
            log.error("notification.dropped", notifier=self.name, error=str(exc))

    def _deliver(self, n: Notification) -> None:
        send = getattr(self._inner, "send", None) or getattr(self._inner, "notify")  # noqa: B009
        for attempt in range(1, self._max_attempts + 1):
            try:
                send(n)
                self.sent += 1
                return
            except NotifierError as exc:
                if not exc.retryable or attempt == self._max_attempts:
                    self.failed += 1
                    log.warning("notification.failed", notifier=self.name, title=n.title,
                                attempts=attempt, error=str(exc))
                    return
                delay = exc.retry_after if exc.retry_after is not None else \
                    self._backoff * 2 ** (attempt - 1)
                # wakes early when closing, so close() does not wait out a long backoff
                self._stop.wait(min(delay, self._max_backoff))
            except Exception as exc:  # noqa: BLE001 - a buggy adapter must not kill the worker
                self.failed += 1
                log.error("notification.failed", notifier=self.name, title=n.title,
                          error=f"{type(exc).__name__}: {exc}")
                return

    def _run(self) -> None:
        while True:
            item = self._q.get()
            try:
                if item is _STOP:
                    return
                assert isinstance(item, Notification)
                self._deliver(item)
            finally:
                self._q.task_done()

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything queued was handled; return False on timeout."""
        deadline = time.monotonic() + timeout
        with self._q.all_tasks_done:
            while self._q.unfinished_tasks:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._q.all_tasks_done.wait(left)
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Stop taking notifications, deliver what is queued (up to ``timeout``), stop."""
        self._stop.set()
        t = self._thread
        if t is None:
            return
        try:
            self._q.put(_STOP, timeout=timeout)
        except queue.Full:
            log.warning("notification.close_timeout", notifier=self.name)
            return
        t.join(timeout)


class FanoutNotifier:
    """Tell several notifiers; one failing never stops the others (nor the caller)."""

    def __init__(self, notifiers: Iterable[Notifier]) -> None:
        self.notifiers = list(notifiers)

    def notify(self, notification: Notification) -> None:
        """Pass ``notification`` to each notifier."""
        for n in self.notifiers:
            try:
                n.notify(notification)
            except Exception as exc:  # noqa: BLE001 - the port promises never to raise
                log.error("notification.failed", notifier=repr(n), error=str(exc))

    def close(self, timeout: float = 5.0) -> None:
        """Close every notifier that can be closed."""
        for n in self.notifiers:
            _close(n, timeout)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every background notifier delivered what is queued (False on timeout)."""
        return all([_flush(n, timeout) for n in self.notifiers])


class SeverityFilter:
    """Pass on only notifications at or above ``min_severity``."""

    def __init__(self, inner: Notifier, min_severity: Severity = Severity.WARNING) -> None:
        self.inner = inner
        self.min_severity = min_severity

    def notify(self, notification: Notification) -> None:
        """Forward ``notification`` when it is severe enough."""
        if SEVERITY_RANK[notification.severity] >= SEVERITY_RANK[self.min_severity]:
            self.inner.notify(notification)

    def flush(self, timeout: float = 5.0) -> bool:
        """Flush the wrapped notifier when it can be flushed."""
        return _flush(self.inner, timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Close the wrapped notifier (delivering what a background one has queued)."""
        _close(self.inner, timeout)


def _flush(n: object, timeout: float) -> bool:
    flush = getattr(n, "flush", None)
    return bool(flush(timeout)) if flush is not None else True


def _close(n: object, timeout: float) -> None:
    # a short-lived process (the CLI) must deliver a kill notice before it exits
    close = getattr(n, "close", None)
    if close is None:
        return
    try:
        if isinstance(n, BackgroundNotifier | SeverityFilter | FanoutNotifier):
            close(timeout)
        else:
            close()
    except Exception as exc:  # noqa: BLE001 - closing must not raise either
        log.error("notification.close_failed", notifier=repr(n), error=str(exc))
