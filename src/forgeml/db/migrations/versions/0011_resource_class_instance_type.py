"""resource classes declare the ml.* instance type they stand for

Revision ID: 0011
Revises: 0005
Create Date: 2026-12-02 16:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("resource_classes", sa.Column("instance_type", sa.String(63), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("resource_classes") as batch:
        batch.drop_column("instance_type")
