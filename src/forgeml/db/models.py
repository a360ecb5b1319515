"""The full schema: importing this module registers every table on `metadata`.

Feature modules define their tables next to their queries; list them here so Alembic
and the migration test see one complete picture.
"""

from __future__ import annotations

from forgeml.db import algorithms as algorithms
from forgeml.db import build_logs as build_logs
from forgeml.db import checkpoints as checkpoints
from forgeml.db import datasets, events, tables
from forgeml.db import dispatch as dispatch
from forgeml.db import grants as grants
from forgeml.db import jobs as jobs  # training jobs, resource classes, runners
from forgeml.db import quotas as quotas
from forgeml.db import shares as shares  # fair-share state per tenant
from forgeml.db import usage as usage
from forgeml.db import webhooks as webhooks
from forgeml.db.tables import metadata

__all__ = ["datasets", "events", "metadata", "tables"]
