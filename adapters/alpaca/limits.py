"""Request pacing: a token bucket under Alpaca's 200 requests/minute, and jittered backoff.

Both take an injectable clock and sleep so tests run instantly.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

ALPACA_REQUESTS_PER_MINUTE = 200
DEFAULT_RATE_PER_MINUTE = 190  # a margin under Alpaca's limit


class TokenBucket:
    """Allows ``rate_per_minute`` requests per minute with bursts of ``burst``."""

    def __init__(
        self,
        rate_per_minute: float = DEFAULT_RATE_PER_MINUTE,
        burst: int = 10,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate_per_minute <= 0 or burst < 1:
            raise ValueError(f"rate_per_minute must be > 0 and burst >= 1, got "
                             f"{rate_per_minute}, {burst}")
        self.rate = rate_per_minute / 60.0
        self.burst = float(burst)
        self._tokens = float(burst)
        self._clock = clock
        self._sleep = sleep
        self._last = clock()
        self._lock = threading.Lock()
        self.waited_s = 0.0

    def acquire(self) -> None:
        """Take one token, sleeping until one is available."""
        while True:
            with self._lock:
                now = self._clock()
                self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
                self._last = now
                if self._tokens >= 1.0 - 1e-9:  # float dust must not loop forever
                    self._tokens = max(0.0, self._tokens - 1.0)
                    return
                wait = max(1e-6, (1.0 - self._tokens) / self.rate)
            self.waited_s += wait
            self._sleep(wait)


class Backoff:
    """Exponential backoff with "equal jitter": half fixed, half random, capped."""

    def __init__(self, base_s: float = 0.25, cap_s: float = 8.0, *,
                 rng: random.Random | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.base_s = base_s
        self.cap_s = cap_s
        self._rng = rng or random.Random()
        self._sleep = sleep

    def delay(self, attempt: int) -> float:
        """Return the delay before retry number ``attempt`` (1-based)."""
        d = float(min(self.cap_s, self.base_s * (2.0 ** max(0, attempt - 1))))
        return d / 2 + self._rng.random() * d / 2

    def wait(self, attempt: int) -> float:
        """Sleep for :meth:`delay` and return it."""
        d = self.delay(attempt)
        if d > 0:
            self._sleep(d)
        return d
