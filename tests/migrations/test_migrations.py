"""`alembic upgrade head` on an empty database yields exactly the models, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from forgeml.db import migrate
from forgeml.db.models import metadata
from tests.support.db import empty_database


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_upgrade_head_matches_models(kind: str, tmp_path: Path) -> None:
    with empty_database(kind, tmp_path) as db:
        assert migrate.current_revision(db) is None
        migrate.upgrade(db)
        assert migrate.current_revisions(db) == migrate.head_revisions(db)
        with db.engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(ctx, metadata)
        assert diff == [], f"models and migrations differ: {diff}"
        migrate.upgrade(db)  # idempotent: a second start changes nothing
        assert migrate.current_revisions(db) == migrate.head_revisions(db)
