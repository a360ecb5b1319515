"""The store sweeper on the file store and on SeaweedFS: temp files and multipart uploads that a
crash left behind go once they are older than the cutoff; younger ones and live sessions stay."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path

from forgeml.config import Settings
from forgeml.db.engine import Database
from forgeml.db.types import utcnow
from forgeml.main import build_loops
from forgeml.services.container import Services
from forgeml.services.store_sweep import sweep_store
from forgeml.storage.base import ObjectStore
from forgeml.storage.keys import RESERVED_SEGMENT
from forgeml.storage.local import FileObjectStore
from forgeml.storage.s3 import S3ObjectStore
from tests.support.seaweedfs import SeaweedFS

DAY = 24 * 3600


def uploads(store: ObjectStore) -> set[str]:
    return {u.upload_id for u in store.list_multipart_uploads()}


def test_file_store_temp_files_older_than_the_cutoff_are_removed(
    database: Database, tmp_path: Path
) -> None:
    store = FileObjectStore(tmp_path / "objects")
    tmp = tmp_path / "objects" / RESERVED_SEGMENT / "tmp"
    old, fresh = tmp / "put-crashed", tmp / "put-writing"
    old.write_bytes(b"half an object")
    fresh.write_bytes(b"still being written")
    two_days_ago = time.time() - 2 * DAY
    os.utime(old, (two_days_ago, two_days_ago))
    store.put("tenants/t/kept", b"an object")
    result = sweep_store(database, store, DAY)
    assert result.temp_files == 1
    assert not old.exists() and fresh.exists()
    assert store.exists("tenants/t/kept")


def check_orphaned_uploads_are_aborted(database: Database, store: ObjectStore) -> None:
    orphan = store.create_multipart("tenants/t/orphan")
    assert orphan in uploads(store)
    assert sweep_store(database, store, DAY).uploads == 0  # young: its writer may be alive
    assert orphan in uploads(store)
    later = utcnow() + timedelta(seconds=DAY + 60)
    assert sweep_store(database, store, DAY, now=later).uploads == 1
    assert orphan not in uploads(store)


def test_file_store_orphaned_multipart_uploads_are_aborted_by_age(
    database: Database, tmp_path: Path
) -> None:
    check_orphaned_uploads_are_aborted(database, FileObjectStore(tmp_path / "objects"))


def test_s3_orphaned_multipart_uploads_are_aborted_by_age(
    database: Database, seaweedfs: SeaweedFS
) -> None:
    store = S3ObjectStore(seaweedfs.create_bucket(), settings=seaweedfs.s3_settings())
    check_orphaned_uploads_are_aborted(database, store)


def test_the_worker_runs_the_sweeper(database: Database, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", database_url=database.url)
    services = Services.build(settings, database, FileObjectStore(tmp_path / "objects"))
    assert "store-sweep" in [loop.name for loop in build_loops(services)]
