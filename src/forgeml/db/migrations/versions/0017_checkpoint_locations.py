"""checkpoint locations, their files, and the job's checkpoint_config

Revision 0017 (revises 0005), created 2026-12-02 16:40:00.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from forgeml.db.migrations import helpers as h

revision = "0017"
down_revision = "0005"


def upgrade() -> None:
    h.create_entity(
        "checkpoint_locations",
        h.key("tenant_id"),
        h.string("name", 100),
        h.string("description", 1000),
        h.key("last_job_id", nullable=True),
        *h.stamps(),
        h.fk("checkpoint_locations", "tenant_id", "tenants"),
        unique=[("tenant_id", "name")],
        indexes=["tenant_id"],
    )
    h.create_entity(
        "checkpoint_files",
        h.key("location_id"),
        h.key("tenant_id"),
        h.string("path", 1024),
        h.column("size", sa.BigInteger()),
        h.string("object_key", 300),
        h.ts("updated_at"),
        h.fk("checkpoint_files", "location_id", "checkpoint_locations", ondelete="CASCADE"),
        unique=[("location_id", "path")],
        indexes=["tenant_id"],
    )
    with op.batch_alter_table("training_jobs", schema=None) as batch_op:
        batch_op.add_column(h.column("checkpoint_config", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("training_jobs", schema=None) as batch_op:
        batch_op.drop_column("checkpoint_config")
    h.drop_table("checkpoint_files")
    h.drop_table("checkpoint_locations")
