"""Retry policy: exponential backoff with full jitter, bounded by attempts and a total deadline."""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """When and how long to wait before another attempt.

    - ``max_attempts``: attempts per request, the first included (1 = no retry).
    - ``backoff_base`` / ``backoff_max``: the wait before attempt k+1 is uniform in
      ``[0, min(backoff_max, backoff_base * 2**(k-1))]`` (full jitter, so replicas that failed together do not
      come back together).
    - ``retry_after_max``: a ``Retry-After`` from the service (HTTP header or gRPC metadata) is honoured up to
      this many seconds (it replaces the jittered wait when longer).
    - ``deadline``: total seconds for one request including every retry and wait; no attempt starts after it
      and no wait runs past it. ``None``: bounded by attempts only.
    Retried: the errors with ``retryable`` set: no answer (connection errors, timeouts), rate limited,
    overloaded, unavailable (HTTP 429/502/503/504). Never: any other error.
    """

    max_attempts: int = 5
    backoff_base: float = 0.5
    backoff_max: float = 10.0
    retry_after_max: float = 60.0
    deadline: float | None = 120.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        if self.backoff_base < 0 or self.backoff_max < 0 or self.retry_after_max < 0:
            raise ValueError("backoff and retry_after_max must be >= 0")
        if self.deadline is not None and self.deadline <= 0:
            raise ValueError("deadline must be > 0 or None")

    def backoff(
        self, attempt: int, retry_after: float | None = None, rng: random.Random | None = None
    ) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        cap = min(self.backoff_max, self.backoff_base * (2 ** (attempt - 1)))
        wait = (rng or random).uniform(0.0, cap)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.retry_after_max))
        return wait


class Attempts:
    """Bookkeeping for one request's retry loop (shared by the sync and async clients)."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self.start = time.monotonic()
        self.count = 0

    def remaining(self) -> float | None:
        if self.policy.deadline is None:
            return None
        return self.policy.deadline - (time.monotonic() - self.start)

    def next_wait(self, retry_after: float | None) -> float | None:
        """The wait before the next attempt, or ``None`` when no attempt is left (count or deadline)."""
        if self.count >= self.policy.max_attempts:
            return None
        wait = self.policy.backoff(self.count, retry_after)
        left = self.remaining()
        if left is not None and wait >= left:
            return None
        return wait


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date; ``None`` if absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())
