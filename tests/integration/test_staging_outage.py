"""An object-store outage while a job stages its input channels, on SeaweedFS behind a proxy the
test cuts: a short one is waited out by the same attempt; one past `jobs.staging_patience_s`
interrupts the job as a platform outage (max_attempts untouched), with a reason free of URLs,
buckets and prefixes.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from forgeml.db.engine import Database
from forgeml.main import build_app
from forgeml.services.container import Services
from forgeml.services.jobs import attempt as job_attempt
from forgeml.storage.s3 import S3ObjectStore
from tests.support.jobs import (
    job_body,
    job_settings,
    register_algorithm,
    run_to_end,
    submit,
    upload_dataset,
)
from tests.support.seaweedfs import SeaweedFS
from tests.support.tcp_proxy import TcpProxy
from tests.support.world import World, build_world

PREFIX = "staging-prefix"
# The production shape; staging does not depend on the database kind.
ON_POSTGRES = pytest.mark.parametrize("database", ["postgres"], indirect=True)
OUTAGE_S = 3.0


@pytest.fixture
def proxy(seaweedfs: SeaweedFS) -> Iterator[TcpProxy]:
    port = int(seaweedfs.endpoint_url.rsplit(":", 1)[1])
    p = TcpProxy("127.0.0.1", port)
    p.restore()
    yield p
    p.cut()


@contextlib.contextmanager
def _world(
    tmp_path: Path,
    envs_dir: Path,
    database: Database,
    seaweedfs: SeaweedFS,
    proxy: TcpProxy,
    patience_s: float,
) -> Iterator[tuple[World, str]]:
    bucket = seaweedfs.create_bucket()
    s3 = seaweedfs.s3_settings().model_copy(
        update={"endpoint_url": f"http://127.0.0.1:{proxy.port}"}
    )
    store = S3ObjectStore(bucket, PREFIX, s3)
    settings = job_settings(tmp_path, database.url, envs_dir, staging_patience_s=patience_s)
    services = Services.build(settings, database, store)
    with TestClient(build_app(services)) as client:
        yield build_world(client, services), bucket


def _cut_at_staging(monkeypatch: pytest.MonkeyPatch, proxy: TcpProxy) -> threading.Event:
    """The store goes away right before the first staging try and comes back OUTAGE_S later."""
    real = job_attempt.staging.stage_channels
    cut = threading.Event()

    def cut_then_stage(*args: Any) -> Any:
        if not cut.is_set():
            cut.set()
            proxy.cut()
            threading.Timer(OUTAGE_S, proxy.restore).start()
        return real(*args)

    monkeypatch.setattr(job_attempt.staging, "stage_channels", cut_then_stage)
    return cut


def _start(world: World) -> str:
    v = register_algorithm(world)
    ds = upload_dataset(world, world.a.h(), "rows", {"rows.csv": b"a,b\n1,2\n"})
    body = job_body("staged", v["id"], ds, retry={"max_attempts": 1})
    return str(submit(world, world.a.h(), body)["id"])


@ON_POSTGRES
def test_a_short_store_outage_while_staging_is_waited_out_by_the_same_attempt(
    tmp_path: Path,
    envs_dir: Path,
    database: Database,
    seaweedfs: SeaweedFS,
    proxy: TcpProxy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with _world(tmp_path, envs_dir, database, seaweedfs, proxy, 60.0) as (world, _bucket):
        job_id = _start(world)
        cut = _cut_at_staging(monkeypatch, proxy)
        done = run_to_end(world, job_id)
        assert cut.is_set()
        assert (done["status"], done["attempt"]) == ("Completed", 1), done
        statuses = [t["secondary_status"] for t in done["transitions"]]
        assert statuses.count("Downloading") == 1 and "Interrupted" not in statuses


@ON_POSTGRES
def test_a_store_outage_past_the_staging_patience_is_a_platform_interruption(
    tmp_path: Path,
    envs_dir: Path,
    database: Database,
    seaweedfs: SeaweedFS,
    proxy: TcpProxy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with _world(tmp_path, envs_dir, database, seaweedfs, proxy, 0.5) as (world, bucket):
        job_id = _start(world)
        cut = _cut_at_staging(monkeypatch, proxy)
        done = run_to_end(world, job_id)
        assert cut.is_set()
        # max_attempts=1, yet it completes: the outage did not spend the tenant's attempt
        assert done["status"] == "Completed" and done["attempt"] >= 2, done
        assert "Interrupted" in [t["secondary_status"] for t in done["transitions"]]
        events = world.client.get(f"/api/v1/training-jobs/{job_id}/events", headers=world.a.h())
        shown = str(done) + events.text
        for secret in (bucket, PREFIX, str(proxy.port), "127.0.0.1", "http://"):
            assert secret not in shown, secret
