"""Races at the end of an attempt and the scheduler's pending reasons, on both databases:
a fenced-out runner cannot change the job's artifacts, the stop rule around Uploading, and
`pending_reason` recomputed by the scheduler pass.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from forgeml.config import Settings
from forgeml.db.engine import Database
from forgeml.db.jobs import training_jobs
from forgeml.domain.jobs import Secondary
from forgeml.domain.object_keys import job_prefix
from forgeml.queue import claims, pending
from forgeml.queue.transitions import move_or_raise
from forgeml.services.jobs import attempt as job_attempt
from forgeml.training.spec import HostResult
from tests.integration.test_jobs_queue import get, job, runner, tenant
from tests.support.jobs import (
    JOBS,
    job_body,
    job_settings,
    register_algorithm,
    run_to_end,
    run_until,
    submit,
    upload_dataset,
)
from tests.support.platform_jobs import artifact
from tests.support.world import World

CSV = b"a,b\n1,2\n"


@pytest.fixture
def settings(tmp_path: Path, database: Database, envs_dir: Path) -> Settings:
    return job_settings(tmp_path, database.url, envs_dir)


@pytest.fixture
def queued(world: World) -> str:
    v = register_algorithm(world)
    ds = upload_dataset(world, world.a.h(), "rows", {"rows.csv": CSV})
    return str(submit(world, world.a.h(), job_body("racy", v["id"], ds))["id"])


def test_a_runner_fenced_out_before_its_upload_cannot_change_the_artifacts(
    world: World, queued: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, store = world.services.db, world.services.store
    real_upload = job_attempt.staging.upload_artifacts
    prefix = job_prefix(world.a.id, queued)

    def thief_wins_then_upload(st: Any, key_prefix: str, result: HostResult) -> Any:
        # The lease is taken between the runner's last check and its upload: attempt 2 runs
        # elsewhere and completes first with its own model.
        with db.write() as conn:
            t = training_jobs
            token = conn.execute(sa.select(t.c.lease_token).where(t.c.id == queued)).scalar_one()
            assert claims.give_up_attempt(conn, queued, token, "lease expired")
        other = runner(db, "thief")
        with db.write() as conn:
            lease = claims.claim(conn, other, 30)
        assert lease is not None and lease.attempt == 2
        key = f"{prefix}attempts/2/model.tar.gz"
        info = store.put(key, b"attempt-2-model")
        with db.write() as conn:
            for target in (Secondary.DOWNLOADING, Secondary.TRAINING, Secondary.UPLOADING):
                move_or_raise(conn, queued, target, "thief", lease=lease)
            arts = {"model.tar.gz": {"key": key, "size": info.size}}
            move_or_raise(
                conn, queued, Secondary.COMPLETED, "done", lease=lease, values={"artifacts": arts}
            )
        return real_upload(st, key_prefix, result)  # the stale runner uploads anyway

    monkeypatch.setattr(job_attempt.staging, "upload_artifacts", thief_wins_then_upload)
    done = run_to_end(world, queued)
    assert (done["status"], done["attempt"]) == ("Completed", 2)
    exposed = get(db, queued).artifacts  # the API shows sizes only; the row has the keys
    assert exposed["model.tar.gz"]["key"] == f"{prefix}attempts/2/model.tar.gz"
    assert store.exists(f"{prefix}attempts/1/model.tar.gz")  # the stale upload did happen
    got = world.client.get(f"{JOBS}/{queued}/artifacts/model.tar.gz", headers=world.a.h())
    assert got.content == b"attempt-2-model"
    statuses = [t["secondary_status"] for t in done["transitions"]]
    assert statuses.count("Completed") == 1 and "Interrupted" in statuses


def test_stop_after_the_program_ended_is_refused_and_the_job_completes(
    world: World, queued: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_upload = job_attempt.staging.upload_artifacts
    answers: list[Any] = []

    def stop_during_upload(st: Any, key_prefix: str, result: HostResult) -> Any:
        answers.append(world.client.post(f"{JOBS}/{queued}/stop", headers=world.a.h()))
        return real_upload(st, key_prefix, result)

    monkeypatch.setattr(job_attempt.staging, "upload_artifacts", stop_during_upload)
    done = run_to_end(world, queued)
    assert answers[0].status_code == 409 and answers[0].json()["error"]["code"] == "job_finishing"
    assert (done["status"], done["secondary_status"]) == ("Completed", "Completed")
    assert "model.json" in artifact(world, world.a.h(), queued, "model.tar.gz")


def test_stop_committed_before_the_end_was_recorded_wins(
    world: World, queued: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    executor = world.services.job_runs.executor
    real_run = executor.run

    def run_then_stop(request: Any) -> Any:
        results = real_run(request)  # the program completed ...
        resp = world.client.post(f"{JOBS}/{queued}/stop", headers=world.a.h())
        assert resp.status_code == 200  # ... but the stop commits before the runner's record
        return results

    monkeypatch.setattr(executor, "run", run_then_stop)
    done = run_to_end(world, queued)
    assert (done["status"], done["secondary_status"]) == ("Stopped", "Stopped")
    assert done["failure_reason"] == "Stopped: the job was stopped on request"
    assert "model.json" in artifact(world, world.a.h(), queued, "model.tar.gz")


def test_pending_reasons_are_recomputed_by_the_scheduler_pass(database: Database) -> None:
    from forgeml.db.types import utcnow

    t = tenant(database, "t")
    a, b, c = (job(database, t, n) for n in "abc")
    gpu = job(database, t, "g", resource_class="gpu.1")

    def reasons() -> list[str | None]:
        with database.write() as conn:
            pending.refresh(conn, utcnow(), 60)
        return [get(database, x).pending_reason for x in (a, b, c, gpu)]

    assert reasons() == ["no runner advertises class cpu.small"] * 3 + [
        "no runner advertises class gpu.1"
    ]
    r = runner(database, cpus=2)  # room for exactly one cpu.small job
    assert reasons() == ["waiting for a runner to claim it (class cpu.small)"] * 3 + [
        "no runner advertises class gpu.1"
    ]
    with database.write() as conn:
        assert claims.claim(conn, r, 30) is not None
    assert reasons()[1:] == ["waiting for capacity in class cpu.small"] * 2 + [
        "no runner advertises class gpu.1"
    ]
    assert get(database, a).pending_reason is None  # claimed: no longer pending


def test_runner_reconcile_explains_a_job_no_runner_can_hold(world: World, queued: str) -> None:
    v = register_algorithm(world, "big-algo")
    ds = upload_dataset(world, world.a.h(), "rows2", {"rows.csv": CSV})
    body = job_body(
        "big", v["id"], ds, resources={"resource_class": "cpu.large", "instance_count": 3}
    )
    big = submit(world, world.a.h(), body)["id"]  # 3 x 8 CPUs > the test runner's 16
    runs = world.services.job_runs
    runs.register()
    runs.reconcile()
    got = world.client.get(f"{JOBS}/{big}", headers=world.a.h()).json()
    assert got["pending_reason"] == "no runner advertises class 3 x cpu.large"
    first = world.client.get(f"{JOBS}/{queued}", headers=world.a.h()).json()
    assert first["pending_reason"] == "waiting for a runner to claim it (class cpu.small)"


def test_submit_refuses_a_size_no_registered_runner_can_ever_hold(world: World) -> None:
    v = register_algorithm(world, "big-algo")
    ds = upload_dataset(world, world.a.h(), "rows3", {"rows.csv": CSV})
    world.services.job_runs.register()  # the test runner: 16 CPUs
    too_big = {"resource_class": "cpu.large", "instance_count": 3}
    resp = world.client.post(
        JOBS, json=job_body("big", v["id"], ds, resources=too_big), headers=world.a.h()
    )
    assert resp.status_code == 422, resp.text
    (err,) = resp.json()["error"]["details"]["errors"]
    assert err["loc"] == "resources.resource_class"
    assert "can ever run 3 x cpu.large" in err["msg"] and "cpu.small" in err["msg"]
    # one that fits is queued as before
    fits = {"resource_class": "cpu.large", "instance_count": 1}
    assert submit(world, world.a.h(), job_body("fits", v["id"], ds, resources=fits))["id"]


def test_stop_while_the_environment_is_prepared_ends_stopped_in_seconds(
    world: World, queued: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = world.services.job_runs
    real_load, release = runs.load_algorithm, threading.Event()

    def slow_build(version_id: str) -> Any:  # a torch environment takes minutes
        release.wait(300)
        return real_load(version_id)

    monkeypatch.setattr(runs, "load_algorithm", slow_build)
    try:
        building = run_until(world, queued, lambda j: j["phase"] == "building environment")
        assert building["secondary_status"] == "Starting"
        assert world.client.post(f"{JOBS}/{queued}/stop", headers=world.a.h()).status_code == 200
        # ends while the build still blocks: the stop does not wait for it, nor for a lease
        done = run_until(world, queued, lambda j: j["secondary_status"] == "Stopped")
        assert not release.is_set()
        assert done["status"] == "Stopped" and "stopped on request" in done["status_message"]
        assert "lease" not in json.dumps(done["transitions"])
    finally:
        release.set()
        runs.wait_idle(30)
