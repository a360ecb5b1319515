"""event outbox

Revision 0002 (revises 0001), created 2026-11-24 21:19:26.294436.
"""

from __future__ import annotations

import sqlalchemy as sa

from forgeml.db.migrations.helpers import create_table, drop_table, key, pk, ts, unique

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    create_table(
        "events",
        key(),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        key("tenant_id", nullable=True),
        sa.Column("subject_type", sa.String(length=50), nullable=True),
        sa.Column("subject_id", sa.String(length=64), nullable=True),
        ts("at"),
        sa.Column("data", sa.JSON(), nullable=False),
        pk("events"),
        unique("events", "seq"),
        indexes=["tenant_id"],
    )


def downgrade() -> None:
    drop_table("events", ["tenant_id"])
