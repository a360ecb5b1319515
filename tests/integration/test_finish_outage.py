"""A database outage while a finished job records its outcome: the same attempt waits it out and
completes (no second training, no lease expiry), on PostgreSQL behind a proxy the test cuts.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from forgeml.domain.errors import Unavailable
from forgeml.domain.jobs import is_terminal
from forgeml.main import build_app
from forgeml.services.container import Services
from forgeml.services.jobs import attempt as job_attempt
from forgeml.storage.memory import MemoryObjectStore
from tests.integration.test_outages import proxied  # noqa: F401  (fixture)
from tests.support.jobs import (
    JOBS,
    job_body,
    job_settings,
    register_algorithm,
    run_to_end,
    submit,
    upload_dataset,
)
from tests.support.tcp_proxy import TcpProxy
from tests.support.world import World, build_world

OUTAGE_S = 3.0  # shorter than the test lease (6 s): the attempt keeps its lease throughout


@pytest.fixture
def proxy_jobs_world(
    tmp_path: Path,
    envs_dir: Path,
    proxied: tuple[Any, TcpProxy],  # noqa: F811
) -> Iterator[tuple[World, TcpProxy]]:
    db, proxy = proxied
    services = Services.build(
        job_settings(tmp_path, db.url, envs_dir), db, MemoryObjectStore("test")
    )
    with TestClient(build_app(services)) as client:
        yield build_world(client, services), proxy


def _drive(world: World, job_id: str, timeout_s: float = 120.0) -> dict[str, Any]:
    """Tick the runner until the job ends, riding through the outage (503s, failed ticks)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(Unavailable):  # a tick during the outage fails; retry
            world.services.job_runs.tick()
        resp = world.client.get(f"{JOBS}/{job_id}", headers=world.admin)
        if resp.status_code == 200 and is_terminal(resp.json()["secondary_status"]):
            world.services.job_runs.wait_idle(30)
            return dict(world.client.get(f"{JOBS}/{job_id}", headers=world.admin).json())
        assert resp.status_code in (200, 503), resp.text
        time.sleep(0.1)
    raise AssertionError("the job did not end")


def test_a_database_outage_while_finishing_completes_the_same_attempt(
    proxy_jobs_world: tuple[World, TcpProxy], monkeypatch: pytest.MonkeyPatch
) -> None:
    world, proxy = proxy_jobs_world
    v = register_algorithm(world)
    ds = upload_dataset(world, world.a.h(), "rows", {"rows.csv": b"a,b\n1,2\n"})
    resp = world.client.post(JOBS, json=job_body("finish", v["id"], ds), headers=world.a.h())
    assert resp.status_code == 201, resp.text
    job_id = resp.json()["id"]
    real_upload = job_attempt.staging.upload_artifacts
    cut = threading.Event()

    def upload_then_cut(*args: Any) -> Any:
        out = real_upload(*args)
        if not cut.is_set():  # the outage starts right before the outcome is recorded
            cut.set()
            proxy.cut()
            threading.Timer(OUTAGE_S, proxy.restore).start()
        return out

    monkeypatch.setattr(job_attempt.staging, "upload_artifacts", upload_then_cut)
    done = _drive(world, job_id)
    assert cut.is_set()
    assert (done["status"], done["attempt"]) == ("Completed", 1), done
    statuses = [t["secondary_status"] for t in done["transitions"]]
    assert statuses.count("Training") == 1 and "Interrupted" not in statuses


@pytest.fixture
def jobs_world(tmp_path: Path, envs_dir: Path, database: Any) -> Iterator[World]:
    settings = job_settings(tmp_path, database.url, envs_dir, max_outage_retries=2)
    services = Services.build(settings, database, MemoryObjectStore("test"))
    with TestClient(build_app(services)) as client:
        yield build_world(client, services)


def test_a_store_outage_past_the_patience_retries_without_spending_max_attempts(
    jobs_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = jobs_world
    v = register_algorithm(world)
    ds = upload_dataset(world, world.a.h(), "rows", {"rows.csv": b"a,b\n1,2\n"})
    body = job_body("outage", v["id"], ds, retry={"max_attempts": 1})
    job_id = submit(world, world.a.h(), body)["id"]
    real_upload = job_attempt.staging.upload_artifacts
    calls: list[int] = []

    def store_down_on_the_first_attempt(*args: Any) -> Any:
        calls.append(1)
        if "/attempts/1/" in args[1]:  # the first attempt's keys: the store is down then
            raise Unavailable("object store unreachable")
        return real_upload(*args)

    monkeypatch.setattr(job_attempt, "OUTAGE_PATIENCE_S", 0.5)
    monkeypatch.setattr(job_attempt.staging, "upload_artifacts", store_down_on_the_first_attempt)
    done = run_to_end(world, job_id)
    assert (done["status"], done["attempt"]) == ("Completed", 2), done
    statuses = [t["secondary_status"] for t in done["transitions"]]
    assert statuses.count("Interrupted") == 1
    assert "object store" not in str(done)  # the outage's text stays in the server log
