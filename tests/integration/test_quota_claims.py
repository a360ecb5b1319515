"""The claim's capacity-quota condition on both databases: concurrent runners never start more
of a tenant's jobs than its quota (PostgreSQL claims in parallel), other tenants are unaffected,
and the pending-reason pass names the quota."""

from __future__ import annotations

from forgeml.db import quotas as quota_db
from forgeml.db.engine import Database
from forgeml.db.types import utcnow
from forgeml.domain.quotas import Quota
from forgeml.queue import pending
from tests.integration.test_jobs_queue import get, job, runner, tenant
from tests.support.fairsim import claim_all


def set_quota(db: Database, quota: Quota) -> None:
    with db.write() as conn:
        quota_db.set_quota(conn, quota, utcnow())


def test_concurrent_runners_never_start_past_a_tenant_quota(database: Database) -> None:
    limited, free = tenant(database, "limited"), tenant(database, "free")
    set_quota(database, Quota(limited, max_concurrent_jobs=2, class_instances={"cpu.small": 3}))
    held = {job(database, limited, f"l{i}", instance_count=1 + i % 2) for i in range(8)}
    others = {job(database, free, f"f{i}") for i in range(4)}
    got = claim_all(database, [runner(database, f"r{i}") for i in range(6)])
    started = [j for j in got if j in held]
    assert len(started) <= 2  # concurrent jobs
    assert sum(get(database, j).instance_count for j in started) <= 3  # cpu.small instances
    assert len(started) >= 1 and others <= set(got)  # the quota holds back only its tenant
    with database.write() as conn:
        pending.refresh(conn, utcnow(), 60)
    reasons = {get(database, j).pending_reason for j in held - set(started)}
    assert all(r is not None and r.startswith("tenant quota: ") for r in reasons), reasons
