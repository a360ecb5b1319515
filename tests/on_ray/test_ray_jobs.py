"""Real jobs through the platform on a Ray cluster of this machine: a 2-instance digits-classifier
job with one host on each of two nodes, and the same job surviving the loss of one of them
(retried on the surviving node, billed once). SQLite and a file store (the namespace has no
PostgreSQL); sandbox required."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from forgeml.config import RaySettings, Settings
from forgeml.db import job_queries as q
from forgeml.db.engine import Database
from forgeml.demo.data import write_digits_parts
from forgeml.domain.jobs import billable_seconds
from forgeml.executors.base import DemandSink
from forgeml.services.container import Services
from forgeml.workers.demand import DemandLoop
from tests.on_ray.nodes import kill_node
from tests.support.jobs import logs_text, run_to_end, run_until, submit
from tests.support.platform_jobs import (
    demo_channels,
    file_store,
    register_example,
    require_bwrap,
    sandboxed_settings,
)
from tests.support.world import World

CLASS_RESOURCE = "forgeml-class-cpu.small"  # only the two job nodes have it, not the head


@pytest.fixture(scope="module")
def job_nodes(cluster: Any) -> dict[str, Any]:
    big = cluster.add_node(num_cpus=4, resources={CLASS_RESOURCE: 2, "big": 1})
    small = cluster.add_node(num_cpus=2, resources={CLASS_RESOURCE: 1, "small": 1})
    cluster.wait_for_nodes(timeout=180)
    return {"big": big, "small": small}


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_digits_parts(tmp_path_factory.mktemp("digits"))


@pytest.fixture
def settings(tmp_path: Path, database: Database, cluster: Any, job_nodes: Any) -> Settings:
    require_bwrap()
    envs = Path(__import__("os").environ.get("FORGEML_RAY_ENVS", str(tmp_path / "envs")))
    envs.mkdir(parents=True, exist_ok=True)
    base = sandboxed_settings(tmp_path, database.url, envs, lease_s=60.0)
    ray = RaySettings(address=cluster.address, multi_node="spread", class_resources=True)
    return base.model_copy(update={"executor": "ray", "ray": ray})


@pytest.fixture
def services(settings: Settings, database: Database) -> Iterator[Services]:
    svc = Services.build(settings, database, file_store(settings))
    yield svc
    svc.job_runs.shutdown(30)


def _body(world: World, tmp: Path, digits: dict[str, Path]) -> dict[str, Any]:
    """A 2-instance digits job's body: the example registered, its channels uploaded."""
    return {
        "algorithm": register_example(world, "digits-classifier", tmp),
        "input_data": demo_channels(world, digits, "digits-classifier"),
        "hyperparameters": {"epochs": 2},
        "resources": {"instance_count": 2, "resource_class": "cpu.small"},
    }


def _submit(world: World, tmp: Path, digits: dict[str, Path], name: str) -> dict[str, Any]:
    return submit(world, world.a.h(), {"name": name, **_body(world, tmp, digits)})


def _nodes(text: str) -> set[str]:
    return {line.split()[3] for line in text.splitlines() if "on Ray node" in line}


def test_two_instances_on_two_ray_nodes(
    world: World, tmp_path: Path, digits: dict[str, Path]
) -> None:
    job = _submit(world, tmp_path, digits, "digits-ray")
    done = run_to_end(world, job["id"], timeout_s=400)
    text = logs_text(world, world.a.h(), job["id"])
    assert done["status"] == "Completed", (done["failure_reason"], text[-3000:])
    assert len(_nodes(text)) == 2, text
    assert "joining process group: rank=0 world_size=2 master=" in text
    assert "joining process group: rank=1 world_size=2 master=" in text


def test_a_lost_node_is_retried_on_the_survivor_and_billed_once(
    world: World, tmp_path: Path, digits: dict[str, Path], job_nodes: dict[str, Any], cluster: Any
) -> None:
    job = _submit(world, tmp_path, digits, "digits-ray-lost")
    run_until(world, job["id"], lambda j: "epoch" in logs_text(world, world.a.h(), j["id"]), 600)
    kill_node(cluster, job_nodes["small"])
    done = run_to_end(world, job["id"], timeout_s=400)
    text = logs_text(world, world.a.h(), job["id"])
    assert done["status"] == "Completed", (done["failure_reason"], text[-3000:])
    assert done["attempt"] == 2, done
    with world.services.db.read() as conn:
        times = q.attempt_times(conn, job["id"])
    # The lost attempt is a platform error: not billed; the job is billed for the second alone.
    assert [t.billable for t in times] == [False, True]
    assert done["billable_seconds"] == billable_seconds(times[1:], 2) > 0


def test_queued_hosts_are_requested_from_rays_autoscaler(
    world: World, tmp_path: Path, digits: dict[str, Path], services: Services
) -> None:
    from ray.autoscaler._private.commands import AUTOSCALER_RESOURCE_REQUEST_CHANNEL
    from ray.experimental.internal_kv import _internal_kv_get

    def requested() -> list[dict[str, float]]:
        return list(json.loads(_internal_kv_get(AUTOSCALER_RESOURCE_REQUEST_CHANNEL) or b"[]"))

    executor = services.job_runs.executor
    assert isinstance(executor, DemandSink)
    loop = DemandLoop(services.job_runs, executor)
    body = _body(world, tmp_path, digits)
    jobs = [submit(world, world.a.h(), {"name": f"queued-{i}", **body})["id"] for i in range(2)]
    loop.tick()
    bundles = requested()
    assert len(bundles) == 4, bundles
    assert all(b["CPU"] == 2 and b[CLASS_RESOURCE] > 0 for b in bundles), bundles
    for job_id in jobs:
        resp = world.client.post(f"/api/v1/training-jobs/{job_id}/stop", headers=world.a.h())
        assert resp.status_code in (200, 202), resp.text
    loop.tick()
    assert requested() == []  # nothing queued: the autoscaler may shrink the cluster
