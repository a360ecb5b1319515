"""The named rules every job status change runs through, in order (ARCHITECTURE.md says more).

In the spirit of Prefect's orchestration rules: `transitions.move` checks the transition table in
its UPDATE, and runs `BEFORE` on the proposed move and `AFTER` once the row has changed, all in
the caller's transaction. A new rule (quotas, preemption) is one more class in these lists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.engine import Connection

from forgeml.db import events, shares, usage, wakeups
from forgeml.db import job_queries as q
from forgeml.db import quotas as quota_db
from forgeml.db.scope import Scope
from forgeml.domain.failures import FailureKind, display, rule, tenant_attempts_spent
from forgeml.domain.job_model import TrainingJob
from forgeml.domain.jobs import (
    CLAIMABLE,
    STOP_DIRECTLY,
    Secondary,
    billable_seconds,
    event_types,
    is_terminal,
    primary,
    training_seconds,
)
from forgeml.domain.quotas import crossed, month_of
from forgeml.domain.retry import Requeue


@dataclass
class Proposal:
    """One proposed status change as the policies see it (BEFORE may still change it)."""

    conn: Connection
    job_id: str
    target: Secondary
    message: str
    now: datetime
    values: dict[str, Any] = field(default_factory=dict)
    fenced: bool = False  # a lease token guards the UPDATE
    attempt_outcome: tuple[str, bool] | None = None  # (outcome, billable) closes the attempt
    failure: FailureKind | None = None
    reason: str | None = None  # a failure's own words; FailureReason prefixes them by kind
    transition_message: str | None = None  # the history's text, when it differs from the row's
    job: TrainingJob | None = None  # the row after the UPDATE (AFTER policies only)


class Policy(Protocol):
    name: str

    def apply(self, p: Proposal) -> None: ...


class ArtifactSwitch:
    """The job's pointer to its artifacts switches only in a fenced, terminal UPDATE: a runner
    fenced out after its last lease check can only have written under its own attempt's keys."""

    name = "artifact-switch"

    def apply(self, p: Proposal) -> None:
        if "artifacts" in p.values and not (p.fenced and is_terminal(p.target)):
            raise ValueError("artifacts switch only with a lease, on a terminal status")


class FailureReason:
    """`failure_reason` is derived: the kind's prefix ("AlgorithmError: ...") and the reason."""

    name = "failure-reason"

    def apply(self, p: Proposal) -> None:
        if p.failure is not None and p.reason is not None:
            p.values["failure_reason"] = display(p.failure, p.reason)[:2000]


class AttemptClose:
    """Close the open attempt with its outcome, billability and failure kind."""

    name = "attempt-close"

    def apply(self, p: Proposal) -> None:
        assert p.job is not None
        if p.attempt_outcome is None or p.job.attempt == 0:
            return
        outcome, billable = p.attempt_outcome
        q.close_attempt(p.conn, p.job_id, p.job.attempt, outcome, billable, p.failure, p.now)


class AttemptTrainingStart:
    """Entering Training stamps the attempt's `training_started_at`, in the same fenced write:
    the job's training seconds count from there."""

    name = "attempt-training-start"

    def apply(self, p: Proposal) -> None:
        assert p.job is not None
        if p.target is Secondary.TRAINING and p.job.attempt > 0:
            at = p.values.get("training_started_at", p.now)
            q.start_attempt_training(p.conn, p.job_id, p.job.attempt, at)


class BillingPolicy:
    """On a terminal status: billable and training seconds over the billable attempts, and a
    usage record per billed attempt (its program's seconds x instances x the class price)."""

    name = "billing"

    def apply(self, p: Proposal) -> None:
        assert p.job is not None
        if not is_terminal(p.target):
            return
        times = q.attempt_times(p.conn, p.job_id)
        billed = billable_seconds(times, p.job.instance_count)
        p.job = q.set_billing(p.conn, p.job_id, billed, training_seconds(times))
        usage.record_attempts(p.conn, p.job, times)


class BudgetAlertPolicy:
    """After billing: the month's usage reaching 80 % or 100 % of the tenant's budget raises a
    `budget.threshold_reached` event, once per threshold and month (a row keyed by all three)."""

    name = "budget-alert"

    def apply(self, p: Proposal) -> None:
        assert p.job is not None
        if not is_terminal(p.target):
            return
        tenant = p.job.tenant_id
        quota = quota_db.get_quota(p.conn, Scope.everything(), tenant)
        if quota is None or quota.monthly_budget is None:
            return
        month = month_of(p.now)
        total = usage.month_total(p.conn, tenant, month)
        for pct in crossed(quota.monthly_budget, total):
            if quota_db.note_alert(p.conn, tenant, month, pct, p.now):
                data = {"month": month, "threshold_percent": pct, "budget": quota.monthly_budget,
                        "used": round(total, 2), "hard_stop": quota.budget_hard_stop}  # fmt: skip
                events.emit(p.conn, "budget.threshold_reached", tenant_id=tenant, data=data)


