"""A usage record written straight into the table (report, export and isolation tests that need
billed usage without running a job)."""

from __future__ import annotations

from datetime import datetime

from forgeml.db.types import utcnow
from forgeml.db.usage import usage_records
from forgeml.domain.ids import new_id
from forgeml.domain.quotas import month_of
from tests.support.world import World


def insert_usage(
    world: World, tenant_id: str, job_name: str, amount: float, tags: dict[str, str],
    at: datetime | None = None,
) -> None:  # fmt: skip
    """`amount` at 3600/h: as many instance-seconds as the amount."""
    at = at or utcnow()
    secs = int(amount)
    row = {
        "id": new_id("use"), "tenant_id": tenant_id, "job_id": new_id("job"),
        "job_name": job_name, "attempt": 1, "resource_class": "cpu.small",
        "instance_count": 1, "training_started_at": at, "ended_at": at, "seconds": secs,
        "instance_seconds": secs, "price_per_hour": 3600.0, "amount": amount,
        "month": month_of(at), "tags": tags,
    }  # fmt: skip
    with world.services.db.write() as conn:
        conn.execute(usage_records.insert().values(**row))
