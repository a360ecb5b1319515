"""Per-tenant fair-share state: decayed usage, the running rate, and the oldest queued job.

One small row per tenant, refreshed when one of its jobs is queued, starts or ends
(`queue/policies.FairShare`), so a claim picks the tenant from here instead of scanning the queue.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from forgeml.db import columns as col
from forgeml.db.jobs import resource_classes, runners, training_jobs
from forgeml.db.tables import metadata, tenants
from forgeml.domain.fairshare import K, accrued, decayed, dominant_share, scale
from forgeml.domain.jobs import CLAIMABLE, RUNNING

tenant_shares = sa.Table(
    "tenant_shares",
    metadata,
    col.reference("tenant_id", "tenants", primary_key=True),
    # Scaled usage (domain/fairshare): dominant share x seconds, times scale(at) when accrued.
    col.typed("usage", sa.Float),
    col.typed("scale_at", sa.Float),  # scale() of the last fold
    col.typed("rate", sa.Float),  # dominant share of the tenant's running jobs since then
    col.timestamp("head_at", nullable=True),  # created_at of its oldest queued job; None: none
    col.timestamp("updated_at"),
)


def queued_status() -> sa.ColumnElement[bool]:
    """`secondary_status IN ('Pending', 'Interrupted')` with literal values: SQLite uses the
    partial index of queued jobs only when the query repeats its predicate word for word."""
    values = sorted(s.value for s in CLAIMABLE)
    return training_jobs.c.secondary_status.in_([sa.literal_column(f"'{v}'") for v in values])


def _capacity(conn: Connection) -> tuple[int, int, int]:
    rows = conn.execute(sa.select(runners.c.cpus, runners.c.memory_bytes, runners.c.gpu_indices))
    total = [0, 0, 0]
    for cpus, mem, gpus in rows:
        total = [total[0] + cpus, total[1] + mem, total[2] + len(gpus or [])]
    return total[0], total[1], total[2]


def _running_rate(conn: Connection, tenant_id: str) -> float:
    """The dominant share of the cluster that the tenant's running jobs hold now."""
    t, rc = training_jobs, resource_classes
    rows = conn.execute(
        sa.select(rc.c.cpus, rc.c.memory_bytes, rc.c.gpus, t.c.instance_count)
        .select_from(t.join(rc, rc.c.name == t.c.resource_class))
        .where(t.c.tenant_id == tenant_id, t.c.secondary_status.in_([s.value for s in RUNNING]))
    ).all()
    if not rows:
        return 0.0
    cap = _capacity(conn)
    if cap[0] <= 0:  # no runner registered: count each job as the whole cluster
        return float(len(rows))
    return sum(dominant_share((c, m, g), cap, n) for c, m, g, n in rows)


def _ensure_row(conn: Connection, tenant_id: str, now: datetime) -> None:
    values = {"tenant_id": tenant_id, "usage": 0.0, "scale_at": scale(now), "rate": 0.0}
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = insert(tenant_shares).values(**values, head_at=None, updated_at=now)
    conn.execute(stmt.on_conflict_do_nothing(index_elements=["tenant_id"]))


def refresh(conn: Connection, tenant_id: str, now: datetime) -> None:
    """Fold the tenant's usage up to `now`, then store its new running rate and queue head.

    The row is locked first (PostgreSQL), in a statement of its own: the reads after it take a
    fresh snapshot, so a job queued or started by a transaction that held the lock is seen.
    """
    s = tenant_shares
    lock = sa.select(s.c.usage, s.c.rate, s.c.scale_at).where(s.c.tenant_id == tenant_id)
    if conn.dialect.name == "postgresql":
        lock = lock.with_for_update()
    row = conn.execute(lock).first()
    if row is None:  # the tenant's first job
        _ensure_row(conn, tenant_id, now)
        row = conn.execute(lock).one()
    usage, rate, scale_at = row
    t = training_jobs
    head = conn.execute(
        sa.select(sa.func.min(t.c.created_at)).where(t.c.tenant_id == tenant_id, queued_status())
    ).scalar_one()  # fmt: skip
    conn.execute(
        s.update()
        .where(s.c.tenant_id == tenant_id)
        .values(
            usage=accrued(usage, rate, scale_at, now),
            scale_at=scale(now),
            rate=_running_rate(conn, tenant_id),
            head_at=head,
            updated_at=now,
        )
    )


def share_key(now: datetime) -> sa.ColumnElement[Any]:
    """A tenant's usage up to `now` per unit of weight (scaled: comparable, not printable)."""
    s = tenant_shares
    return (s.c.usage + s.c.rate * K * (scale(now) - s.c.scale_at)) / tenants.c.weight


def furthest_below_share(conn: Connection, now: datetime, limit: int, offset: int) -> list[str]:
    """Tenants with queued jobs, lowest usage per weight first; ties go to the one running less,
    then to the oldest queued job."""
    s = tenant_shares
    stmt = (
        sa.select(s.c.tenant_id)
        .select_from(s.join(tenants, tenants.c.id == s.c.tenant_id))
        .where(s.c.head_at.is_not(None))
        .order_by(share_key(now), s.c.rate / tenants.c.weight, s.c.head_at, s.c.tenant_id)
        .limit(limit)
        .offset(offset)
    )
    return [str(tid) for (tid,) in conn.execute(stmt)]


def usage_by_tenant(conn: Connection, now: datetime) -> list[dict[str, Any]]:
    """Every tenant with share state: name, weight, decayed usage and running share."""
    s = tenant_shares
    rows = conn.execute(
        sa.select(tenants.c.name, tenants.c.weight, s.c.usage, s.c.rate, s.c.scale_at)
        .select_from(s.join(tenants, tenants.c.id == s.c.tenant_id))
    ).all()  # fmt: skip
    return [
        {"tenant": name, "weight": float(w), "running_share": float(rate),
         "usage": decayed(accrued(u, rate, at, now), now)}
        for name, w, u, rate, at in rows
    ]  # fmt: skip


def queue_depth(conn: Connection) -> list[tuple[str, str, int]]:
    """(tenant name, resource class, queued jobs) for every pair with queued jobs."""
    t = training_jobs
    stmt = (
        sa.select(tenants.c.name, t.c.resource_class, sa.func.count())
        .select_from(t.join(tenants, tenants.c.id == t.c.tenant_id))
        .where(queued_status())
        .group_by(tenants.c.name, t.c.resource_class)
    )
    return [(str(n), str(c), int(k)) for n, c, k in conn.execute(stmt)]


def set_weight(conn: Connection, tenant_id: str, weight: float) -> None:
    conn.execute(tenants.update().where(tenants.c.id == tenant_id).values(weight=weight))
