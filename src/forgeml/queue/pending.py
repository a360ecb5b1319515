"""Why a queued job is not running yet: the scheduler pass writes the reasons that changed.

Three reasons, most specific first: no live runner could ever hold the job ("no runner advertises
class X"), a runner has room and will claim it ("waiting for a runner to claim it"), or every
runner that could hold it is full ("waiting for capacity in class X"). Which job goes first is
fair share's choice (queue/claims.py), so no reason names a place in line.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from forgeml.db import job_queries as q
from forgeml.db.jobs import training_jobs
from forgeml.db.shares import queued_status
from forgeml.domain.job_model import ResourceClass, Runner
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
    groups = conn.execute(
        sa.select(t.c.resource_class, t.c.instance_count).where(queued_status()).distinct()
    ).all()  # fmt: skip
    changed = 0
    for cls, count in groups:
        if changed >= limit:
            break
        reason = reason_for(classes.get(cls), count, runners)
        group = (t.c.resource_class == cls, t.c.instance_count == count, queued_status())
        stale = sa.or_(t.c.pending_reason.is_(None), t.c.pending_reason != reason)
        # Two statements, not UPDATE ... WHERE id IN (SELECT ... LIMIT): on stale statistics
        # PostgreSQL runs that as a nested loop over the queue for every row.
        ids = conn.execute(sa.select(t.c.id).where(*group, stale).limit(limit - changed))
        batch = [str(i) for (i,) in ids]
        if batch:
            stmt = t.update().where(t.c.id.in_(batch), *group, stale)
            changed += conn.execute(stmt.values(pending_reason=reason)).rowcount
    return changed
