"""event outbox

Revision 0002 (revises 0001), created 2026-11-24 21:19:26.294436.
"""

from __future__ import annotations

import sqlalchemy as sa

from forgeml.db.migrations import helpers as h

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    h.create_entity(
        "events",
        h.column("seq", sa.BigInteger()),
        h.string("type", 100),
        h.column("version", sa.Integer()),
        h.key("tenant_id", nullable=True),
        h.string("subject_type", 50, nullable=True),
        h.string("subject_id", 64, nullable=True),
        h.ts("at"),
        h.column("data", sa.JSON()),
        unique=["seq"],
        indexes=["tenant_id"],
    )


def downgrade() -> None:
    h.drop_table("events", ["tenant_id"])
