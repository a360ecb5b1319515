"""checkpoint locations, their files, and the job's checkpoint_config

Revision 0017 (revises 0005), created 2026-12-02 16:40:00.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from forgeml.db.migrations.helpers import create_table, drop_table, fk, key, pk, ts, unique

revision = "0017"
down_revision = "0005"


def upgrade() -> None:
    create_table(
        "checkpoint_locations",
        key(),
        key("tenant_id"),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.String(length=1000), nullable=False),
        key("last_job_id", nullable=True),
        ts("created_at"),
        ts("updated_at"),
        fk("checkpoint_locations", "tenant_id", "tenants"),
        pk("checkpoint_locations"),
        unique("checkpoint_locations", "tenant_id", "name"),
        indexes=["tenant_id"],
    )
    create_table(
        "checkpoint_files",
        key(),
        key("location_id"),
        key("tenant_id"),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("object_key", sa.String(length=300), nullable=False),
        ts("updated_at"),
        fk("checkpoint_files", "location_id", "checkpoint_locations", ondelete="CASCADE"),
        pk("checkpoint_files"),
        unique("checkpoint_files", "location_id", "path"),
        indexes=["tenant_id"],
    )
    with op.batch_alter_table("training_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("checkpoint_config", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("training_jobs", schema=None) as batch_op:
        batch_op.drop_column("checkpoint_config")
    drop_table("checkpoint_files")
    drop_table("checkpoint_locations")
