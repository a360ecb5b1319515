"""The full schema: importing this module registers every table on `metadata`.

Feature modules define their tables next to their queries; list them here so Alembic
and the migration test see one complete picture.
"""

from __future__ import annotations

from forgeml.db import events, tables
from forgeml.db.tables import metadata

__all__ = ["events", "metadata", "tables"]
