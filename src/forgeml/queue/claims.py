"""The durable job queue on the metadata DB: atomic claims, lease heartbeats, expiry → retry/fail.

PostgreSQL claims with `FOR UPDATE SKIP LOCKED`; SQLite's writers are serialized. The order is
fair share: the tenant furthest below its share first (`db/shares.py`), then its oldest job.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from forgeml.db import job_queries as q
from forgeml.db import shares
from forgeml.db.jobs import job_attempts, resource_classes, runners, training_jobs
from forgeml.db.quotas import capacity_quota_allows, still_within_quota
from forgeml.db.scope import Scope
from forgeml.db.types import utcnow
from forgeml.domain.failures import FailureKind, rule
from forgeml.domain.ids import new_id
from forgeml.domain.job_model import Lease, Runner, TrainingJob
from forgeml.domain.jobs import CLAIMABLE, RUNNING, Secondary
from forgeml.domain.retry import Requeue
from forgeml.queue import stats
from forgeml.queue.policies import RetryPolicy
from forgeml.queue.transitions import move

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


def _fits(cap: Capacity, now: datetime) -> list[sa.ColumnElement[bool]]:
    t, rc = training_jobs, resource_classes
    return [
        sa.or_(t.c.not_before.is_(None), t.c.not_before <= now),
        rc.c.cpus * t.c.instance_count <= cap.cpus,
        rc.c.memory_bytes * t.c.instance_count <= cap.memory_bytes,
        rc.c.gpus * t.c.instance_count <= len(cap.gpu_indices),
    ]


def _head(tenant_id: str, cap: Capacity, now: datetime) -> sa.Select[tuple[str]]:
    """The tenant's oldest queued job that fits: one probe of `ix_training_jobs_queued`."""
    t, rc = training_jobs, resource_classes
    return (
        sa.select(t.c.id)
        .select_from(t.join(rc, rc.c.name == t.c.resource_class))
        .where(
            t.c.tenant_id == tenant_id,
            shares.queued_status(),
            *_fits(cap, now),
            capacity_quota_allows(t),  # tenant quotas: concurrent jobs, instances per class
        )
        .order_by(t.c.created_at, t.c.id)
        .limit(1)
    )


# Tenants read per round trip: the first one almost always has a job that fits.
_TENANT_BATCH = 16


def _pick(conn: Connection, cap: Capacity, now: datetime, *, lock: bool) -> str | None:
    """The head job of the tenant furthest below its share that has one fitting `cap`.

    `lock` (PostgreSQL) takes the job row with SKIP LOCKED: concurrent claimers pass over each
    other's picks. SQLite writers are serialized (BEGIN IMMEDIATE), so the read is the claim.
    """
    offset = 0
    while True:
        tenant_ids = shares.furthest_below_share(conn, now, _TENANT_BATCH, offset)
        for tenant_id in tenant_ids:
            stmt = _head(tenant_id, cap, now)
            if lock and conn.dialect.name == "postgresql":
                stmt = stmt.with_for_update(skip_locked=True, of=training_jobs)
            picked = conn.execute(stmt).scalar_one_or_none()
            if picked is not None:
                return str(picked)
        if len(tenant_ids) < _TENANT_BATCH:
            return None
        offset += _TENANT_BATCH


def next_job(conn: Connection, runner: Runner) -> str | None:
    """The job a claim by `runner` would take now (a read: no lock, no write)."""
    return _pick(conn, free_capacity(conn, runner), utcnow(), lock=False)


def claimable(conn: Connection, runner: Runner) -> bool:
    """Whether a job fits on `runner` now: the read an idle runner makes instead of a claim's
    write transaction (the claim itself decides; this only spares the idle write)."""
    return next_job(conn, runner) is not None


def claim(conn: Connection, runner: Runner, lease_s: float) -> Lease | None:
    """Claim the next job that fits on `runner`: Pending|Interrupted → Starting, attempt + 1.

    Fair share decides which: the tenant furthest below its share (usage / weight), then its
    oldest job (see ARCHITECTURE.md, "Fair share").
    """
    began = time.perf_counter()
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
    pick = _pick(conn, cap, now, lock=True)
    if pick is None:
        return None
    # PostgreSQL: parallel claimers of one tenant re-check its quota under the quota row's lock
    # (SQLite writers are serialized, so the pick's own check holds).
    if conn.dialect.name == "postgresql" and not still_within_quota(conn, pick):
        return None
    job = move(
        conn, pick, Secondary.STARTING, f"starting on runner {runner.name}", values=values,
        transition_message=lambda j: (
            f"attempt {j.attempt} of {j.max_attempts} starting on runner {runner.name}"
        ),
    )  # fmt: skip
    if job is None:
        return None
    lease = _start_attempt(conn, job, runner, token, cap, now)
    stats.decided(time.perf_counter() - began, (now - job.created_at).total_seconds())
    return lease


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
