"""Tenant quotas (concurrent jobs, instances per class, monthly budget) and the budget alerts
already raised; the claim's capacity-quota condition; storage stays on the tenant row."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from forgeml.db import columns as col
from forgeml.db.jobs import training_jobs
from forgeml.db.scope import Scope
from forgeml.db.tables import metadata, tenants
from forgeml.domain.jobs import RUNNING
from forgeml.domain.quotas import Quota

_RUNNING = [s.value for s in RUNNING]

tenant_quotas = sa.Table(
    "tenant_quotas",
    metadata,
    col.reference("tenant_id", "tenants", ondelete="CASCADE", primary_key=True),
    col.typed("max_concurrent_jobs", sa.Integer, nullable=True),
    col.typed("monthly_budget", sa.Float, nullable=True),
    col.typed("budget_hard_stop", sa.Boolean),
    col.timestamp("updated_at"),
)

class_quotas = sa.Table(
    "tenant_class_quotas",
    metadata,
    col.reference("tenant_id", "tenants", ondelete="CASCADE", primary_key=True),
    col.string("resource_class", 63, primary_key=True),
    col.typed("max_instances", sa.Integer),
)

budget_alerts = sa.Table(
    "budget_alerts",
    metadata,
    col.reference("tenant_id", "tenants", ondelete="CASCADE", primary_key=True),
    col.string("month", 7, primary_key=True),
    col.typed("threshold", sa.Integer, primary_key=True),
    col.timestamp("at"),
)


def get_quota(conn: Connection, scope: Scope, tenant_id: str) -> Quota | None:
    """The tenant's quotas (None: the scope does not see the tenant)."""
    if scope.tenant_id is not None and scope.tenant_id != tenant_id:
        return None
    storage = conn.execute(
        sa.select(tenants.c.storage_quota_bytes).where(tenants.c.id == tenant_id)
    ).first()
    if storage is None:
        return None
    q = tenant_quotas
    row = conn.execute(sa.select(q).where(q.c.tenant_id == tenant_id)).mappings().first()
    c = class_quotas
    classes = conn.execute(
        sa.select(c.c.resource_class, c.c.max_instances).where(c.c.tenant_id == tenant_id)
    ).all()
    return Quota(
        tenant_id=tenant_id,
        max_concurrent_jobs=row["max_concurrent_jobs"] if row else None,
        class_instances={name: int(n) for name, n in classes},
        monthly_budget=row["monthly_budget"] if row else None,
        budget_hard_stop=bool(row["budget_hard_stop"]) if row else False,
        storage_bytes=storage[0],
    )


def set_quota(conn: Connection, quota: Quota, now: datetime) -> None:
    """Replace the tenant's quotas with `quota` (its storage quota goes to the tenant row)."""
    q, c = tenant_quotas, class_quotas
    conn.execute(q.delete().where(q.c.tenant_id == quota.tenant_id))
    conn.execute(c.delete().where(c.c.tenant_id == quota.tenant_id))
    conn.execute(
        q.insert().values(
            tenant_id=quota.tenant_id,
            max_concurrent_jobs=quota.max_concurrent_jobs,
            monthly_budget=quota.monthly_budget,
            budget_hard_stop=quota.budget_hard_stop,
            updated_at=now,
        )
    )
    rows = [
        {"tenant_id": quota.tenant_id, "resource_class": k, "max_instances": v}
        for k, v in sorted(quota.class_instances.items())
    ]
    if rows:
        conn.execute(c.insert(), rows)
    conn.execute(
        tenants.update()
        .where(tenants.c.id == quota.tenant_id)
        .values(storage_quota_bytes=quota.storage_bytes, updated_at=now)
    )


