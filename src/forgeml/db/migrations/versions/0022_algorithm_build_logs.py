"""environment build logs: each version's latest build (phase, counters) and its newest lines

Revision 0022 (revises 0004), created 2026-12-04 18:45:00.
"""

from __future__ import annotations

import sqlalchemy as sa

from forgeml.db.migrations import helpers as h

revision = "0022"
down_revision = "0004"

LINE_INDEXES: list[h.Index] = [("version_id", "id")]


def upgrade() -> None:
    h.create_table(
        "algorithm_builds",
        h.key("version_id"),
        h.column("attempt", sa.Integer()),
        h.string("phase", 16),
        h.ts("started_at"),
        h.ts("updated_at"),
        h.ts("finished_at", nullable=True),
        h.column("packages_installed", sa.Integer()),
        h.column("lines", sa.Integer()),
        h.column("dropped", sa.Integer()),
        h.fk("algorithm_builds", "version_id", "algorithm_versions", ondelete="CASCADE"),
        primary_key="version_id",
    )
    h.create_table(
        "algorithm_build_lines",
        h.serial(),
        h.key("version_id"),
        h.ts("at"),
        h.string("phase", 16),
        h.column("line", sa.Text()),
        h.fk("algorithm_build_lines", "version_id", "algorithm_versions", ondelete="CASCADE"),
        indexes=LINE_INDEXES,
    )


def downgrade() -> None:
    h.drop_table("algorithm_build_lines", LINE_INDEXES)
    h.drop_table("algorithm_builds")
