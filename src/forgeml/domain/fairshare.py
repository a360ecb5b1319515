"""Fair share across tenants: decayed dominant-resource usage, comparable without decaying rows.

Usage is stored multiplied by `scale(at)` = 2^((at - EPOCH) / HALF_LIFE_S): every tenant's stored
figure then decays at once as time passes, and adding usage or comparing tenants needs no power.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

# Defined once: how fast past usage stops counting (Slurm's default decay half-life, 7 days).
HALF_LIFE_S = 7 * 24 * 3600.0
# The scale is 2^(days since EPOCH / 7): a float holds it for ~19 years (2^1023).
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
# The integral of a constant rate r from a to b, scaled, is r * K * (scale(b) - scale(a)).
K = HALF_LIFE_S / math.log(2)


def scale(at: datetime) -> float:
    return math.pow(2.0, (at - EPOCH).total_seconds() / HALF_LIFE_S)


def accrued(usage: float, rate: float, scale_at: float, now: datetime) -> float:
    """The scaled usage at `now` of a tenant with `usage` at `scale_at` and `rate` since."""
    return usage + rate * K * (scale(now) - scale_at)


def decayed(scaled_usage: float, now: datetime) -> float:
    """The scaled figure back in share-seconds at `now` (what metrics and benches print)."""
    return scaled_usage / scale(now)


def dominant_share(
    need: tuple[int, int, int], capacity: tuple[int, int, int], count: int = 1
) -> float:
    """The largest fraction of the cluster's (CPUs, memory, GPUs) that `count` x `need` takes."""
    return max((n * count / c if c > 0 else 0.0) for n, c in zip(need, capacity, strict=True))
