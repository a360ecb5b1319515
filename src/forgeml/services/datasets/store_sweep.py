"""The store sweeper: temp files and multipart uploads a crash left behind, removed by age."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from forgeml.db import datasets as q
from forgeml.db.engine import Database
from forgeml.db.types import utcnow
from forgeml.storage.base import ObjectStore, SweepsTemp

log = structlog.get_logger("forgeml.storage.sweep")


@dataclass(frozen=True)
class SweepResult:
    temp_files: int
    uploads: int


def sweep_store(
    db: Database, store: ObjectStore, max_age_s: float, now: datetime | None = None
) -> SweepResult:
    """Remove temp files and abort multipart uploads started more than `max_age_s` ago.

    An upload an open dataset session still records is kept whatever its age: the session's
    own expiry (dataset GC) ends it. Everything else that old has no writer left.
    """
    cutoff = (now or utcnow()) - timedelta(seconds=max_age_s)
    temp = store.sweep_temp(cutoff) if isinstance(store, SweepsTemp) else 0
    with db.read() as conn:
        live = q.live_upload_ids(conn)
    aborted = 0
    for upload in store.list_multipart_uploads():
        if upload.initiated < cutoff and upload.upload_id not in live:
            store.abort_multipart(upload.key, upload.upload_id)
            aborted += 1
    if temp or aborted:
        log.info("store swept", temp_files=temp, uploads=aborted, older_than=cutoff.isoformat())
    return SweepResult(temp, aborted)
