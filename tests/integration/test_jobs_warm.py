"""Warm starts through the platform (sandbox=required, jobs.warm_pool_size=1): the first job of an
algorithm starts cold and makes its environment hot; the next jobs, of any tenant, each get a
fresh warm interpreter and see what the cold one saw."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from forgeml.config import Settings
from forgeml.db.engine import Database
from forgeml.executors.local import LocalExecutor
from forgeml.services.container import Services
from tests.support.jobs import (
    job_body,
    logs_text,
    register_algorithm,
    run_to_end,
    submit,
    upload_dataset,
)
from tests.support.platform_jobs import artifact, file_store, settings_for_mode
from tests.support.world import World

TRAIN = """
import json, os, socket, sys
seen = {"argv": sys.argv, "cwd": os.getcwd(), "host": socket.gethostname(), "uid": os.getuid(),
        "env": sorted(k for k in os.environ if not k.startswith("SM_TRAINING_ENV")),
        "input": sorted(os.listdir("/opt/ml/input/data/train"))}
json.dump(seen, open("/opt/ml/model/seen.json", "w"))
print("trained", flush=True)
"""


@pytest.fixture
def settings(tmp_path: Path, database: Database, envs_dir: Path) -> Settings:
    return settings_for_mode("required", tmp_path, database.url, envs_dir, warm_pool_size=1)


@pytest.fixture
def services(settings: Settings, database: Database) -> Iterator[Services]:
    svc = Services.build(settings, database, file_store(settings))
    yield svc
    svc.job_runs.shutdown(30)  # closes the executor's pool: no warm jail outlives the test


def _wait_ready(world: World, algo: str, timeout_s: float = 180) -> None:
    executor = world.services.job_runs.executor
    assert isinstance(executor, LocalExecutor) and executor.warm is not None
    python = world.services.job_runs.load_algorithm(algo).python
    deadline = time.monotonic() + timeout_s
    while executor.warm.ready_count(python) < 1:
        assert time.monotonic() < deadline, "no warm interpreter became ready"
        time.sleep(0.1)


def _run(world: World, headers: dict[str, str], algo: str, ds: str, name: str) -> tuple[str, dict]:
    job = submit(world, headers, job_body(name, algo, ds))["id"]
    done = run_to_end(world, job, 180)
    text = logs_text(world, headers, job)
    assert done["status"] == "Completed", (done["failure_reason"], text)
    seen = json.loads(artifact(world, headers, job, "model.tar.gz")["seen.json"])
    return text, seen


def test_the_second_job_starts_warm_and_sees_what_the_first_saw(world: World) -> None:
    algo = str(register_algorithm(world, "warm-train", train=TRAIN)["id"])
    ds_a = upload_dataset(world, world.a.h(), "a-in", {"train.csv": b"x\n1\n"})
    ds_b = upload_dataset(world, world.b.h(), "b-in", {"train.csv": b"x\n2\n"})
    cold_log, cold = _run(world, world.a.h(), algo, ds_a, "cold")
    assert "start=warm" not in cold_log
    _wait_ready(world, algo)
    warm_log, warm = _run(world, world.a.h(), algo, ds_a, "warm")
    assert "start=warm" in warm_log and "trained" in warm_log
    assert warm == cold
    _wait_ready(world, algo)  # a fresh one: the last one served its job and is gone
    other_log, other = _run(world, world.b.h(), algo, ds_b, "tenant-b")
    assert "start=warm" in other_log
    assert other == cold  # B's own input (same name), nothing of A's
