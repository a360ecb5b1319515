"""Schema migrations (Alembic) run programmatically: `forgeml migrate`, `forgeml up`, tests."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from forgeml.db.engine import Database

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(db: Database) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", db.url.replace("%", "%%"))
    return cfg


def upgrade(db: Database, revision: str = "heads") -> None:
    """Bring the schema to `revision`; safe to run on every start (no-op when current)."""
    cfg = alembic_config(db)
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def current_revisions(db: Database) -> set[str]:
    """Applied revisions; several while feature branches are not merged yet."""
    with db.engine.connect() as conn:
        return set(MigrationContext.configure(conn).get_current_heads())


def head_revisions(db: Database) -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config(db)).get_heads())


def current_revision(db: Database) -> str | None:
    """A printable summary of the applied revisions (None on an empty database)."""
    revs = current_revisions(db)
    return ",".join(sorted(revs)) if revs else None
