"""Presigned download URLs are bearer tokens (issue 10 item 8): short-lived (`s3.download_url_ttl_s`),
presigning can be turned off (`s3.presign_downloads`; downloads then stream through the API), and
every URL handed out is audited. Through the API on a real SeaweedFS.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from forgeml.config import S3Settings, Settings
from forgeml.db.engine import Database
from forgeml.main import build_app
from forgeml.services.container import Services
from forgeml.storage.registry import open_store
from tests.support.datasets import API, SAMPLE, create, ok, version_with
from tests.support.jobs import JOBS, tenant_b_job
from tests.support.seaweedfs import SeaweedFS
from tests.support.world import World, build_world

FILE = "data/a.csv"


def _world(seaweedfs: SeaweedFS, database: Database, tmp: Path, **s3: Any) -> Iterator[World]:
    bucket = seaweedfs.create_bucket()
    settings = Settings(
        home=tmp / "home",
        database_url=database.url,
        storage_url=f"s3://{bucket}/lake",
        s3=seaweedfs.s3_settings().model_copy(update=s3),
        log_format="console",
    )
    services = Services.build(settings, database, open_store(settings.storage_url, settings.s3))
    with TestClient(build_app(services)) as client:
        yield build_world(client, services)


@pytest.fixture
def presigning(seaweedfs: SeaweedFS, database: Database, tmp_path: Path) -> Iterator[World]:
    yield from _world(seaweedfs, database, tmp_path, download_url_ttl_s=2)


@pytest.fixture
def streaming(seaweedfs: SeaweedFS, database: Database, tmp_path: Path) -> Iterator[World]:
    yield from _world(seaweedfs, database, tmp_path, presign_downloads=False)


def _dataset(w: World) -> str:
    ds = create(w.client, w.b.h(), "b-presign")
    version_with(w.client, w.b.h(), ds["id"], SAMPLE)
    return str(ds["id"])


def _presign(w: World, ds: str, headers: dict[str, str]) -> httpx.Response:
    body = {"path": FILE}
    return w.client.post(f"{API}/datasets/{ds}/versions/1/presign", json=body, headers=headers)


def _expires(url: str) -> int:
    return int(parse_qs(urlsplit(url).query)["X-Amz-Expires"][0])


def _audit(w: World, action: str) -> list[dict[str, Any]]:
    resp = w.client.get(f"{API}/audit", params={"action": action}, headers=w.admin)
    return list(ok(resp)["items"])


def test_presigned_dataset_url_is_short_lived_and_audited(presigning: World) -> None:
    w = presigning
    ds = _dataset(w)
    signed = ok(_presign(w, ds, w.b.h()))
    assert _expires(signed["url"]) == 2
    assert httpx.get(signed["url"]).content == SAMPLE[FILE]
    rows = [r for r in _audit(w, "dataset.presign") if r["details"].get("path") == FILE]
    assert len(rows) == 1 and rows[0]["details"]["expires_s"] == 2
    assert rows[0]["actor_id"] == w.b.users["tenant-admin"]["id"]
    assert _presign(w, ds, w.a.h()).status_code == 404  # another tenant: no URL, no hint
    time.sleep(3)  # past the URL's lifetime: the store itself refuses it
    assert httpx.get(signed["url"]).status_code == 403


def test_presigned_artifact_redirect_is_short_lived_and_audited(presigning: World) -> None:
    w = presigning
    job = tenant_b_job(w)
    resp = w.client.get(
        f"{JOBS}/{job}/artifacts/model.tar.gz", headers=w.b.h(), follow_redirects=False
    )
    assert resp.status_code == 307
    assert _expires(resp.headers["location"]) == 2
    assert httpx.get(resp.headers["location"]).content == b"\x1f\x8b fake"
    rows = _audit(w, "training_job.artifact_download")
    assert [r["details"] for r in rows] == [
        {"artifact": "model.tar.gz", "presigned": True, "expires_s": 2}
    ]


def test_with_presigning_off_downloads_stream_through_the_api(streaming: World) -> None:
    w = streaming
    ds = _dataset(w)
    refused = _presign(w, ds, w.b.h())
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "presign_disabled"
    got = w.client.get(f"{API}/datasets/{ds}/versions/1/files/{FILE}", headers=w.b.h())
    assert got.status_code == 200 and got.content == SAMPLE[FILE]

    job = tenant_b_job(w)
    art = w.client.get(
        f"{JOBS}/{job}/artifacts/model.tar.gz", headers=w.b.h(), follow_redirects=False
    )
    assert art.status_code == 200 and art.content == b"\x1f\x8b fake"
    assert "location" not in art.headers
    rows = _audit(w, "training_job.artifact_download")
    assert [r["details"]["presigned"] for r in rows] == [False]
    assert not [r for r in _audit(w, "dataset.presign") if r["outcome"] == "success"]


@pytest.mark.parametrize("ttl", [0, 3601, 7 * 24 * 3600])
def test_download_url_lifetime_is_bounded(ttl: int) -> None:
    with pytest.raises(ValidationError, match="download_url_ttl_s"):
        S3Settings(download_url_ttl_s=ttl)
