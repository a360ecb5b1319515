"""Checkpoints of one job attempt: what it restores before the program starts (the tenant's
checkpoint location, or the job's own checkpoints of an earlier attempt) and the sync hook each
host gets while it runs. Every write presents the attempt's lease (fencing).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from forgeml.db.engine import Database
from forgeml.db.types import utcnow
from forgeml.domain.job_model import Lease, TrainingJob
from forgeml.queue.transitions import fence
from forgeml.services.checkpoints.sync import QuotaCheck, location_sync, restore_location
from forgeml.services.jobs import staging
from forgeml.storage.base import ObjectStore
from forgeml.training.spec import HostSpec, LogLine


def restore(
    db: Database,
    store: ObjectStore,
    job: TrainingJob,
    attempt: int,
    work: Path,
    hosts: list[str],
    prefix: str,
    sink: Callable[[LogLine], None],
) -> dict[str, Path]:
    """Folders to restore into each host's /opt/ml/checkpoints (none: start fresh)."""
    cfg = job.checkpoint_config
    if job.checkpointing and cfg:
        # A tenant location: restored for every attempt, so a new job resumes from it too.
        dest = work / "restore" / "location"
        count = restore_location(db, store, cfg["location_id"], dest)
        where = f"checkpoint location {cfg['location_name']} ({cfg['location_id']})"
        sink(LogLine(utcnow(), hosts[0], "system", f"restoring {count} files from {where}"))
        return dict.fromkeys(hosts, dest) if count else {}
    if not job.checkpointing or attempt <= 1:
        return {}
    out = {}
    for host in hosts:
        dest = work / "restore" / host
        found = staging.restore_from_store(store, f"{prefix}checkpoints/{host}/", dest)
        if found is not None:
            out[host] = found
    return out


def syncs(
    db: Database,
    store: ObjectStore,
    job: TrainingJob,
    lease: Lease,
    specs: tuple[HostSpec, ...],
    prefix: str,
    check_quota: QuotaCheck,
) -> dict[str, Callable[[Path], None]]:
    """One sync hook per host (each remembers what it uploaded), or none without checkpointing."""
    if not job.checkpointing:
        return {}
    if cfg := job.checkpoint_config:
        # Like SageMaker, every host syncs into the same location.
        return {
            s.host: location_sync(
                db,
                store,
                tenant_id=job.tenant_id,
                location_id=cfg["location_id"],
                job_id=job.id,
                fence=lambda conn: fence(conn, lease),
                check_quota=check_quota,
            )
            for s in specs
        }

    def guard() -> None:
        with db.write() as conn:
            fence(conn, lease)

    return {
        s.host: staging.checkpoint_sync(store, f"{prefix}checkpoints/{s.host}/", guard)
        for s in specs
    }
