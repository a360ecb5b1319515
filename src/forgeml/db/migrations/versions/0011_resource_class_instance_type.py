"""resource classes declare the ml.* instance type they stand for

Revision 0011 (revises 0005), created 2026-12-02 16:30:00.
"""

from __future__ import annotations

from alembic import op

from forgeml.db.migrations import helpers as h

revision = "0011"
down_revision = "0005"


def upgrade() -> None:
    op.add_column("resource_classes", h.string("instance_type", 63, nullable=True))


def downgrade() -> None:
    h.drop_column("resource_classes", "instance_type")
