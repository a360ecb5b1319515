"""The durable job queue on the metadata DB: atomic claims, lease heartbeats, expiry → retry/fail.

PostgreSQL claims with `FOR UPDATE SKIP LOCKED`; SQLite with one `UPDATE … WHERE id = (SELECT …
LIMIT 1) AND status IN (…) RETURNING id` (SQLite ignores FOR UPDATE). Fair-ish order: tenants
with the fewest running jobs first, then oldest job first.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from forgeml.db import job_queries as q
from forgeml.db.jobs import job_attempts, resource_classes, runners, training_jobs
from forgeml.db.quotas import capacity_quota_allows, still_within_quota
from forgeml.db.scope import Scope
from forgeml.db.types import utcnow
from forgeml.domain.failures import FailureKind, rule
from forgeml.domain.ids import new_id
from forgeml.domain.job_model import Lease, Runner, TrainingJob
from forgeml.domain.jobs import CLAIMABLE, RUNNING, Secondary
from forgeml.domain.retry import Requeue
from forgeml.queue.policies import RetryPolicy
from forgeml.queue.transitions import JobRef, move

_CLAIMABLE = [s.value for s in CLAIMABLE]
_RUNNING = [s.value for s in RUNNING]


@dataclass(frozen=True)
class Capacity:
    cpus: int
    memory_bytes: int
    gpu_indices: tuple[int, ...]


def free_capacity(conn: Connection, runner: Runner) -> Capacity:
    """The runner's capacity minus what its running jobs hold (GPUs by index, never shared)."""
    t, rc = training_jobs, resource_classes
    stmt = (
        sa.select(t.c.instance_count, t.c.gpu_indices, rc.c.cpus, rc.c.memory_bytes)
        .select_from(t.join(rc, rc.c.name == t.c.resource_class))
        .where(t.c.runner_id == runner.id, t.c.secondary_status.in_(_RUNNING))
    )
    cpus, mem, used = runner.cpus, runner.memory_bytes, set()
    for count, gpus, c, m in conn.execute(stmt):
        cpus -= c * count
        mem -= m * count
        used |= set(gpus or [])
    free_gpus = tuple(i for i in runner.gpu_indices if i not in used)
    return Capacity(cpus, mem, free_gpus)


def _candidates(cap: Capacity, now: datetime) -> sa.Select[tuple[str]]:
    t, rc = training_jobs, resource_classes
    other = t.alias("other")
    running_of_tenant = (
        sa.select(sa.func.count())
        .select_from(other)
        .where(other.c.tenant_id == t.c.tenant_id, other.c.secondary_status.in_(_RUNNING))
        .scalar_subquery()
    )
    return (
        sa.select(t.c.id)
        .select_from(t.join(rc, rc.c.name == t.c.resource_class))
        .where(
            t.c.secondary_status.in_(_CLAIMABLE),
            sa.or_(t.c.not_before.is_(None), t.c.not_before <= now),
            rc.c.cpus * t.c.instance_count <= cap.cpus,
            rc.c.memory_bytes * t.c.instance_count <= cap.memory_bytes,
            rc.c.gpus * t.c.instance_count <= len(cap.gpu_indices),
            capacity_quota_allows(t),  # tenant quotas: concurrent jobs, instances per class
        )
        .order_by(running_of_tenant, t.c.id)
        .limit(1)
    )


def claimable(conn: Connection, runner: Runner) -> bool:
    """Whether a job fits on `runner` now: the read an idle runner makes instead of a claim's
    write transaction (the claim itself decides; this only spares the idle write)."""
    cap = free_capacity(conn, runner)
    return conn.execute(_candidates(cap, utcnow())).first() is not None


def claim(conn: Connection, runner: Runner, lease_s: float) -> Lease | None:
    """Claim the next job that fits on `runner`: Pending|Interrupted → Starting, attempt + 1."""
    cap = free_capacity(conn, runner)
    t = training_jobs
    now = utcnow()
    token = secrets.token_hex(16)
    values = {
        "attempt": t.c.attempt + 1,
        "lease_token": token,
        "runner_id": runner.id,
        "lease_expires_at": now + timedelta(seconds=lease_s),
        "pending_reason": None,
        "not_before": None,
        "started_at": sa.func.coalesce(t.c.started_at, now),
    }
    pick: JobRef
    if conn.dialect.name == "postgresql":
        picked = conn.execute(
            _candidates(cap, now).with_for_update(skip_locked=True, of=t)
        ).scalar_one_or_none()
        if picked is None or not still_within_quota(conn, str(picked)):
            return None
        pick = str(picked)
    else:  # SQLite ignores FOR UPDATE: the pick is a subquery of the UPDATE itself
        pick = _candidates(cap, now).scalar_subquery()
    job = move(
        conn, pick, Secondary.STARTING, f"starting on runner {runner.name}", values=values,
        transition_message=lambda j: (
            f"attempt {j.attempt} of {j.max_attempts} starting on runner {runner.name}"
        ),
    )  # fmt: skip
    if job is None:
        return None
    return _start_attempt(conn, job, runner, token, cap, now)


def _start_attempt(
    conn: Connection, job: TrainingJob, runner: Runner, token: str, cap: Capacity, now: datetime
) -> Lease:
    t, rc = training_jobs, resource_classes
    gpus_each = conn.execute(
        sa.select(rc.c.gpus).select_from(t.join(rc, rc.c.name == t.c.resource_class))
        .where(t.c.id == job.id)
    ).scalar_one()  # fmt: skip
    gpus = list(cap.gpu_indices[: gpus_each * job.instance_count])
    conn.execute(t.update().where(t.c.id == job.id).values(gpu_indices=gpus))
    conn.execute(
        job_attempts.insert().values(
            id=new_id("att"),
            job_id=job.id,
            tenant_id=job.tenant_id,
            number=job.attempt,
            runner_id=runner.id,
            lease_token=token,
            starting_at=now,
            billable=True,
        )
    )
    return Lease(job.id, job.tenant_id, job.attempt, token, runner.id)


