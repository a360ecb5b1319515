"""Revision 0020 on a database with data: tenants keep their rows (weight 1), and jobs queued
before the upgrade get their tenant's share row, so the claim still finds them; and back down."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from forgeml.db import migrate
from forgeml.db.jobs import training_jobs
from forgeml.db.types import utcnow
from forgeml.queue import claims
from tests.support.db import empty_database
from tests.support.fairsim import job_values

TENANT = (
    "INSERT INTO tenants (id, name, display_name, status, created_at, updated_at) "
    "VALUES ('tnt_1', 'a', 'a', 'active', :now, :now)"
)


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_jobs_queued_before_the_upgrade_are_claimed_after_it(kind: str, tmp_path: Path) -> None:
    with empty_database(kind, tmp_path) as db:
        for head in sorted(migrate.head_revisions(db) - {"0020"}):
            migrate.upgrade(db, head)
        now = utcnow()
        queued = job_values("tnt_1", "j1", now, status="InProgress", secondary_status="Pending")
        with db.write() as conn:
            conn.execute(sa.text(TENANT), {"now": now})
            conn.execute(training_jobs.insert().values(**queued))
        migrate.upgrade(db)
        with db.write() as conn:
            weight = conn.execute(sa.text("SELECT weight FROM tenants")).scalar_one()
            r = claims.register_runner(
                conn, name="r", executor="local", cpus=4, memory_bytes=2**36, gpu_indices=[]
            )
            lease = claims.claim(conn, r, 30)
        assert weight == 1.0
        assert lease is not None and lease.job_id == queued["id"]
        migrate.upgrade(db, "heads")  # idempotent
        cfg = migrate.alembic_config(db)
        with db.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0020@-1")
        with db.engine.connect() as conn:
            assert "weight" not in {c["name"] for c in sa.inspect(conn).get_columns("tenants")}
