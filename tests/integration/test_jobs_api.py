"""Training jobs through the API on both databases: submit, validation, the runner end to end
(Completed with artifacts, logs, metrics, events), failure reasons, stop, max runtime, billing.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from forgeml.config import Settings
from forgeml.db.engine import Database
from tests.support.jobs import (
    JOBS,
    describe,
    job_body,
    job_settings,
    logs_text,
    register_algorithm,
    run_to_end,
    run_until,
    submit,
    upload_dataset,
)
from tests.support.world import World

CSV = b"a,b,label\n1,2,0\n3,4,1\n"


@pytest.fixture
def settings(tmp_path: Path, database: Database, envs_dir: Path) -> Settings:
    return job_settings(tmp_path, database.url, envs_dir)


@pytest.fixture
def setup(world: World) -> dict[str, Any]:
    v = register_algorithm(world)
    ds = upload_dataset(world, world.a.h(), "rows", {"part-1.csv": CSV, "sub/part-2.csv": CSV})
    return {"algo": v["id"], "ds": ds}


def members(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]


def test_submit_queues_pending_with_reason_and_lineage(world: World, setup: dict[str, Any]) -> None:
    job = submit(world, world.a.h("member"), job_body("first", setup["algo"], setup["ds"]))
    assert (job["status"], job["secondary_status"]) == ("InProgress", "Pending")
    assert job["pending_reason"] == "waiting for capacity in class cpu.small"
    assert job["hyperparameters"] == {"epochs": "2", "fail": "no", "sleep": "0"}
    train = job["inputs"]["train"]
    assert train["dataset_id"] == setup["ds"] and train["version"] == 1 and train["digest"]
    assert {f["path"] for f in train["files"]} == {"part-1.csv", "sub/part-2.csv"}
    assert all("key" not in f for f in train["files"])
    d = describe(world, world.a.h("viewer"), job["id"])
    assert [t["secondary_status"] for t in d["transitions"]] == ["Pending"]
    events = world.client.get(f"{JOBS}/{job['id']}/events", headers=world.a.h()).json()
    assert [e["type"] for e in events] == ["training_job.state_changed"]


def test_bad_input_lists_every_problem_and_queues_nothing(
    world: World, setup: dict[str, Any]
) -> None:
    body = job_body("bad name!", setup["algo"], setup["ds"])
    body["input_data"]["nope"] = {"dataset_id": setup["ds"]}
    body["hyperparameters"] = {"epochs": 1000, "unknown": 1}
    body["resources"] = {"resource_class": "gpu.1", "instance_count": 2}
    body["stopping_condition"] = {"max_runtime_s": 0}
    body["environment"] = {"LD_PRELOAD": "/x.so"}
    resp = world.client.post(JOBS, json=body, headers=world.a.h())
    assert resp.status_code == 422, resp.text
    locs = {e["loc"] for e in resp.json()["error"]["details"]["errors"]}
    assert {
        "name",
        "input_data.nope",
        "hyperparameters.epochs",
        "hyperparameters.unknown",
        "resources.resource_class",
        "stopping_condition.max_runtime_s",
        "environment.LD_PRELOAD",
    } <= locs
    listed = world.client.get(JOBS, headers=world.a.h()).json()["items"]
    assert listed == []


def test_other_tenants_dataset_missing_channel_and_limits(
    world: World, setup: dict[str, Any]
) -> None:
    b_ds = upload_dataset(world, world.b.h(), "b-rows", {"x.csv": CSV})
    body = job_body("steal", setup["algo"], b_ds)
    body["input_data"] = {"extra": {"dataset_id": b_ds}}
    body["stopping_condition"] = {"max_runtime_s": 10**9}
    resp = world.client.post(JOBS, json=body, headers=world.a.h())
    assert resp.status_code == 422
    locs = {e["loc"] for e in resp.json()["error"]["details"]["errors"]}
    assert {"input_data.train", "input_data.extra", "stopping_condition.max_runtime_s"} <= locs
    too_many = {f"k{i}": 1 for i in range(101)}
    resp = world.client.post(
        JOBS,
        json=job_body("hps", setup["algo"], setup["ds"], hyperparameters=too_many),
        headers=world.a.h(),
    )
    assert resp.status_code == 422
    one = tiny = job_body("single", setup["algo"], setup["ds"])
    one["algorithm"] = "no-such-algo:9.9.9"
    assert world.client.post(JOBS, json=one, headers=world.a.h()).status_code == 422
    assert tiny["name"] == "single"


def test_duplicate_name_conflicts_and_idempotency_key_replays(
    world: World, setup: dict[str, Any]
) -> None:
    body = job_body("same", setup["algo"], setup["ds"])
    h = {**world.a.h(), "Idempotency-Key": "k-1"}
    first = world.client.post(JOBS, json=body, headers=h)
    again = world.client.post(JOBS, json=body, headers=h)
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    other = world.client.post(JOBS, json={**body, "name": "different"}, headers=h)
    assert other.status_code == 409
    dup = world.client.post(JOBS, json=body, headers=world.a.h())
    assert dup.status_code == 409 and dup.json()["error"]["code"] == "already_exists"
    # another tenant may use the same name
    b_ds = upload_dataset(world, world.b.h(), "b", {"x.csv": CSV})
    assert (
        world.client.post(
            JOBS, json=job_body("same", setup["algo"], b_ds), headers=world.b.h()
        ).status_code
        == 201
    )


def test_job_runs_to_completed_with_artifacts_logs_metrics_billing(
    world: World, setup: dict[str, Any]
) -> None:
    job = submit(
        world, world.a.h(), job_body("runs", setup["algo"], setup["ds"], tags={"team": "x"})
    )
    done = run_to_end(world, job["id"])
    assert (done["status"], done["secondary_status"]) == ("Completed", "Completed"), done
    assert done["failure_reason"] is None and done["attempt"] == 1
    statuses = [t["secondary_status"] for t in done["transitions"]]
    assert statuses == ["Pending", "Starting", "Downloading", "Training", "Uploading", "Completed"]
    assert all(t["end_time"] for t in done["transitions"])
    assert done["final_metrics"] == {"train:loss": 0.5}
    assert done["billable_seconds"] >= done["training_seconds"] >= 0
    text = logs_text(world, world.a.h("viewer"), job["id"])
    assert "files: part-1.csv,sub" in text and "epoch=1 loss=0.5000" in text
    metrics = world.client.get(f"{JOBS}/{job['id']}/metrics", headers=world.a.h()).json()
    assert [m["value"] for m in metrics["items"]] == [1.0, 0.5]
    model = world.client.get(f"{JOBS}/{job['id']}/artifacts/model.tar.gz", headers=world.a.h())
    assert model.status_code == 200
    assert json.loads(members(model.content)["model.json"])["host"] == "algo-1"
    out = world.client.get(f"{JOBS}/{job['id']}/artifacts/output.tar.gz", headers=world.a.h())
    assert members(out.content) == {"report.txt": b"ok"}
    events = world.client.get(f"{JOBS}/{job['id']}/events", headers=world.a.h()).json()
    assert events[-1]["type"] == "training_job.completed"
    assert world.services.store.exists(
        f"tenants/{world.a.id}/jobs/{job['id']}/attempts/1/model.tar.gz"
    )
    listed = world.client.get(
        f"{JOBS}?status=Completed&tag=team=x&name_contains=ru", headers=world.a.h()
    )
    assert [j["id"] for j in listed.json()["items"]] == [job["id"]]
    audit = world.client.get(
        "/api/v1/audit?action=training_job.artifact_download", headers=world.a.h()
    )
    assert len(audit.json()["items"]) == 2


def test_failing_script_reason_reaches_describe_without_retry(
    world: World, setup: dict[str, Any]
) -> None:
    body = job_body("fails", setup["algo"], setup["ds"], hyperparameters={"fail": "yes"})
    job = submit(world, world.a.h(), body)
    done = run_to_end(world, job["id"])
    assert (done["status"], done["secondary_status"]) == ("Failed", "Failed")
    assert done["failure_reason"] == "bad data in row 7"
    assert done["attempt"] == 1
    # model/output are uploaded on failure too
    assert "model.tar.gz" in done["artifacts"]


def test_stop_ends_stopped_and_queued_stop_is_immediate(
    world: World, setup: dict[str, Any]
) -> None:
    queued = submit(world, world.a.h(), job_body("q", setup["algo"], setup["ds"]))
    stopped = world.client.post(f"{JOBS}/{queued['id']}/stop", headers=world.a.h())
    assert stopped.json()["secondary_status"] == "Stopped"
    again = world.client.post(f"{JOBS}/{queued['id']}/stop", headers=world.a.h())
    assert again.status_code == 409
    viewer = world.client.post(f"{JOBS}/{queued['id']}/stop", headers=world.a.h("viewer"))
    assert viewer.status_code == 403
    body = job_body("long", setup["algo"], setup["ds"], hyperparameters={"epochs": 50, "sleep": 1})
    job = submit(world, world.a.h(), body)
    run_until(world, job["id"], lambda j: "epoch=0" in logs_text(world, world.admin, j["id"]))
    assert world.client.post(f"{JOBS}/{job['id']}/stop", headers=world.a.h()).status_code == 200
    done = run_to_end(world, job["id"])
    assert (done["status"], done["secondary_status"]) == ("Stopped", "Stopped")
    assert "Stopping" in [t["secondary_status"] for t in done["transitions"]]


def test_max_runtime_exceeded(world: World, setup: dict[str, Any]) -> None:
    body = job_body(
        "slow",
        setup["algo"],
        setup["ds"],
        hyperparameters={"epochs": 50, "sleep": 1},
        stopping_condition={"max_runtime_s": 2},
    )
    job = submit(world, world.a.h(), body)
    done = run_to_end(world, job["id"])
    assert (done["status"], done["secondary_status"]) == ("Stopped", "MaxRuntimeExceeded")
    assert "MaxRuntimeExceeded" in done["failure_reason"]


def test_streams_are_tenant_scoped_and_end_with_the_job(
    world: World, setup: dict[str, Any]
) -> None:
    from tests.support.jobs import tenant_b_job

    b_job = tenant_b_job(world)
    for route in ("logs/stream", "events/stream"):
        for role in ("tenant-admin", "member", "viewer"):
            resp = world.client.get(f"{JOBS}/{b_job}/{route}", headers=world.a.h(role))
            assert resp.status_code == 404, (route, role, resp.text)
    job = submit(world, world.a.h(), job_body("streamed", setup["algo"], setup["ds"]))
    run_to_end(world, job["id"])
    with world.client.stream("GET", f"{JOBS}/{job['id']}/logs/stream", headers=world.a.h()) as r:
        body = "".join(r.iter_text())
    assert (
        "event: log" in body
        and "epoch=1 loss=0.5000" in body
        and body.endswith("event: end\ndata: {}\n\n")
    )
    with world.client.stream("GET", f"{JOBS}/{job['id']}/events/stream", headers=world.a.h()) as r:
        body = "".join(r.iter_text())
    assert "event: training_job.completed" in body
