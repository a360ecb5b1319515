"""algorithm registry

Revision 0004 (revises 0002), created 2026-11-24 21:25:33.756905.
"""

from __future__ import annotations

import sqlalchemy as sa

from forgeml.db.migrations import helpers as h

revision = "0004"
down_revision = "0002"


def upgrade() -> None:
    h.create_entity(
        "algorithms",
        h.string("name", 63),
        h.column("description", sa.Text()),
        h.ts("created_at"),
        unique=["name"],
    )
    h.create_entity(
        "algorithm_versions",
        h.key("algorithm_id"),
        h.string("name", 63),
        h.string("version", 64),
        h.string("digest", 71),
        h.column("size_bytes", sa.BigInteger()),
        h.column("manifest", sa.JSON()),
        h.column("card", sa.JSON()),
        h.string("status", 16),
        h.column("failure_reason", sa.Text(), nullable=True),
        h.column("deprecated", sa.Boolean()),
        h.string("bundle_key", 255),
        h.ts("created_at"),
        h.string("created_by", 64, nullable=True),
        h.ts("env_built_at", nullable=True),
        h.string("build_claimed_by", 64, nullable=True),
        h.ts("build_claimed_at", nullable=True),
        h.fk("algorithm_versions", "algorithm_id", "algorithms"),
        unique=[("algorithm_id", "digest"), ("algorithm_id", "version")],
        indexes=["status"],
    )


def downgrade() -> None:
    h.drop_table("algorithm_versions", ["status"])
    h.drop_table("algorithms")
