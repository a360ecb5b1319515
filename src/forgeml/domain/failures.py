"""Why an attempt ended other than by completing: one typed kind, and ONE rules table.

Retry (does the kind spend one of the tenant's `max_attempts`?), billing and the prefix shown to
the tenant ("AlgorithmError: ...") are all read from `RULES`, never parsed back out of text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum


class FailureKind(StrEnum):
    """Stored on the attempt (`training_job_attempts.failure_kind`), as Ray's `JobErrorType`."""

    ALGORITHM_ERROR = "algorithm_error"  # the job's own code or configuration failed
    LIMIT_EXCEEDED = "limit_exceeded"  # the job went over its volume, runtime or memory
    PLATFORM_ERROR = "platform_error"  # the platform lost the attempt (runner died, a bug)
    PLATFORM_OUTAGE = "platform_outage"  # database or store unreachable, or a worker shutdown
    STOPPED = "stopped"  # a stop request ended the attempt


@dataclass(frozen=True)
class FailureRule:
    """What one kind means for the job."""

    prefix: str  # what the tenant reads before the reason; "" for none
    retried: bool  # the platform gives the job another attempt (while any are left)
    spends_attempt: bool  # counts against the tenant's max_attempts
    billable: bool  # the attempt's time is billed to the tenant


_ALGO = "AlgorithmError"
_PLATFORM = "PlatformError"
# THE rules table. Platform failures are never billed; outages are capped by the operator's
# max_outage_retries instead of the tenant's max_attempts.
_R = FailureRule
RULES: dict[FailureKind, FailureRule] = {
    FailureKind.ALGORITHM_ERROR: _R(_ALGO, retried=False, spends_attempt=True, billable=True),
    FailureKind.LIMIT_EXCEEDED: _R(_ALGO, retried=False, spends_attempt=True, billable=True),
    FailureKind.PLATFORM_ERROR: _R(_PLATFORM, retried=True, spends_attempt=True, billable=False),
    FailureKind.PLATFORM_OUTAGE: _R(_PLATFORM, retried=True, spends_attempt=False, billable=False),
    FailureKind.STOPPED: _R("", retried=False, spends_attempt=True, billable=True),
}


def rule(kind: FailureKind) -> FailureRule:
    return RULES[kind]


def display(kind: FailureKind, reason: str) -> str:
    """The tenant-visible failure reason: the kind's prefix, then the reason."""
    prefix = RULES[kind].prefix
    return f"{prefix}: {reason}" if prefix else reason


def tenant_attempts_spent(kinds: Sequence[FailureKind | None], attempts: int) -> int:
    """How many of `attempts` count against max_attempts, given the kinds of the ended ones."""
    return attempts - sum(1 for k in kinds if k is not None and not RULES[k].spends_attempt)
