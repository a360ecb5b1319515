"""Every status write of a training job: checked against the transition table in the UPDATE itself.

`move` changes the row only if its current secondary status may go to the target (and, for a
runner, only while it still holds the lease), then stores the transition, closes the attempt on
terminal states, computes billing, and emits the events, all in the caller's transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from forgeml.db import events
from forgeml.db import job_queries as q
from forgeml.db.jobs import job_attempts, job_transitions, training_jobs
from forgeml.db.scope import Scope
from forgeml.db.types import utcnow
from forgeml.domain.errors import Conflict
from forgeml.domain.job_model import Lease, TrainingJob
from forgeml.domain.jobs import (
    Secondary,
    allowed_from,
    billable_seconds,
    event_types,
    is_terminal,
    primary,
    training_seconds,
)


class LeaseLost(Conflict):
    """The runner's lease on the attempt is gone (expired and reassigned, or the job ended)."""

    code = "lease_lost"


def record_transition(
    conn: Connection, job: TrainingJob, target: Secondary, message: str, now: datetime
) -> None:
    """Close the open transition, store the new one, emit its events."""
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


def close_attempt(
    conn: Connection, job_id: str, number: int, outcome: str, billable: bool, now: datetime
) -> None:
    a = job_attempts
    conn.execute(
        a.update()
        .where(a.c.job_id == job_id, a.c.number == number, a.c.ended_at.is_(None))
        .values(ended_at=now, outcome=outcome, billable=billable)
    )


def move(
    conn: Connection,
    job_id: str,
    target: Secondary,
    message: str,
    *,
    lease: Lease | None = None,
    token: str | None = None,
    values: dict[str, Any] | None = None,
    attempt_outcome: tuple[str, bool] | None = None,
) -> TrainingJob | None:
    """Atomically move the job to `target`; None when the table or the lease forbids it.

    `lease` (a runner) or `token` (the reconciler ending an attempt it found expired) fence the
    UPDATE itself: a newer attempt, claimed in between with a new token, is never touched.
    """
    now = utcnow()
    t = training_jobs
    stmt = t.update().where(
        t.c.id == job_id, t.c.secondary_status.in_([s.value for s in allowed_from(target)])
    )
    fence_token = lease.token if lease is not None else token
    if fence_token is not None:
        stmt = stmt.where(t.c.lease_token == fence_token)
    row_values: dict[str, Any] = {
        "status": primary(target).value,
        "secondary_status": target.value,
        "status_message": message[:2000],
        "updated_at": now,
        **(values or {}),
    }
    if is_terminal(target):
        row_values.update(ended_at=now, lease_token=None, lease_expires_at=None)
    if conn.execute(stmt.values(**row_values)).rowcount == 0:
        return None
    job = q.get_job(conn, Scope.everything(), job_id)
    if attempt_outcome is not None and job.attempt > 0:
        close_attempt(conn, job_id, job.attempt, attempt_outcome[0], attempt_outcome[1], now)
    if is_terminal(target):
        times = q.attempt_times(conn, job_id)
        conn.execute(
            t.update()
            .where(t.c.id == job_id)
            .values(
                billable_seconds=billable_seconds(times, job.instance_count),
                training_seconds=training_seconds(times),
            )
        )
        job = q.get_job(conn, Scope.everything(), job_id)
    record_transition(conn, job, target, message, now)
    return job


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
