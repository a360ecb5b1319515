"""checkpoint locations, their files, and the job's checkpoint_config

Revision ID: 0017
Revises: 0005
Create Date: 2026-12-02 16:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import forgeml.db.types

revision = "0017"
down_revision = "0005"
branch_labels = None
depends_on = None

_TS = forgeml.db.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "checkpoint_locations",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.String(length=1000), nullable=False),
        sa.Column("last_job_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_checkpoint_locations_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkpoint_locations")),
        sa.UniqueConstraint(
            "tenant_id", "name", name=op.f("uq_checkpoint_locations_tenant_id_name")
        ),
    )
    with op.batch_alter_table("checkpoint_locations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_checkpoint_locations_tenant_id"), ["tenant_id"], unique=False
        )
    op.create_table(
        "checkpoint_files",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("location_id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("object_key", sa.String(length=300), nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["checkpoint_locations.id"],
            name=op.f("fk_checkpoint_files_location_id_checkpoint_locations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkpoint_files")),
        sa.UniqueConstraint(
            "location_id", "path", name=op.f("uq_checkpoint_files_location_id_path")
        ),
    )
    with op.batch_alter_table("checkpoint_files", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_checkpoint_files_tenant_id"), ["tenant_id"], unique=False
        )
    with op.batch_alter_table("training_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("checkpoint_config", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("training_jobs", schema=None) as batch_op:
        batch_op.drop_column("checkpoint_config")
    op.drop_table("checkpoint_files")
    op.drop_table("checkpoint_locations")
