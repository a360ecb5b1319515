"""algorithm registry

Revision ID: 0004
Revises: 0002
Create Date: 2026-11-24 21:25:33.756905
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import forgeml.db.types

revision = "0004"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "algorithms",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", forgeml.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_algorithms")),
        sa.UniqueConstraint("name", name=op.f("uq_algorithms_name")),
    )
    op.create_table(
        "algorithm_versions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("algorithm_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("digest", sa.String(length=71), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("manifest", sa.JSON(), nullable=False),
        sa.Column("card", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("deprecated", sa.Boolean(), nullable=False),
        sa.Column("bundle_key", sa.String(length=255), nullable=False),
        sa.Column("created_at", forgeml.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("env_built_at", forgeml.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("build_claimed_by", sa.String(length=64), nullable=True),
        sa.Column("build_claimed_at", forgeml.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["algorithm_id"],
            ["algorithms.id"],
            name=op.f("fk_algorithm_versions_algorithm_id_algorithms"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_algorithm_versions")),
        sa.UniqueConstraint(
            "algorithm_id", "digest", name=op.f("uq_algorithm_versions_algorithm_id_digest")
        ),
        sa.UniqueConstraint(
            "algorithm_id", "version", name=op.f("uq_algorithm_versions_algorithm_id_version")
        ),
    )
    with op.batch_alter_table("algorithm_versions", schema=None) as batch_op:
        batch_op.create_index("ix_algorithm_versions_status", ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("algorithm_versions", schema=None) as batch_op:
        batch_op.drop_index("ix_algorithm_versions_status")
    op.drop_table("algorithm_versions")
    op.drop_table("algorithms")