def running_of_tenant(conn: Connection, tenant_id: str, cls: str) -> tuple[int, int]:
    """(running jobs of the tenant, running instances of the tenant in class `cls`)."""
    t = training_jobs
    rows = conn.execute(
        sa.select(t.c.resource_class, sa.func.count(), sa.func.sum(t.c.instance_count))
        .where(t.c.tenant_id == tenant_id, t.c.secondary_status.in_(_RUNNING))
        .group_by(t.c.resource_class)
    ).all()
    jobs = sum(int(n) for _, n, _ in rows)
    instances = sum(int(i or 0) for c, _, i in rows if c == cls)
    return jobs, instances


def capacity_quota_allows(t: sa.Table) -> sa.ColumnElement[bool]:
    """The claim's capacity-quota condition on candidate row `t`: its tenant is below its
    concurrent-jobs quota and the job's instances fit its class quota (no quota row: allowed)."""
    other = t.alias("quota_other")
    mine = sa.and_(other.c.tenant_id == t.c.tenant_id, other.c.secondary_status.in_(_RUNNING))
    # two levels below the candidate's SELECT: correlate to `t` explicitly (auto-correlation
    # only reaches the enclosing EXISTS and would join a second, uncorrelated `t`)
    running = (
        sa.select(sa.func.count()).select_from(other).where(mine).correlate(t).scalar_subquery()
    )
    in_class = (
        sa.select(sa.func.coalesce(sa.func.sum(other.c.instance_count), 0))
        .where(mine, other.c.resource_class == t.c.resource_class)
        .correlate(t)
        .scalar_subquery()
    )
    q, c = tenant_quotas, class_quotas
    jobs_full = sa.exists().where(
        q.c.tenant_id == t.c.tenant_id,
        q.c.max_concurrent_jobs.is_not(None),
        q.c.max_concurrent_jobs <= running,
    )
    class_full = sa.exists().where(
        c.c.tenant_id == t.c.tenant_id,
        c.c.resource_class == t.c.resource_class,
        c.c.max_instances < in_class + t.c.instance_count,
    )
    return sa.and_(~jobs_full, ~class_full)


def still_within_quota(conn: Connection, job_id: str) -> bool:
    """PostgreSQL claims: SKIP LOCKED locks only the picked job, so two runners could each
    start one of a tenant's jobs past its quota. Lock the tenant's quota row (claims of one
    tenant with a quota queue here), then check the condition again on a fresh snapshot."""
    t, q = training_jobs, tenant_quotas
    tenant = sa.select(t.c.tenant_id).where(t.c.id == job_id).scalar_subquery()
    locked = conn.execute(
        sa.select(q.c.tenant_id).where(q.c.tenant_id == tenant).with_for_update()
    ).first()
    if locked is None:
        return True  # no quota row: no capacity quota
    again = sa.select(t.c.id).where(t.c.id == job_id, capacity_quota_allows(t))
    return conn.execute(again).first() is not None


def quotas_with_capacity_limits(conn: Connection) -> dict[str, Quota]:
    """The quotas of the tenants that have a capacity limit (the pending-reason pass)."""
    q, c = tenant_quotas, class_quotas
    ids = {r[0] for r in conn.execute(sa.select(c.c.tenant_id).distinct())}
    ids |= {
        r[0]
        for r in conn.execute(sa.select(q.c.tenant_id).where(q.c.max_concurrent_jobs.is_not(None)))
    }
    out = {}
    for tenant_id in sorted(ids):
        quota = get_quota(conn, Scope.everything(), tenant_id)
        if quota is not None:
            out[tenant_id] = quota
    return out


def note_alert(conn: Connection, tenant_id: str, month: str, threshold: int, at: datetime) -> bool:
    """Record that the alert was raised; False when it already was (exactly once per month)."""
    dialect: Any = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = (
        dialect.insert(budget_alerts)
        .values(tenant_id=tenant_id, month=month, threshold=threshold, at=at)
        .on_conflict_do_nothing(index_elements=["tenant_id", "month", "threshold"])
        .returning(budget_alerts.c.threshold)
    )
    return conn.execute(stmt).first() is not None
