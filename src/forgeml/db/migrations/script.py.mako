"""${message}

Revision ${up_revision} (revises ${down_revision | comma,n}), created ${create_date}.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# Shared columns, named constraints and tables: from forgeml.db.migrations import helpers as h
${imports if imports else ""}
revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
% if branch_labels:
branch_labels = ${repr(branch_labels)}
% endif
% if depends_on:
depends_on = ${repr(depends_on)}
% endif


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    ${downgrades if downgrades else "pass"}
