"""The data lake on a real SeaweedFS: presigned multipart parts PUT straight to the store with
httpx (interrupted and resumed), commit verifying by read-back, presigned GET downloads."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from forgeml.config import Settings
from forgeml.db.engine import Database
from forgeml.main import build_app
from forgeml.services.container import Services
from forgeml.storage.registry import open_store
from tests.support.datasets import API, commit, create, ok, open_session, put, sha
from tests.support.seaweedfs import SeaweedFS
from tests.support.world import World, build_world

MIB = 1024 * 1024


@pytest.fixture
def s3_world(seaweedfs: SeaweedFS, database: Database, tmp_path: Path) -> Iterator[World]:
    bucket = seaweedfs.create_bucket()
    settings = Settings(
        home=tmp_path / "home",
        database_url=database.url,
        storage_url=f"s3://{bucket}/lake",
        s3=seaweedfs.s3_settings(),
        log_format="console",
    )
    services = Services.build(settings, database, open_store(settings.storage_url, settings.s3))
    with TestClient(build_app(services)) as client:
        yield build_world(client, services)


def test_presigned_parts_resume_commit_and_presigned_download(s3_world: World) -> None:
    w, c, h = s3_world, s3_world.client, s3_world.a.h()
    ds = create(c, h, "on-s3")
    big = hashlib.sha256(b"seed").digest() * (12 * MIB // 32)  # 12 MiB → 3 parts of 5 MiB
    small = b"streamed through the API"
    up = open_session(c, h, ds["id"], {"big.bin": big, "small.txt": small})
    uid = up["version"]["id"]
    base = f"{API}/datasets/{ds['id']}/uploads/{uid}"
    ok(put(c, h, ds["id"], uid, "small.txt", small))

    plan = ok(c.post(f"{base}/parts", json={"path": "big.bin", "part_size": 5 * MIB}, headers=h))
    assert plan["part_count"] == 3 and [p["part_number"] for p in plan["parts"]] == [1, 2, 3]
    for p in plan["parts"][:2]:  # the client dies after two parts
        start = (p["part_number"] - 1) * 5 * MIB
        assert httpx.put(p["url"], content=big[start : start + 5 * MIB]).status_code == 200
    s = ok(c.get(base, headers=h))
    big_state = next(f for f in s["files"] if f["path"] == "big.bin")
    assert big_state["multipart"] and [x["part_number"] for x in big_state["parts"]] == [1, 2]
    assert c.get(f"{API}/datasets/{ds['id']}/versions/1", headers=h).status_code == 404
    early = commit(c, h, ds["id"], uid)
    assert early.status_code == 422 and early.json()["error"]["code"] == "incomplete_upload"

    again = ok(c.post(f"{base}/parts", json={"path": "big.bin"}, headers=h))  # resume
    assert [p["part_number"] for p in again["parts"]] == [3]
    assert httpx.put(again["parts"][0]["url"], content=big[10 * MIB :]).status_code == 200
    v = ok(commit(c, h, ds["id"], uid))  # completes the upload and re-hashes it
    assert v["file_count"] == 2 and v["size_bytes"] == len(big) + len(small)

    url = ok(
        c.post(f"{API}/datasets/{ds['id']}/versions/1/presign", json={"path": "big.bin"}, headers=h)
    )
    got = httpx.get(url["url"])
    assert got.status_code == 200 and sha(got.content) == sha(big)
    keys = [o.key for o in w.services.store.list("")]
    assert all(k.startswith(f"tenants/{w.a.id}/datasets/{ds['id']}/v1/") for k in keys)
    actions = ok(c.get(f"{API}/audit", params={"action": "dataset.presign"}, headers=w.admin))
    assert len(actions["items"]) == 3  # two upload plans and one download URL


def test_wrong_checksum_on_direct_upload_is_refused(s3_world: World) -> None:
    c, h = s3_world.client, s3_world.a.h()
    ds = create(c, h, "bad-sum")
    up = open_session(c, h, ds["id"])
    base = f"{API}/datasets/{ds['id']}/uploads/{up['version']['id']}"
    body = {"path": "x.bin", "size": 3, "sha256": "0" * 64}
    plan = ok(c.post(f"{base}/parts", json=body, headers=h))
    assert httpx.put(plan["parts"][0]["url"], content=b"abc").status_code == 200
    resp = c.post(f"{base}/parts/complete", json={"path": "x.bin"}, headers=h)
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "checksum_mismatch"
    assert list(s3_world.services.store.list("")) == []
    ok(c.delete(base, headers=h))
    assert s3_world.services.store.list_multipart_uploads("") == []
