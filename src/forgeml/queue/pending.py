"""Why a queued job is not running yet: recomputed for every claimable job by the scheduler pass.

Most specific first: its tenant's capacity quota holds it ("tenant quota: 2 of 2 concurrent jobs
running"), no live runner could ever hold it ("no runner advertises class X"), jobs ahead of it
would be claimed first ("queued behind N jobs"), or every runner that could hold it is full.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from forgeml.db import job_queries as q
from forgeml.db import quotas as quota_db
from forgeml.db.jobs import training_jobs
from forgeml.domain.job_model import ResourceClass, Runner
from forgeml.domain.jobs import CLAIMABLE
from forgeml.domain.quotas import Quota, capacity_block
from forgeml.queue.claims import Capacity, free_capacity

_CLAIMABLE = [s.value for s in CLAIMABLE]


def _fits(rc: ResourceClass, count: int, cpus: int, mem: int, gpus: int) -> bool:
    return rc.cpus * count <= cpus and rc.memory_bytes * count <= mem and rc.gpus * count <= gpus


def unservable(conn: Connection, rc: ResourceClass, count: int) -> str | None:
    """Why no registered runner could ever hold `count` x `rc` (None: one could, or no runner
    has registered yet, as when the workers of a fresh deployment start after the API)."""
    runners = q.list_runners(conn)
    if not runners or any(
        _fits(rc, count, r.cpus, r.memory_bytes, len(r.gpu_indices)) for r in runners
    ):
        return None
    size = f"{count} x {rc.name}" if count > 1 else rc.name
    return f"no runner of this platform can ever run {size}; " + servable_hint(conn, count)


def servable_hint(conn: Connection, count: int) -> str:
    names = servable_classes(conn, count)
    return f"classes that can run: {', '.join(names)}" if names else "no class can run here"


def servable_classes(conn: Connection, count: int = 1) -> list[str]:
    """The enabled classes some registered runner could hold `count` of (all, if none is)."""
    runners = q.list_runners(conn)
    return [
        rc.name
        for rc in q.list_resource_classes(conn, enabled_only=True)
        if not runners
        or any(_fits(rc, count, r.cpus, r.memory_bytes, len(r.gpu_indices)) for r in runners)
    ]


def reason_for(
    rc: ResourceClass | None,
    count: int,
    ahead: int,
    runners: list[tuple[Runner, Capacity]],
) -> str:
    """The reason for one queued job, given the live runners and the jobs queued before it."""
    name = rc.name if rc is not None else "?"
    size = f"{count} x {name}" if count > 1 else name
    if rc is None or not any(
        _fits(rc, count, r.cpus, r.memory_bytes, len(r.gpu_indices)) for r, _ in runners
    ):
        return f"no runner advertises class {size}"
    if ahead:
        return f"queued behind {ahead} job{'s' if ahead != 1 else ''}"
    if any(_fits(rc, count, c.cpus, c.memory_bytes, len(c.gpu_indices)) for _, c in runners):
        return f"waiting for a runner to claim it (class {size})"
    return f"waiting for capacity in class {size}"


def quota_reason(
    conn: Connection, quotas: dict[str, Quota], tenant_id: str, cls: str, count: int
) -> str | None:
    """The capacity quota that keeps this job Pending (None: none does)."""
    quota = quotas.get(tenant_id)
    if quota is None:
        return None
    jobs, instances = quota_db.running_of_tenant(conn, tenant_id, cls)
    return capacity_block(quota, jobs, instances, cls, count)


def refresh(conn: Connection, now: datetime, runner_ttl_s: float) -> int:
    """Recompute `pending_reason` of every claimable job; the number of rows changed.

    A runner is live when it heartbeated within `runner_ttl_s`. "Ahead" counts the claimable
    jobs created before this one that some live runner could hold (claims go oldest first
    within the fairness rule, so this is what stands between the job and a runner).
    """
    since = now - timedelta(seconds=runner_ttl_s)
    live = [r for r in q.list_runners(conn) if r.heartbeat_at >= since]
    runners = [(r, free_capacity(conn, r)) for r in live]
    classes = {rc.name: rc for rc in q.list_resource_classes(conn)}
    t = training_jobs
    quotas = quota_db.quotas_with_capacity_limits(conn)
    rows = conn.execute(
        sa.select(t.c.id, t.c.resource_class, t.c.instance_count, t.c.pending_reason, t.c.tenant_id)
        .where(t.c.secondary_status.in_(_CLAIMABLE))
        .order_by(t.c.id)
    ).all()
    changed = ahead = 0
    for job_id, cls, count, old, tenant_id in rows:
        # a job its tenant's capacity quota holds back is not ahead of anyone (the claim skips it)
        reason = quota_reason(conn, quotas, tenant_id, cls, count)
        if reason is None:
            reason = reason_for(classes.get(cls), count, ahead, runners)
            if not reason.startswith("no runner"):
                ahead += 1
        if reason != old:
            conn.execute(
                t.update()
                .where(t.c.id == job_id, t.c.secondary_status.in_(_CLAIMABLE))
                .values(pending_reason=reason)
            )
            changed += 1
    return changed
