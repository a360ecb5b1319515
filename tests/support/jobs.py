"""Helpers for training-job tests: inline algorithms, datasets through the API, a job runner.

Algorithms are registered through the admin API; datasets are uploaded through the tenant API
(or granted platform datasets), so job tests exercise the real neighbours.
"""

from __future__ import annotations

import hashlib
import textwrap
import time
from pathlib import Path
from typing import Any

from forgeml.config import Settings
from forgeml.domain.jobs import is_terminal
from tests.support.algorithms import register, tar_gz
from tests.support.world import World

JOBS = "/api/v1/training-jobs"

MANIFEST = """\
name: {name}
version: 1.0.0
entry_point: train.py
hyperparameters:
  epochs: {{type: integer, default: 2, min: 1, max: 100}}
  sleep: {{type: continuous, default: 0, min: 0, max: 600}}
  fail: {{type: categorical, values: ["no", "yes"], default: "no"}}
channels:
  train: {{required: true}}
  extra: {{required: false}}
metrics:
  - {{name: "train:loss", regex: "loss=([0-9.]+)"}}
resource_classes: {classes}
distributed: {distributed}
"""

# Reads SM_* and /opt/ml paths, prints metrics, writes a model, honours fail/sleep, checkpoints.
TRAIN = """
import json, os, sys, time
args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
train = os.environ["SM_CHANNEL_TRAIN"]
files = sorted(os.listdir(train))
print("files:", ",".join(files), flush=True)
ck = "/opt/ml/checkpoints" if os.path.isdir("/opt/ml/checkpoints") else os.path.join(
    os.environ["SAGEMAKER_BASE_DIR"], "checkpoints")
start = 0
if os.path.exists(os.path.join(ck, "epoch")):
    start = int(open(os.path.join(ck, "epoch")).read())
    print("resumed from epoch", start, flush=True)
for epoch in range(start, int(args["--epochs"])):
    print(f"epoch={epoch} loss={1.0 / (epoch + 1):.4f}", flush=True)
    open(os.path.join(ck, "epoch"), "w").write(str(epoch + 1))
    time.sleep(float(args["--sleep"]))
if args["--fail"] == "yes":
    open(os.path.join(os.environ["SM_OUTPUT_DIR"], "failure"), "w").write("bad data in row 7")
    sys.exit(3)
with open(os.path.join(os.environ["SM_MODEL_DIR"], "model.json"), "w") as f:
    json.dump({"files": files, "host": os.environ["SM_CURRENT_HOST"]}, f)
with open(os.path.join(os.environ["SM_OUTPUT_DATA_DIR"], "report.txt"), "w") as f:
    f.write("ok")
print("done", flush=True)
"""


def job_settings(tmp: Path, database_url: str, envs: Path, **jobs: Any) -> Settings:
    cfg: dict[str, Any] = {
        "lease_s": 6.0,
        "heartbeat_s": 0.5,
        "reconcile_s": 0.5,
        "retry_backoff_s": 0.5,  # re-claims after an interruption wait this (then doubling)
        "stop_grace_s": 2.0,
        "checkpoint_interval_s": 0.5,
        "log_flush_s": 0.1,
        "runner_name": "test-runner",
        "runner_cpus": 16,
        "runner_memory_bytes": 64 * 1024**3,
        **jobs,
    }
    return Settings(
        home=tmp / "home",
        database_url=database_url,
        storage_url="memory://test",
        log_format="console",
        sandbox="off",
        algorithm_envs_dir=envs,
        jobs=cfg,
    )


def register_algorithm(
    world: World,
    name: str = "tiny-train",
    *,
    train: str = TRAIN,
    classes: str = "[cpu.small, cpu.large]",
    distributed: bool = True,
) -> dict[str, Any]:
    files = {
        "forgeml.yaml": MANIFEST.format(
            name=name, classes=classes, distributed=str(distributed).lower()
        ),
        "train.py": textwrap.dedent(train),
    }
    return dict(register(world, tar_gz(files)))


