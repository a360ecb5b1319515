"""the attempt's failure kind (domain.failures.FailureKind)

Revision 0018 (revises 0005), created 2026-12-03 14:40:00.
"""

from __future__ import annotations

from alembic import op

from forgeml.db.migrations import helpers as h

revision = "0018"
down_revision = "0005"


def upgrade() -> None:
    with op.batch_alter_table("training_job_attempts", schema=None) as batch_op:
        batch_op.add_column(h.string("failure_kind", 32, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("training_job_attempts", schema=None) as batch_op:
        batch_op.drop_column("failure_kind")
