"""Garbage collection of upload sessions: expire abandoned ones, then remove the objects and
multipart uploads of every aborted or expired version (its file rows are the to-do list).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import structlog

from forgeml.db import datasets as q
from forgeml.db.engine import Database
from forgeml.db.types import utcnow
from forgeml.domain.datasets import DatasetVersion, VersionStatus
from forgeml.domain.object_keys import version_prefix
from forgeml.storage.base import ObjectStore

log = structlog.get_logger("forgeml.datasets.gc")


@dataclass(frozen=True)
class GcResult:
    expired: int
    cleaned: int

    @property
    def busy(self) -> bool:
        return bool(self.expired or self.cleaned)


def clean_version(db: Database, store: ObjectStore, v: DatasetVersion) -> bool:
    """Remove what an aborted/expired version left in the store; False (retried later) on error."""
    if v.status not in (VersionStatus.ABORTED, VersionStatus.EXPIRED):
        raise ValueError(f"refusing to clean a {v.status.value} version")
    prefix = version_prefix(v.tenant_id, v.dataset_id, v.number)
    try:
        with db.read() as conn:
            files = q.session_files(conn, v.id)
        for f in files:
            if f.upload_id:
                store.abort_multipart(f.object_key, f.upload_id)
        for upload in store.list_multipart_uploads(prefix):  # parts started but never recorded
            store.abort_multipart(upload.key, upload.upload_id)
        store.delete_prefix(prefix)
    except Exception:
        log.exception("version cleanup failed; will retry", version_id=v.id)
        return False
    with db.write() as conn:
        q.delete_files(conn, v.id)
    return True


def collect_garbage(
    db: Database, store: ObjectStore, now: datetime | None = None, limit: int = 100
) -> GcResult:
    """One pass: expire sessions past `expires_at`, clean up to `limit` dead versions."""
    now = now or utcnow()
    expired = 0
    with db.write() as conn:
        for v in q.expired_sessions(conn, now, limit):
            done = {"status": VersionStatus.EXPIRED.value}
            expired += q.transition(conn, v.id, VersionStatus.UPLOADING, done)
    with db.read() as conn:
        dead = q.dead_versions_with_files(conn, limit)
    cleaned = sum(clean_version(db, store, v) for v in dead)
    if expired or cleaned:
        log.info("dataset gc", expired=expired, cleaned=cleaned)
    return GcResult(expired, cleaned)
