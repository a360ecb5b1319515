"""THE orchestration point of job state: every status write of a training job goes through here.

`create` inserts a job (Pending), `move` changes one (claim, phases, retry, stop, terminal). The
UPDATE itself checks the transition table (and, fenced, the lease token); the named policies of
`queue/policies.py` run around it, all in the caller's transaction. See ARCHITECTURE.md.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeAlias

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from forgeml.db import job_queries as q
from forgeml.db.jobs import job_transitions, training_jobs
from forgeml.db.scope import Scope
from forgeml.db.types import utcnow
from forgeml.domain.errors import Conflict
from forgeml.domain.failures import FailureKind
from forgeml.domain.job_model import Lease, TrainingJob
from forgeml.domain.jobs import Secondary, allowed_from, is_terminal, primary
from forgeml.queue.policies import AFTER, BEFORE, FairShare, Proposal, StopRule, emit_events

# A job id, or a subquery that picks one inside the UPDATE.
JobRef: TypeAlias = str | sa.ScalarSelect[Any]


class LeaseLost(Conflict):
    """The runner's lease on the attempt is gone (expired and reassigned, or the job ended)."""

    code = "lease_lost"


def create(conn: Connection, values: dict[str, Any]) -> TrainingJob:
    """Insert a new job, queued (InProgress/Pending); `values` hold everything but its status."""
    row = {
        **values,
        "status": primary(Secondary.PENDING).value,
        "secondary_status": Secondary.PENDING.value,
        "status_message": "queued",
    }
    job = q.insert_job(conn, row)
    p = Proposal(conn, job.id, Secondary.PENDING, "queued", values["created_at"], job=job)
    _history(conn, job, Secondary.PENDING, "queued", p.now)
    for policy in AFTER:
        policy.apply(p)
    return job


def move(
    conn: Connection,
    job_id: JobRef,
    target: Secondary,
    message: str,
    *,
    lease: Lease | None = None,
    token: str | None = None,
    values: dict[str, Any] | None = None,
    attempt_outcome: tuple[str, bool] | None = None,
    failure: FailureKind | None = None,
    reason: str | None = None,
    transition_message: Callable[[TrainingJob], str] | None = None,
) -> TrainingJob | None:
    """Atomically move the job to `target`; None when the table or the lease forbids it.

    `lease` (a runner) or `token` (the reconciler ending an attempt it found expired) fence the
    UPDATE itself: a newer attempt, claimed in between with a new token, is never touched.
    `failure` is stored on the closed attempt; with `reason` it derives `failure_reason`.
    """
    fence_token = lease.token if lease is not None else token
    p = Proposal(
        conn, "", target, message, utcnow(), dict(values or {}),
        fenced=fence_token is not None, attempt_outcome=attempt_outcome,
        failure=failure, reason=reason,
    )  # fmt: skip
    for policy in BEFORE:
        policy.apply(p)
    t = training_jobs
    stmt = t.update().where(
        t.c.id == job_id, t.c.secondary_status.in_([s.value for s in allowed_from(p.target)])
    )
    if fence_token is not None:
        stmt = stmt.where(t.c.lease_token == fence_token)
    row: dict[str, Any] = {
        "status": primary(p.target).value,
        "secondary_status": p.target.value,
        "status_message": p.message[:2000],
        "updated_at": p.now,
        **p.values,
    }
    if is_terminal(p.target):
        row.update(ended_at=p.now, lease_token=None, lease_expires_at=None)
    moved = conn.execute(stmt.values(**row).returning(t.c.id)).scalar_one_or_none()
    if moved is None:
        return None
    p.job_id = str(moved)
    p.job = q.get_job(conn, Scope.everything(), p.job_id)
    if transition_message is not None:
        p.transition_message = transition_message(p.job)
    _history(conn, p.job, p.target, p.transition_message or p.message, p.now)
    for policy in AFTER:
        policy.apply(p)
    return p.job


def _history(
    conn: Connection, job: TrainingJob, target: Secondary, message: str, now: datetime
) -> None:
    """Close the open transition of the job's history and store the new one."""
    t = job_transitions
    conn.execute(
        t.update().where(t.c.job_id == job.id, t.c.end_time.is_(None)).values(end_time=now)
    )
    conn.execute(
        t.insert().values(
            job_id=job.id,
            tenant_id=job.tenant_id,
            attempt=job.attempt,
            status=primary(target).value,
            secondary_status=target.value,
            start_time=now,
            end_time=now if is_terminal(target) else None,
            message=message[:2000],
        )
    )


def record_transition(
    conn: Connection, job: TrainingJob, target: Secondary, message: str, now: datetime
) -> None:
    """History row, share state and events of a job written by other means (test fixtures
    seed jobs so)."""
    _history(conn, job, target, message, now)
    FairShare().apply(Proposal(conn, job.id, target, message, now, job=job))
    emit_events(conn, job, target, message)


def request_stop(conn: Connection, job_id: str) -> TrainingJob | None:
    """The stop rule's request side: a queued job stops now, a running one goes to Stopping.
    None when neither is allowed any more (the job ended, or its program already ended)."""
    target = StopRule.on_request(current_secondary(conn, job_id))
    moved = None
    if target == Secondary.STOPPED:
        moved = move(conn, job_id, Secondary.STOPPED, "stopped before it ran")
    if moved is None:
        moved = move(conn, job_id, Secondary.STOPPING, "stop requested")
    return moved


def move_or_raise(
    conn: Connection, job_id: str, target: Secondary, message: str, *, lease: Lease, **kw: Any
) -> TrainingJob:
    """A runner's move: losing the lease (or the state) raises `LeaseLost`."""
    job = move(conn, job_id, target, message, lease=lease, **kw)
    if job is None:
        raise LeaseLost(
            f"job {job_id}: cannot move to {target.value} (lease lost or state changed)"
        )
    return job


def fence(conn: Connection, lease: Lease) -> None:
    """Take the job row (PostgreSQL row lock) and check the lease; raise `LeaseLost` if gone.

    Run first in every transaction a runner writes (logs, metrics, artifacts): the reconciler's
    reassignment then either commits before (we fail) or waits until we commit.
    """
    t = training_jobs
    res = conn.execute(
        t.update()
        .where(t.c.id == lease.job_id, t.c.lease_token == lease.token)
        .values(updated_at=utcnow())
    )
    if res.rowcount == 0:
        raise LeaseLost(f"job {lease.job_id}: lease of attempt {lease.attempt} lost")


def note(conn: Connection, lease: Lease, message: str) -> None:
    """Say what the holder of the lease is doing within the current state (no transition);
    raise `LeaseLost` when the lease is gone."""
    t = training_jobs
    res = conn.execute(
        t.update()
        .where(t.c.id == lease.job_id, t.c.lease_token == lease.token)
        .values(status_message=message[:2000], updated_at=utcnow())
    )
    if res.rowcount == 0:
        raise LeaseLost(f"job {lease.job_id}: lease of attempt {lease.attempt} lost")


def current_secondary(conn: Connection, job_id: str) -> Secondary:
    value = conn.execute(
        sa.select(training_jobs.c.secondary_status).where(training_jobs.c.id == job_id)
    ).scalar_one()
    return Secondary(value)


__all__ = ["LeaseLost", "create", "fence", "move", "move_or_raise", "note", "record_transition"]