def heartbeat(conn: Connection, lease: Lease, lease_s: float) -> Secondary | None:
    """Extend the lease; the job's current secondary status, or None when the lease is lost."""
    t = training_jobs
    res = conn.execute(
        t.update()
        .where(t.c.id == lease.job_id, t.c.lease_token == lease.token)
        .values(lease_expires_at=utcnow() + timedelta(seconds=lease_s))
    )
    if res.rowcount == 0:
        return None
    value = conn.execute(sa.select(t.c.secondary_status).where(t.c.id == lease.job_id))
    return Secondary(value.scalar_one())


def give_up_attempt(
    conn: Connection,
    job_id: str,
    token: str | None,
    reason: str,
    *,
    billable: bool | None = None,
    outage: bool = False,
    requeue: Requeue = Requeue(),
) -> Secondary | None:
    """End an attempt that the platform lost: `RetryPolicy` decides between a retry and Failed,
    the `StopRule` turns Stopping into Stopped. An `outage` (database or store unreachable) is
    the platform's fault and spends none of the tenant's attempts (see domain/failures).

    Guarded by the attempt's token, so a runner that still writes is fenced out from now on.
    """
    job = q.get_job(conn, Scope.everything(), job_id)
    t = training_jobs
    if (
        token is not None
        and conn.execute(
            sa.select(t.c.id).where(t.c.id == job_id, t.c.lease_token == token)
        ).first()
        is None
    ):
        return None
    kind = FailureKind.PLATFORM_OUTAGE if outage else FailureKind.PLATFORM_ERROR
    ended = [FailureKind(o) for o in _platform_outcomes(conn, job_id)]
    d = RetryPolicy.decide(job, ended, kind, reason, requeue, utcnow())
    cleared: dict[str, Any] = {
        "lease_token": None,
        "runner_id": None,
        "lease_expires_at": None,
        "gpu_indices": [],
        **d.values,
    }
    outcome = (kind.value, rule(kind).billable if billable is None else billable)
    # The token goes into the UPDATE too: the check above is only a read, and a newer attempt
    # may have been claimed since (PostgreSQL READ COMMITTED takes no lock for it).
    moved = move(
        conn, job_id, d.target, d.message, token=token, values=cleared,
        attempt_outcome=outcome, failure=kind, reason=d.reason,
    )  # fmt: skip
    return d.target if moved else None


# Attempt outcomes of the platform's failures: the values of their failure kinds.
PLATFORM_ERROR = FailureKind.PLATFORM_ERROR.value
OUTAGE = FailureKind.PLATFORM_OUTAGE.value


def _platform_outcomes(conn: Connection, job_id: str) -> list[str]:
    a = job_attempts
    stmt = sa.select(a.c.outcome).where(
        a.c.job_id == job_id, a.c.outcome.in_([PLATFORM_ERROR, OUTAGE])
    )
    return [str(o) for (o,) in conn.execute(stmt)]


def expired(conn: Connection, now: datetime | None = None) -> list[tuple[str, str]]:
    """(job id, lease token) of running jobs whose lease ran out."""
    t = training_jobs
    stmt = sa.select(t.c.id, t.c.lease_token).where(
        t.c.secondary_status.in_(_RUNNING), t.c.lease_expires_at < (now or utcnow())
    )
    return [(str(i), str(tok)) for i, tok in conn.execute(stmt)]


def held_by(conn: Connection, runner_id: str) -> list[tuple[str, str]]:
    t = training_jobs
    stmt = sa.select(t.c.id, t.c.lease_token).where(
        t.c.secondary_status.in_(_RUNNING), t.c.runner_id == runner_id
    )
    return [(str(i), str(tok)) for i, tok in conn.execute(stmt)]


def waited_too_long(conn: Connection, now: datetime) -> list[str]:
    t = training_jobs
    stmt = sa.select(t.c.id, t.c.created_at, t.c.max_wait_s).where(
        t.c.secondary_status.in_(_CLAIMABLE), t.c.max_wait_s.is_not(None)
    )
    return [
        str(i) for i, created, wait in conn.execute(stmt) if created + timedelta(seconds=wait) < now
    ]


def register_runner(
    conn: Connection,
    *,
    name: str,
    executor: str,
    cpus: int,
    memory_bytes: int,
    gpu_indices: list[int],
) -> Runner:
    """Create or take over the runner row of `name` with a new incarnation."""
    now = utcnow()
    values = {
        "incarnation": secrets.token_hex(8),
        "executor": executor,
        "cpus": cpus,
        "memory_bytes": memory_bytes,
        "gpu_indices": gpu_indices,
        "started_at": now,
        "heartbeat_at": now,
    }
    row = conn.execute(sa.select(runners.c.id).where(runners.c.name == name)).first()
    if row is None:
        conn.execute(runners.insert().values(id=new_id("rnr"), name=name, **values))
    else:
        conn.execute(runners.update().where(runners.c.id == row[0]).values(**values))
    return next(r for r in q.list_runners(conn) if r.name == name)


def runner_heartbeat(conn: Connection, runner_id: str) -> None:
    conn.execute(runners.update().where(runners.c.id == runner_id).values(heartbeat_at=utcnow()))


__all__ = ["Capacity", "claim", "expired", "give_up_attempt", "heartbeat"]
