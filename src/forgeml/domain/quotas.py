"""Tenant quotas and metering rules (pure): which quota a submit or a claim runs into, the cost
of an attempt, a job's worst-case cost and the budget thresholds (docs/quotas.md)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from forgeml.domain.errors import QuotaExceeded

BUDGET_THRESHOLDS = (80, 100)  # percent of the monthly budget that raise a budget alert once


@dataclass(frozen=True)
class Quota:
    """A tenant's limits; None is "no limit". `storage_bytes` is the tenant row's storage quota."""

    tenant_id: str
    max_concurrent_jobs: int | None = None
    class_instances: Mapping[str, int] = field(default_factory=dict)
    monthly_budget: float | None = None
    budget_hard_stop: bool = False
    storage_bytes: int | None = None


@dataclass(frozen=True)
class UsageRecord:
    """One billed attempt: its program's seconds x instances x the class price at the time."""

    id: str
    tenant_id: str
    job_id: str
    job_name: str
    attempt: int
    resource_class: str
    instance_count: int
    training_started_at: datetime
    ended_at: datetime
    seconds: int  # per instance
    instance_seconds: int
    price_per_hour: float
    amount: float
    month: str  # "YYYY-MM" of ended_at (UTC)
    tags: Mapping[str, str]


@dataclass(frozen=True)
class UsageLine:
    """One row of a usage report: a group key and its sums."""

    key: str
    jobs: int
    instance_seconds: int
    amount: float


def month_of(at: datetime) -> str:
    return f"{at.year:04d}-{at.month:02d}"


def cost(instance_seconds: float, price_per_hour: float) -> float:
    return instance_seconds * price_per_hour / 3600


def fmt_money(amount: float, currency: str) -> str:
    return f"{amount:.2f} {currency}"


def capacity_block(
    quota: Quota, running_jobs: int, running_instances: int, cls: str, count: int
) -> str | None:
    """Why a queued job must stay Pending for its tenant's capacity quotas (None: it may run)."""
    if quota.max_concurrent_jobs is not None and running_jobs >= quota.max_concurrent_jobs:
        limit = quota.max_concurrent_jobs
        return f"tenant quota: {running_jobs} of {limit} concurrent jobs running"
    cap = quota.class_instances.get(cls)
    if cap is not None and running_instances + count > cap:
        return (
            f"tenant quota: {running_instances} of {cap} {cls} instances in use "
            f"(this job needs {count})"
        )
    return None


def never_fits(quota: Quota, cls: str, count: int) -> QuotaExceeded | None:
    """A capacity quota this job alone exceeds: it could never start, so submit refuses it."""
    if quota.max_concurrent_jobs == 0:
        return QuotaExceeded(
            "concurrent jobs quota is 0: this tenant may not run jobs",
            details={"quota": "concurrent_jobs", "limit": 0, "requested": 1},
        )
    cap = quota.class_instances.get(cls)
    if cap is not None and count > cap:
        return QuotaExceeded(
            f"instances quota for class {cls} is {cap}: this job asks for {count}",
            details={"quota": "class_instances", "resource_class": cls, "limit": cap,
                     "requested": count},
        )  # fmt: skip
    return None


def budget_refusal(
    quota: Quota, used: float, worst_case: float, currency: str
) -> QuotaExceeded | None:
    """With the hard stop on: refuse once the month's usage reached the budget, or when this
    job's worst case (max runtime x instances x price) would take it past the budget."""
    budget = quota.monthly_budget
    if budget is None or not quota.budget_hard_stop:
        return None
    if used < budget and used + worst_case <= budget:
        return None
    msg = f"monthly budget {fmt_money(budget, currency)}: {used:.2f} used"
    msg += f", this job may cost up to {worst_case:.2f}" if used < budget else " (100 % reached)"
    return QuotaExceeded(
        msg,
        details={"quota": "monthly_budget", "limit": round(budget, 2), "used": round(used, 2),
                 "requested": round(worst_case, 2), "currency": currency},
    )  # fmt: skip


def crossed(budget: float | None, total: float) -> list[int]:
    """The thresholds (percent) the month's `total` has reached; the caller alerts each once."""
    if not budget or budget <= 0:
        return []
    return [pct for pct in BUDGET_THRESHOLDS if total >= budget * pct / 100]


# Which phase each secondary status belongs to (the job's time by phase; only training is billed).
PHASE_OF = {
    "Pending": "queued",
    "Interrupted": "queued",
    "Starting": "building",
    "Downloading": "staging",
    "Training": "training",
    "Uploading": "uploading",
}
PHASES = ("queued", "building", "staging", "training", "uploading")


def phase_seconds(transitions: Sequence[Any], now: datetime) -> dict[str, int]:
    """Seconds spent per phase over the job's history (an open transition counts until `now`);
    `transitions` carry `secondary_status`, `start_time` and `end_time`."""
    totals = dict.fromkeys(PHASES, 0.0)
    for t in transitions:
        phase = PHASE_OF.get(t.secondary_status)
        if phase is not None:
            end = t.end_time or now
            totals[phase] += max(0.0, (end - t.start_time).total_seconds())
    return {k: round(v) for k, v in totals.items()}
