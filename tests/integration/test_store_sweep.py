"""The store sweeper on the file store and on SeaweedFS: temp files and multipart uploads that a
crash left behind go once they are older than the cutoff; younger ones and live sessions stay."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from forgeml.config import Settings
from forgeml.db.engine import Database
from forgeml.db.types import utcnow
from forgeml.main import build_app, build_loops
from forgeml.services.container import Services
from forgeml.services.datasets.store_sweep import sweep_store
from forgeml.storage.base import ObjectStore
from forgeml.storage.keys import RESERVED_SEGMENT
from forgeml.storage.local import FileObjectStore
from forgeml.storage.registry import open_store
from forgeml.storage.s3 import S3ObjectStore
from tests.support.datasets import API, create, ok, open_session
from tests.support.seaweedfs import SeaweedFS
from tests.support.world import World, build_world

DAY = 24 * 3600
MIB = 1024 * 1024


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


@pytest.fixture
def s3_world(seaweedfs: SeaweedFS, database: Database, tmp_path: Path) -> Iterator[World]:
    settings = Settings(
        home=tmp_path / "home",
        database_url=database.url,
        storage_url=f"s3://{seaweedfs.create_bucket()}/lake",
        s3=seaweedfs.s3_settings(),
        log_format="console",
    )
    services = Services.build(settings, database, open_store(settings.storage_url, settings.s3))
    with TestClient(build_app(services)) as client:
        yield build_world(client, services)


def test_an_open_sessions_upload_is_kept_and_a_stray_one_beside_it_aborted(
    s3_world: World,
) -> None:
    w, c, h = s3_world, s3_world.client, s3_world.a.h()
    store = w.services.store
    ds = create(c, h, "swept")
    up = open_session(c, h, ds["id"], {"big.bin": b"x" * (6 * MIB)})
    base = f"{API}/datasets/{ds['id']}/uploads/{up['version']['id']}"
    ok(c.post(f"{base}/parts", json={"path": "big.bin", "part_size": 5 * MIB}, headers=h))
    (live,) = uploads(store)
    # A part upload the crashed API never recorded, under the same version's keys.
    stray = store.create_multipart(f"tenants/{w.a.id}/datasets/{ds['id']}/v1/files/stray")
    later = utcnow() + timedelta(seconds=DAY + 60)
    assert sweep_store(w.services.db, store, DAY, now=later).uploads == 1
    assert uploads(store) == {live}
    assert stray != live
