"""interrupted jobs wait before they are claimed again (back-off between platform retries)

Revision 0012 (revises 0005), created 2026-12-02 17:50:00.
"""

from __future__ import annotations

from alembic import op

from forgeml.db.migrations import helpers as h

revision = "0012"
down_revision = "0005"


def upgrade() -> None:
    op.add_column("training_jobs", h.ts("not_before", nullable=True))


def downgrade() -> None:
    h.drop_column("training_jobs", "not_before")
