"""fair share: tenant weights, per-tenant share state, indexes of a tenant's running and queued jobs

Revision 0020 (revises 0005), created 2026-12-04 18:50:00.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from forgeml.db.migrations import helpers as h
from forgeml.db.types import UTCDateTime
from forgeml.domain.fairshare import scale

revision = "0020"
down_revision = "0005"

QUEUED = "secondary_status IN ('Interrupted', 'Pending')"


def upgrade() -> None:
    # A plain ADD COLUMN (SQLite takes it with the default): a batch copy of `tenants` would
    # drop a table that every tenant-owned row points at.
    op.add_column(
        "tenants", sa.Column("weight", sa.Float(), server_default=sa.text("1"), nullable=False)
    )
    op.create_table(
        "tenant_shares",
        h.key("tenant_id"),
        h.column("usage", sa.Float()),
        h.column("scale_at", sa.Float()),
        h.column("rate", sa.Float()),
        h.ts("head_at", nullable=True),
        h.ts("updated_at"),
        h.fk("tenant_shares", "tenant_id", "tenants"),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_tenant_shares")),
    )
    with op.batch_alter_table("training_jobs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_training_jobs_tenant_id_secondary_status", ["tenant_id", "secondary_status"]
        )
        batch_op.create_index(
            "ix_training_jobs_queued",
            ["tenant_id", "created_at", "id"],
            postgresql_where=sa.text(QUEUED),
            sqlite_where=sa.text(QUEUED),
        )
    _backfill()


def _backfill() -> None:
    """Tenants with jobs queued before the upgrade get their row, or no claim would find them."""
    now = datetime.now(UTC)
    jobs = sa.table(
        "training_jobs", sa.column("tenant_id"), sa.column("secondary_status"),
        sa.column("created_at", UTCDateTime(timezone=True)),
    )  # fmt: skip
    shares = sa.table(
        "tenant_shares", *(sa.column(c) for c in ("tenant_id", "usage", "scale_at", "rate")),
        sa.column("head_at"), sa.column("updated_at"),
    )  # fmt: skip
    ts = UTCDateTime(timezone=True)
    rows = (
        sa.select(
            jobs.c.tenant_id, sa.literal(0.0), sa.literal(scale(now)), sa.literal(0.0),
            sa.func.min(jobs.c.created_at), sa.literal(now, ts),
        )
        .where(jobs.c.secondary_status.in_(["Interrupted", "Pending"]))
        .group_by(jobs.c.tenant_id)
    )  # fmt: skip
    names = ["tenant_id", "usage", "scale_at", "rate", "head_at", "updated_at"]
    op.get_bind().execute(shares.insert().from_select(names, rows))


def downgrade() -> None:
    with op.batch_alter_table("training_jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_training_jobs_queued")
        batch_op.drop_index("ix_training_jobs_tenant_id_secondary_status")
    op.drop_table("tenant_shares")
    op.drop_column("tenants", "weight")  # native on SQLite >= 3.35, no copy of `tenants`