def upload_dataset(
    world: World,
    headers: dict[str, str],
    name: str,
    files: dict[str, bytes],
    *,
    kind: str = "tenant",
) -> str:
    c = world.client
    resp = c.post("/api/v1/datasets", json={"name": name, "kind": kind}, headers=headers)
    assert resp.status_code == 201, resp.text
    ds = resp.json()["id"]
    decl = [
        {"path": p, "size": len(b), "sha256": hashlib.sha256(b).hexdigest()}
        for p, b in files.items()
    ]
    up = c.post(f"/api/v1/datasets/{ds}/uploads", json={"files": decl}, headers=headers)
    assert up.status_code == 201, up.text
    uid = up.json()["version"]["id"]
    for path, data in files.items():
        r = c.put(
            f"/api/v1/datasets/{ds}/uploads/{uid}/files/{path}", content=data, headers=headers
        )
        assert r.status_code in (200, 201), r.text
    r = c.post(f"/api/v1/datasets/{ds}/uploads/{uid}/commit", headers=headers)
    assert r.status_code in (200, 201), r.text
    return str(ds)


def job_body(name: str, algorithm: str, dataset_id: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name,
        "algorithm": algorithm,
        "input_data": {"train": {"dataset_id": dataset_id}},
        "hyperparameters": {"epochs": 2},
    }
    body.update(extra)
    return body


def submit(world: World, headers: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    resp = world.client.post(JOBS, json=body, headers=headers)
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


def describe(world: World, headers: dict[str, str], job_id: str) -> dict[str, Any]:
    resp = world.client.get(f"{JOBS}/{job_id}", headers=headers)
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def run_until(world: World, job_id: str, pred: Any, timeout_s: float = 60.0) -> dict[str, Any]:
    """Tick the runner of `world.services` until `pred(job)` holds (the job as admin sees it)."""
    runs = world.services.job_runs
    deadline = time.monotonic() + timeout_s
    while True:
        runs.tick()
        job = describe(world, world.admin, job_id)
        if pred(job):
            return job
        assert time.monotonic() < deadline, f"timed out; job is {job['secondary_status']}"
        time.sleep(0.1)


def run_to_end(world: World, job_id: str, timeout_s: float = 90.0) -> dict[str, Any]:
    run_until(world, job_id, lambda j: is_terminal(j["secondary_status"]), timeout_s)
    world.services.job_runs.wait_idle(30)
    return describe(world, world.admin, job_id)


def logs_text(world: World, headers: dict[str, str], job_id: str) -> str:
    resp = world.client.get(f"{JOBS}/{job_id}/logs?limit=5000", headers=headers)
    assert resp.status_code == 200, resp.text
    return "\n".join(x["text"] for x in resp.json()["items"])


def tenant_b_job(world: World) -> str:
    """Tenant B's job, with artifacts in place (for the cross-tenant route test)."""
    cached: str | None = getattr(world, "_b_job", None)
    if cached is None:
        from forgeml.db.jobs import training_jobs

        v = register_algorithm(world, "b-cross-tenant")
        ds = upload_dataset(world, world.b.h(), "b-cross", {"x.csv": b"a\n1\n"})
        cached = str(submit(world, world.b.h(), job_body("b-job", v["id"], ds))["id"])
        arts = {}
        for name in ("model.tar.gz", "output.tar.gz"):
            key = f"tenants/{world.b.id}/jobs/{cached}/{name}"
            info = world.services.store.put(key, b"\x1f\x8b fake")
            arts[name] = {"key": key, "size": info.size}
        with world.services.db.write() as conn:
            conn.execute(
                training_jobs.update().where(training_jobs.c.id == cached).values(artifacts=arts)
            )
        world._b_job = cached  # type: ignore[attr-defined]
    return cached


FIXTURE_ALGORITHMS = Path(__file__).resolve().parents[1] / "fixtures" / "algorithms"


def register_fixture(world: World, name: str) -> dict[str, Any]:
    """Register the algorithm in `tests/fixtures/algorithms/<name>/` (every file of the folder)."""
    folder = FIXTURE_ALGORITHMS / name
    files: dict[str, bytes | str] = {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }
    return dict(register(world, tar_gz(files)))
