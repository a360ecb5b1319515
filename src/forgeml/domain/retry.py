"""Back-off with full jitter for transient failures (outages of the database or object store).

Pure timing arithmetic; callers decide which errors are transient and how long to persist.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from forgeml.domain.errors import Unavailable

T = TypeVar("T")
BASE_S = 0.5  # first delay before jitter
CAP_S = 30.0  # no single wait is longer than this


def delay(attempt: int, base_s: float = BASE_S, cap_s: float = CAP_S) -> float:
    """The wait before retry number `attempt` (1, 2, ...): uniform in [0, min(cap, base·2^n)]."""
    return random.uniform(0, min(cap_s, base_s * 2 ** max(attempt - 1, 0)))


def persist(
    fn: Callable[[], T],
    *,
    patience_s: float,
    on_retry: Callable[[int, float, Exception], None] | None = None,
    transient: tuple[type[Exception], ...] = (Unavailable,),
    sleep: Callable[[float], object] = time.sleep,
) -> T:
    """Call `fn` until it succeeds; retry transient errors for up to `patience_s`, then re-raise."""
    deadline = time.monotonic() + patience_s
    attempt = 0
    while True:
        try:
            return fn()
        except transient as exc:
            attempt += 1
            wait = delay(attempt)
            if time.monotonic() + wait > deadline:
                raise
            if on_retry is not None:
                on_retry(attempt, wait, exc)
            sleep(wait)


@dataclass(frozen=True)
class Requeue:
    """How an interrupted job goes back to the queue: when it may be claimed again, and how
    many platform outages it may ride out without spending the tenant's `max_attempts`."""

    backoff_s: float = 0.0  # the first re-claim waits this long; each later one twice as long
    backoff_cap_s: float = 600.0
    max_outage_retries: int = 10

    def wait_s(self, interrupted: int) -> float:
        """The wait before re-claiming a job interrupted `interrupted` times (1, 2, ...)."""
        return float(min(self.backoff_cap_s, self.backoff_s * 2 ** max(interrupted - 1, 0)))
