"""algorithm registry

Revision 0004 (revises 0002), created 2026-11-24 21:25:33.756905.
"""

from __future__ import annotations

import sqlalchemy as sa

from forgeml.db.migrations.helpers import create_table, drop_table, fk, key, pk, ts, unique

revision = "0004"
down_revision = "0002"


def upgrade() -> None:
    create_table(
        "algorithms",
        key(),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        ts("created_at"),
        pk("algorithms"),
        unique("algorithms", "name"),
    )
    create_table(
        "algorithm_versions",
        key(),
        key("algorithm_id"),
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
        ts("created_at"),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        ts("env_built_at", nullable=True),
        sa.Column("build_claimed_by", sa.String(length=64), nullable=True),
        ts("build_claimed_at", nullable=True),
        fk("algorithm_versions", "algorithm_id", "algorithms"),
        pk("algorithm_versions"),
        unique("algorithm_versions", "algorithm_id", "digest"),
        unique("algorithm_versions", "algorithm_id", "version"),
        indexes=["status"],
    )


def downgrade() -> None:
    drop_table("algorithm_versions", ["status"])
    drop_table("algorithms")
