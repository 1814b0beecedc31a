"""Token bucket and jittered backoff, on an injected clock (no real sleeping)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.alpaca.limits import ALPACA_REQUESTS_PER_MINUTE, Backoff, TokenBucket


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.slept.append(s)
        self.now += s


def test_token_bucket_when_600_requests_then_never_more_than_200_in_any_minute() -> None:
    t = FakeTime()
    bucket = TokenBucket(190, burst=10, clock=t.clock, sleep=t.sleep)
    stamps = []
    for _ in range(600):
        bucket.acquire()
        stamps.append(t.now)
    worst = max(sum(1 for x in stamps[i:] if x < s + 60) for i, s in enumerate(stamps))
    assert worst <= ALPACA_REQUESTS_PER_MINUTE
    assert stamps[-1] >= (600 - 10) / 190 * 60 - 1e-6


def test_token_bucket_when_idle_then_burst_is_free() -> None:
    t = FakeTime()
    bucket = TokenBucket(60, burst=5, clock=t.clock, sleep=t.sleep)
    for _ in range(5):
        bucket.acquire()
    assert t.slept == []
    bucket.acquire()
    assert t.slept and t.slept[0] == pytest.approx(1.0)


def test_token_bucket_when_bad_rate_then_value_error() -> None:
    with pytest.raises(ValueError, match="rate_per_minute"):
        TokenBucket(0)


@given(st.integers(min_value=1, max_value=30), st.integers(min_value=0, max_value=2**32))
def test_backoff_when_any_attempt_then_delay_within_half_and_full_capped(attempt: int,
                                                                         seed: int) -> None:
    b = Backoff(0.25, 8.0, rng=random.Random(seed), sleep=lambda s: None)
    full = min(8.0, 0.25 * 2 ** (attempt - 1))
    assert full / 2 <= b.delay(attempt) <= full


def test_backoff_when_seeded_then_jitter_differs_between_retries_but_is_reproducible() -> None:
    a = [Backoff(rng=random.Random(1), sleep=lambda s: None).delay(3) for _ in range(2)]
    b = Backoff(rng=random.Random(1), sleep=lambda s: None)
    assert a[0] == a[1] and b.delay(3) != b.delay(3)
