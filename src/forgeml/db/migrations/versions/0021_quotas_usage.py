"""tenant quotas (concurrent jobs, instances per class, monthly budget), budget alerts, usage records

Revision 0021 (revises 0018), created 2026-12-04 18:50:00.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from forgeml.db.migrations import helpers as h

revision = "0021"
down_revision = "0018"

_KEYED = ("tenant_class_quotas", "budget_alerts")


def _tenant_fk(table: str) -> sa.ForeignKeyConstraint:
    return h.fk(table, "tenant_id", "tenants", ondelete="CASCADE")


def upgrade() -> None:
    h.create_table(
        "tenant_quotas",
        h.key("tenant_id"),
        h.column("max_concurrent_jobs", sa.Integer(), nullable=True),
        h.column("monthly_budget", sa.Float(), nullable=True),
        h.column("budget_hard_stop", sa.Boolean()),
        h.ts("updated_at"),
        _tenant_fk("tenant_quotas"),
        primary_key="tenant_id",
    )
    op.create_table(
        "tenant_class_quotas",
        h.key("tenant_id"),
        h.string("resource_class", 63),
        h.column("max_instances", sa.Integer()),
        _tenant_fk("tenant_class_quotas"),
        sa.PrimaryKeyConstraint("tenant_id", "resource_class", name=op.f("pk_tenant_class_quotas")),
    )
    op.create_table(
        "budget_alerts",
        h.key("tenant_id"),
        h.string("month", 7),
        h.column("threshold", sa.Integer()),
        h.ts("at"),
        _tenant_fk("budget_alerts"),
        sa.PrimaryKeyConstraint("tenant_id", "month", "threshold", name=op.f("pk_budget_alerts")),
    )
    h.create_entity(
        "usage_records",
        h.key("tenant_id"),
        h.key("job_id"),
        h.string("job_name", 63),
        h.column("attempt", sa.Integer()),
        h.string("resource_class", 63),
        h.column("instance_count", sa.Integer()),
        h.ts("training_started_at"),
        h.ts("ended_at"),
        h.column("seconds", sa.Integer()),
        h.column("instance_seconds", sa.Integer()),
        h.column("price_per_hour", sa.Float()),
        h.column("amount", sa.Float()),
        h.string("month", 7),
        h.column("tags", sa.JSON()),
        _tenant_fk("usage_records"),
        unique=[("job_id", "attempt")],
        indexes=[("tenant_id", "month")],
    )


def downgrade() -> None:
    h.drop_table("usage_records", indexes=[("tenant_id", "month")])
    for table in _KEYED:
        op.drop_table(table)
    h.drop_table("tenant_quotas")
