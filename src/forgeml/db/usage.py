"""Usage records: one row per billed attempt (written by `BillingPolicy`), and the reports
that sum them per tenant, month, resource class or tag."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from forgeml.db import columns as col
from forgeml.db.jobs import resource_classes
from forgeml.db.rows import from_row
from forgeml.db.scope import Scope, scoped
from forgeml.db.tables import entity
from forgeml.domain.ids import new_id
from forgeml.domain.job_model import TrainingJob
from forgeml.domain.jobs import AttemptTimes, attempt_billable_seconds
from forgeml.domain.quotas import UsageLine, UsageRecord, cost, month_of

usage_records = entity(
    "usage_records",
    col.reference("tenant_id", "tenants", ondelete="CASCADE"),
    col.key("job_id"),
    col.string("job_name", 63),
    col.typed("attempt", sa.Integer),
    col.string("resource_class", 63),
    col.typed("instance_count", sa.Integer),
    col.timestamp("training_started_at"),
    col.timestamp("ended_at"),
    col.typed("seconds", sa.Integer),
    col.typed("instance_seconds", sa.Integer),
    col.typed("price_per_hour", sa.Float),
    col.typed("amount", sa.Float),
    col.string("month", 7),
    col.typed("tags", sa.JSON),
    sa.UniqueConstraint("job_id", "attempt"),
    sa.Index("ix_usage_records_tenant_id_month", "tenant_id", "month"),
)

GROUPS = ("tenant", "month", "resource_class", "tag")


def _record(r: RowMapping) -> UsageRecord:
    return from_row(UsageRecord, r, tags=lambda v: dict(v or {}))


def record_attempts(conn: Connection, job: TrainingJob, attempts: list[AttemptTimes]) -> int:
    """Insert a usage record for each billed attempt of `job` not recorded yet; how many."""
    price = conn.execute(
        sa.select(resource_classes.c.price_per_hour).where(
            resource_classes.c.name == job.resource_class
        )
    ).scalar_one_or_none()
    u = usage_records
    seen = set(conn.execute(sa.select(u.c.attempt).where(u.c.job_id == job.id)).scalars())
    rows = []
    for a in attempts:
        secs = attempt_billable_seconds(a)
        if not secs or a.number in seen:
            continue
        assert a.training_started_at is not None and a.ended_at is not None
        inst = secs * job.instance_count
        rows.append(
            {"id": new_id("use"), "tenant_id": job.tenant_id, "job_id": job.id,
             "job_name": job.name, "attempt": a.number, "resource_class": job.resource_class,
             "instance_count": job.instance_count, "training_started_at": a.training_started_at,
             "ended_at": a.ended_at, "seconds": secs, "instance_seconds": inst,
             "price_per_hour": float(price or 0.0), "amount": cost(inst, float(price or 0.0)),
             "month": month_of(a.ended_at), "tags": dict(job.tags)}
        )  # fmt: skip
    if rows:
        conn.execute(u.insert(), rows)
    return len(rows)


def month_total(conn: Connection, tenant_id: str, month: str) -> float:
    u = usage_records
    total = conn.execute(
        sa.select(sa.func.coalesce(sa.func.sum(u.c.amount), 0.0)).where(
            u.c.tenant_id == tenant_id, u.c.month == month
        )
    ).scalar_one()
    return float(total)


def _filtered(stmt: Any, scope: Scope, tenant_id: str | None, month: str | None) -> Any:
    u = usage_records
    stmt = scoped(stmt, u, scope)
    if tenant_id:
        stmt = stmt.where(u.c.tenant_id == tenant_id)
    if month:
        stmt = stmt.where(u.c.month == month)
    return stmt


def list_records(
    conn: Connection, scope: Scope, *, tenant_id: str | None, month: str | None, limit: int
) -> list[UsageRecord]:
    """The records in the scope, oldest first (the CSV export), at most `limit`."""
    u = usage_records
    stmt = _filtered(sa.select(u), scope, tenant_id, month).order_by(u.c.ended_at, u.c.id)
    return [_record(r) for r in conn.execute(stmt.limit(limit)).mappings()]


def report(
    conn: Connection, scope: Scope, *, tenant_id: str | None, month: str | None, group_by: str
) -> list[UsageLine]:
    """Sums per `group_by` (one of GROUPS; `tag` groups by `key=value`, a job once per tag)."""
    u = usage_records
    if group_by == "tag":
        return _by_tag(list_records(conn, scope, tenant_id=tenant_id, month=month, limit=10**6))
    column = {"tenant": u.c.tenant_id, "month": u.c.month, "resource_class": u.c.resource_class}
    key = column[group_by]
    stmt = sa.select(
        key,
        sa.func.count(sa.distinct(u.c.job_id)),
        sa.func.sum(u.c.instance_seconds),
        sa.func.sum(u.c.amount),
    )
    stmt = _filtered(stmt, scope, tenant_id, month).group_by(key).order_by(key)
    rows = conn.execute(stmt).all()
    return [UsageLine(str(k), int(j), int(s or 0), float(a or 0)) for k, j, s, a in rows]


def _by_tag(records: list[UsageRecord]) -> list[UsageLine]:
    sums: dict[str, tuple[set[str], int, float]] = {}
    for r in records:
        for k, v in (r.tags or {"(untagged)": ""}).items():
            key = f"{k}={v}" if v or k != "(untagged)" else k
            jobs, secs, amount = sums.get(key, (set(), 0, 0.0))
            jobs.add(r.job_id)
            sums[key] = (jobs, secs + r.instance_seconds, amount + r.amount)
    return [UsageLine(k, len(j), s, a) for k, (j, s, a) in sorted(sums.items())]