class FairShare:
    """A job queued, started or ended changes its tenant's share state (`db/shares.py`): usage
    folded up to now, the running rate, the oldest queued job the claim starts from."""

    name = "fair-share"

    def apply(self, p: Proposal) -> None:
        assert p.job is not None
        if p.target in CLAIMABLE or p.target is Secondary.STARTING or is_terminal(p.target):
            shares.refresh(p.conn, p.job.tenant_id, p.now)


class EventsPolicy:
    """Emit the transition's events (outbox, in the same transaction: webhooks, streams)."""

    name = "events"

    def apply(self, p: Proposal) -> None:
        assert p.job is not None
        emit_events(p.conn, p.job, p.target, p.transition_message or p.message)


class WakeRunners:
    """A job became claimable (submitted, retried, requeued) or ended (a runner slot is free):
    NOTIFY the runners, delivered when the caller's transaction commits (`db/wakeups.py`)."""

    name = "wake-runners"

    def apply(self, p: Proposal) -> None:
        if p.target in CLAIMABLE or is_terminal(p.target):
            wakeups.notify(p.conn, wakeups.JOBS)


# The order matters: the prefix before the row is written; the attempt is stamped or closed
# before billing reads it; budget alerts after the usage records they sum; events last, so they
# carry the final row. (The history row is part
# of the write itself: `transitions.move` stores it before AFTER runs.)
BEFORE: list[Policy] = [ArtifactSwitch(), FailureReason()]
AFTER: list[Policy] = [
    AttemptTrainingStart(),
    AttemptClose(),
    BillingPolicy(),
    BudgetAlertPolicy(),
    FairShare(),
    EventsPolicy(),
    WakeRunners(),
]


def emit_events(conn: Connection, job: TrainingJob, target: Secondary, message: str) -> None:
    """The outbox events of `job` entering `target` (`EventsPolicy`)."""
    data: dict[str, Any] = {
        "job_id": job.id,
        "name": job.name,
        "status": primary(target).value,
        "secondary_status": target.value,
        "message": message[:500],
        "attempt": job.attempt,
    }
    if is_terminal(target):
        data["failure_reason"] = job.failure_reason
    for type_ in event_types(target):
        events.emit(
            conn,
            type_,
            tenant_id=job.tenant_id,
            data=data,
            subject_type="training_job",
            subject_id=job.id,
        )


class StopRule:
    """Whichever of "stop requested" and "program ended" commits first decides.

    A queued job stops at once; a running one goes to Stopping and its runner ends it Stopped,
    whatever its program then does. Once the end is recorded (Uploading) the table refuses
    Stopping, so a finished program keeps its outcome.
    """

    name = "stop"

    @staticmethod
    def on_request(current: Secondary) -> Secondary:
        """Where a stop request sends a job in `current`."""
        return Secondary.STOPPED if current in STOP_DIRECTLY else Secondary.STOPPING

    @staticmethod
    def on_end(current: Secondary, target: Secondary) -> Secondary:
        """Where an attempt's end goes: a job asked to stop ends Stopped."""
        return Secondary.STOPPED if current == Secondary.STOPPING else target


@dataclass(frozen=True)
class Decision:
    target: Secondary
    message: str
    values: dict[str, Any]
    reason: str | None = None  # the failure reason (Failed only), prefixed by its kind


class RetryPolicy:
    """An attempt the platform lost: retry (Interrupted, claimable after a back-off) or fail.

    The kind's rule decides what it spends: a platform error one of the tenant's attempts, an
    outage none (capped by `requeue.max_outage_retries` instead). Stopping → Stopped.
    """

    name = "retry"

    @staticmethod
    def decide(
        job: TrainingJob,
        ended: list[FailureKind],
        kind: FailureKind,
        reason: str,
        requeue: Requeue,
        now: datetime,
    ) -> Decision:
        """`ended`: the kinds of the job's earlier platform-lost attempts."""
        kinds = [*ended, kind]
        outages = kinds.count(FailureKind.PLATFORM_OUTAGE)
        spent = tenant_attempts_spent(kinds, job.attempt)
        values: dict[str, Any] = {}
        current = Secondary(job.secondary_status)
        if StopRule.on_end(current, Secondary.INTERRUPTED) == Secondary.STOPPED:
            return Decision(Secondary.STOPPED, f"stopped; {reason}", values)
        outage = not rule(kind).spends_attempt
        if (outages <= requeue.max_outage_retries) if outage else (spent < job.max_attempts):
            msg = f"{reason}; retrying (attempt {job.attempt} interrupted, {spent} of "
            msg += f"{job.max_attempts} used)"
            values["pending_reason"] = f"waiting for capacity in class {job.resource_class}"
            wait = requeue.wait_s(len(kinds))
            values["not_before"] = now + timedelta(seconds=wait) if wait > 0 else None
            return Decision(Secondary.INTERRUPTED, msg, values)
        limit = f"{outages} platform outages" if outage else f"{job.max_attempts} attempts"
        msg = f"{reason}; no retries left ({limit})"
        return Decision(Secondary.FAILED, msg, values, reason=reason)
