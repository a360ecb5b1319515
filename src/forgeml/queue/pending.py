"""Why a queued job is not running yet: the scheduler pass writes the reasons that changed.

Four reasons, most specific first: its tenant's capacity quota holds it ("tenant quota: 2 of 2
concurrent jobs running"), no live runner could ever hold the job ("no runner advertises class
X"), a runner has room and will claim it ("waiting for a runner to claim it"), or every runner
that could hold it is full ("waiting for capacity in class X"). Which job goes first is fair
share's choice (queue/claims.py), so no reason names a place in line.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from forgeml.db import job_queries as q
from forgeml.db import quotas as quota_db
from forgeml.db.jobs import training_jobs
from forgeml.db.shares import queued_status
from forgeml.domain.job_model import ResourceClass, Runner
from forgeml.domain.quotas import Quota, capacity_block
from forgeml.queue.claims import Capacity, free_capacity


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


def reason_for(rc: ResourceClass | None, count: int, runners: list[tuple[Runner, Capacity]]) -> str:
    """The reason of a queued job of `count` x `rc`, given the live runners and what they have
    free. It depends on the class and size only, so a whole group is written at once."""
    name = rc.name if rc is not None else "?"
    size = f"{count} x {name}" if count > 1 else name
    if rc is None or not any(
        _fits(rc, count, r.cpus, r.memory_bytes, len(r.gpu_indices)) for r, _ in runners
    ):
        return f"no runner advertises class {size}"
    if any(_fits(rc, count, c.cpus, c.memory_bytes, len(c.gpu_indices)) for _, c in runners):
        return f"waiting for a runner to claim it (class {size})"
    return f"waiting for capacity in class {size}"


# Rows written per pass at most: the rest follow on the next pass (the write stays short).
BATCH = 1000


def quota_reason(
    conn: Connection, quotas: dict[str, Quota], tenant_id: str, cls: str, count: int
) -> str | None:
    """The capacity quota that keeps this job Pending (None: none does)."""
    quota = quotas.get(tenant_id)
    if quota is None:
        return None
    jobs, instances = quota_db.running_of_tenant(conn, tenant_id, cls)
    return capacity_block(quota, jobs, instances, cls, count)


def refresh(conn: Connection, now: datetime, runner_ttl_s: float, limit: int = BATCH) -> int:
    """Write `pending_reason` of the queued jobs whose reason changed; the number written.

    A runner is live when it heartbeated within `runner_ttl_s`. Per (class, size) of queued jobs
    one read of the rows whose reason differs (compared in SQL) and one UPDATE of those, so a
    row is written only when its reason changes, and at most `limit` rows per pass.
    """
    since = now - timedelta(seconds=runner_ttl_s)
    live = [r for r in q.list_runners(conn) if r.heartbeat_at >= since]
    runners = [(r, free_capacity(conn, r)) for r in live]
    classes = {rc.name: rc for rc in q.list_resource_classes(conn)}
    t = training_jobs
    quotas = quota_db.quotas_with_capacity_limits(conn)
    changed = 0
    # Jobs their tenant's capacity quota holds back, per (tenant, class, size): few tenants.
    held: dict[tuple[str, int], list[str]] = {}
    for tenant_id in quotas:
        groups = conn.execute(
            sa.select(t.c.resource_class, t.c.instance_count)
            .where(t.c.tenant_id == tenant_id, queued_status())
            .distinct()
        ).all()
        for cls, count in groups:
            reason = quota_reason(conn, quotas, tenant_id, cls, count)
            if reason is not None:
                held.setdefault((cls, count), []).append(tenant_id)
                where = (t.c.tenant_id == tenant_id, t.c.resource_class == cls)
                changed += _write(conn, (*where, t.c.instance_count == count), reason, limit)
    groups = conn.execute(
        sa.select(t.c.resource_class, t.c.instance_count).where(queued_status()).distinct()
    ).all()  # fmt: skip
    for cls, count in groups:
        if changed >= limit:
            break
        reason = reason_for(classes.get(cls), count, runners)
        group = [t.c.resource_class == cls, t.c.instance_count == count]
        if (cls, count) in held:
            group.append(t.c.tenant_id.not_in(held[(cls, count)]))
        changed += _write(conn, group, reason, limit - changed)
    return changed


def _write(
    conn: Connection, where: Sequence[sa.ColumnElement[bool]], reason: str, limit: int
) -> int:
    """Set `reason` on up to `limit` queued rows matching `where` whose reason differs."""
    if limit <= 0:
        return 0
    t = training_jobs
    stale = sa.or_(t.c.pending_reason.is_(None), t.c.pending_reason != reason)
    # Two statements, not UPDATE ... WHERE id IN (SELECT ... LIMIT): on stale statistics
    # PostgreSQL runs that as a nested loop over the queue for every row.
    ids = conn.execute(sa.select(t.c.id).where(*where, queued_status(), stale).limit(limit))
    batch = [str(i) for (i,) in ids]
    if not batch:
        return 0
    stmt = t.update().where(t.c.id.in_(batch), *where, queued_status(), stale)
    return int(conn.execute(stmt.values(pending_reason=reason)).rowcount)
