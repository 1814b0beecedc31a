"""The intake's shared machinery: per-client rate buckets, replay memory of signatures, and
the writer thread that groups concurrent requests into one inbox transaction."""

from __future__ import annotations

import queue
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from datetime import datetime

from application.inbox import Delivery, Receipt, receive_many
from application.ports import InboxUnitOfWork

__all__ = ["GroupWriter", "RateBuckets", "SeenSignatures"]


class RateBuckets:
    """Token buckets per client address (the oldest are forgotten beyond ``keep``)."""

    def __init__(self, rate: float, burst: int, now: Callable[[], float],
                 keep: int = 10_000) -> None:
        self.rate, self.burst, self.now, self.keep = rate, max(1, burst), now, keep
        self._b: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """Take one token for ``key``; return 0, or the seconds until one is available."""
        if self.rate <= 0:
            return 0.0
        with self._lock:
            t = self.now()
            tokens, last = self._b.pop(key, (float(self.burst), t))
            tokens = min(float(self.burst), tokens + (t - last) * self.rate)
            if tokens >= 1.0:
                self._b[key] = (tokens - 1.0, t)
                wait = 0.0
            else:
                self._b[key] = (tokens, t)
                wait = (1.0 - tokens) / self.rate
            while len(self._b) > self.keep:
                self._b.popitem(last=False)
            return wait


class SeenSignatures:
    """Signatures accepted within the skew window: the same one again is a replay."""

    def __init__(self, window: float) -> None:
        self.window = window
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def first_time(self, sig: str, now: float) -> bool:
        """Remember ``sig`` at ``now``; return False when it was already seen (a replay)."""
        with self._lock:
            while self._seen and next(iter(self._seen.values())) < now - 2 * self.window:
                self._seen.popitem(last=False)
            if sig in self._seen:
                return False
            self._seen[sig] = now
            return True


class GroupWriter:
    """One writer thread: requests waiting while a commit runs share the next transaction.

    Each request still gets its answer only after the transaction holding its alerts
    committed; a failed transaction fails every request in it (none was acknowledged).
    """

    def __init__(self, factory: Callable[[], InboxUnitOfWork], now: Callable[[], datetime],
                 max_batch: int = 256) -> None:
        self.factory, self.now, self.max_batch = factory, now, max_batch
        self._q: queue.Queue[tuple[Delivery, Future[list[Receipt]]] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, delivery: Delivery) -> Future[list[Receipt]]:
        """Queue ``delivery`` for the next transaction; the future holds its receipts."""
        fut: Future[list[Receipt]] = Future()
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="inbox-writer",
                                                daemon=True)
                self._thread.start()
        self._q.put((delivery, fut))
        return fut

    def _loop(self) -> None:
        while True:
            first = self._q.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    nxt = self._q.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._q.put(None)
                    break
                batch.append(nxt)
            try:
                results = receive_many(self.factory(), [d for d, _ in batch], self.now())
            except BaseException as exc:  # noqa: BLE001 - handed to every waiting request
                for _, fut in batch:
                    fut.set_exception(exc)
                continue
            for (_, fut), res in zip(batch, results, strict=True):
                fut.set_result(res)
