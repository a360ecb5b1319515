"""interrupted jobs wait before they are claimed again (back-off between platform retries)

Revision ID: 0012
Revises: 0005
Create Date: 2026-12-02 17:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from forgeml.db.types import UTCDateTime

revision = "0012"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "training_jobs", sa.Column("not_before", UTCDateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("training_jobs") as batch:
        batch.drop_column("not_before")
