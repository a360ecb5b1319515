"""Algorithm environments through the registry: the builder loop, failures and rebuilds, concurrent
builders building once, real builds of the examples (scikit-learn; torch is `slow`)."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from forgeml.client.packing import pack_folder
from forgeml.config import Settings
from forgeml.db import algorithms as q
from forgeml.domain.errors import Conflict
from forgeml.services.container import Services
from forgeml.services.identity.audit import Actor
from forgeml.training.environments import EnvironmentStatus
from forgeml.workers.algorithm_builder import AlgorithmBuilder
from tests.support.algorithms import ADMIN_API, EXAMPLES, register, tiny_bundle
from tests.support.shared_tmp import run_shared_dir
from tests.support.world import World

HEADER = "=== building environment"


@pytest.fixture
def settings(
    settings: Settings, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    # the examples' cache: torch builds once a run
    if request.node.get_closest_marker("example_envs"):
        settings.algorithm_envs_dir = run_shared_dir(tmp_path_factory, "example-envs")
    return settings


@pytest.fixture(autouse=True)
def _remove_envs(services: Services, request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if request.node.get_closest_marker("example_envs"):
        return  # shared with tests/integration/test_jobs_examples.py, which reuses it
    cache = services.algorithm_envs.cache
    for lock in cache.root.glob("*.lock") if cache.root.exists() else []:
        cache.remove(f"sha256:{lock.stem}")  # envs are read-only: remove them properly


def vpath(v: dict[str, Any], suffix: str = "") -> str:
    return f"{ADMIN_API}/{v['algorithm_id']}/versions/{v['id']}{suffix}"


def get(world: World, v: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = world.client.get(vpath(v), headers=world.admin).json()
    return data


def drain(services: Services) -> int:
    builder, built = AlgorithmBuilder(services.algorithm_envs, "test-worker"), 0
    while builder.tick():
        built += 1
    return built


def test_register_with_build_is_built_by_the_loop(world: World) -> None:
    v = register(world, tiny_bundle(requirements=""), build=True)
    assert v["status"] == "building"
    assert drain(world.services) == 1
    ready = get(world, v)
    assert ready["status"] == "ready" and ready["env_built_at"] and not ready["failure_reason"]
    actor = Actor(world.services.auth.principal_from_token(world.a.tokens["member"]))
    resolved = world.services.algorithm_envs.resolve_for_job(actor, v["id"])
    assert resolved.env_status is EnvironmentStatus.BUILT and resolved.python.exists()
    assert (resolved.code_dir / "train.py").read_text().startswith("print(")
    log = world.client.get(vpath(v, "/build-log"), headers=world.admin)
    assert log.status_code == 200 and HEADER in log.text
    assert drain(world.services) == 0  # nothing left to claim


def test_register_without_build_is_not_queued(world: World) -> None:
    v = register(world, tiny_bundle(requirements=""))
    assert drain(world.services) == 0
    assert get(world, v)["status"] == "registered"
    queued = world.client.post(vpath(v, "/rebuild"), headers=world.admin).json()
    assert queued["status"] == "building"
    assert drain(world.services) == 1
    assert get(world, v)["status"] == "ready"
    again = world.client.post(vpath(v, "/rebuild"), headers=world.admin)
    assert again.status_code == 409 and again.json()["error"]["details"]["status"] == "ready"


def test_failed_build_marks_version_failed_hidden_and_rebuildable(world: World) -> None:
    v = register(world, tiny_bundle(requirements="./no-such-local-package\n"), build=True)
    assert drain(world.services) == 1
    failed = get(world, v)
    assert failed["status"] == "failed"
    assert "no-such-local-package" in failed["failure_reason"]  # the log tail
    assert world.client.get("/api/v1/algorithms", headers=world.a.h()).json()["items"] == []
    tenant = Actor(world.services.auth.principal_from_token(world.a.tokens["member"]))
    with pytest.raises(Conflict, match="failed to build") as refused:
        world.services.algorithm_envs.resolve_for_job(tenant, v["id"])
    assert refused.value.details == {}  # the pip log names requirements: admins only
    log = world.client.get(vpath(v, "/build-log"), headers=world.admin).text
    assert "=== build failed" in log
    assert world.client.post(vpath(v, "/rebuild"), headers=world.admin).json()["status"] == (
        "building"
    )
    assert drain(world.services) == 1
    assert get(world, v)["status"] == "failed"
    assert world.client.get(vpath(v, "/build-log"), headers=world.admin).text.count(HEADER) == 2


def test_concurrent_builders_build_one_digest_once(world: World) -> None:
    v = register(world, tiny_bundle(requirements=""), build=True)
    envs = world.services.algorithm_envs
    start = threading.Barrier(4)
    results: list[Any] = []

    def loop(worker: str) -> None:
        start.wait()
        results.append(AlgorithmBuilder(envs, worker).tick())

    def direct() -> None:  # a runner preparing a job for the same version meanwhile
        start.wait()
        with world.services.db.read() as conn:
            version = q.get_version(conn, v["id"])
        results.append(envs.materialize(version).env_status)

    threads = [threading.Thread(target=loop, args=(f"w{i}",)) for i in range(3)]
    threads.append(threading.Thread(target=direct))
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(results) == 4 and results.count(True) <= 1  # one claim at most, never two
    assert "built" in results
    assert envs.cache.log(v["digest"]).count(HEADER) == 1
    assert get(world, v)["status"] == "ready"


def test_stale_claims_are_taken_over(world: World) -> None:
    from datetime import timedelta

    from forgeml.db.types import utcnow

    v = register(world, tiny_bundle(requirements=""), build=True)
    now = utcnow()
    with world.services.db.write() as conn:
        assert q.claim_build(conn, "dead-worker", now - timedelta(hours=2), now) == v["id"]
        assert q.claim_build(conn, "other", now, now - timedelta(hours=3)) is None
        assert q.claim_build(conn, "other", now, now - timedelta(hours=1)) == v["id"]


def test_restart_takes_back_builds_a_stopped_server_left_claimed(world: World) -> None:
    from forgeml.db.types import utcnow

    gone = subprocess.Popen(["true"])
    gone.wait()  # a pid of this host that no longer runs: the stopped server
    v = register(world, tiny_bundle(requirements=""), build=True)
    with world.services.db.write() as conn:
        here = f"{socket.gethostname()}:{gone.pid}:old"
        assert q.claim_build(conn, here, utcnow(), utcnow()) == v["id"]
    again = world.client.post(vpath(v, "/rebuild"), headers=world.admin)
    assert again.status_code == 200 and again.json()["status"] == "building"  # queued: no 409
    assert AlgorithmBuilder(world.services.algorithm_envs).tick() is True  # at once, no timeout
    assert get(world, v)["status"] == "ready"


def test_claims_of_live_or_remote_builders_are_left_alone(world: World) -> None:
    from forgeml.db.types import utcnow

    v = register(world, tiny_bundle(requirements=""), build=True)
    envs = world.services.algorithm_envs
    for holder in (f"{socket.gethostname()}:{os.getpid()}:live", "other-node:1:x"):
        with world.services.db.write() as conn:
            q.release_build_claim(conn, v["id"], "other-node:1:x")
            assert q.claim_build(conn, holder, utcnow(), utcnow()) == v["id"]
        assert AlgorithmBuilder(envs).tick() is False
        with world.services.db.read() as conn:
            assert q.build_claims(conn) == [(v["id"], holder)]
        with world.services.db.write() as conn:
            assert q.release_build_claim(conn, v["id"], holder)


def test_tabular_example_registers_and_builds_with_scikit_learn(
    world: World, tmp_path: Path
) -> None:
    bundle, _ = pack_folder(EXAMPLES / "tabular-classifier", out=tmp_path / "t.tar.gz")
    v = register(world, bundle.read_bytes(), build=True)
    assert drain(world.services) == 1
    assert get(world, v)["status"] == "ready", get(world, v)["failure_reason"]
    actor = Actor(world.services.auth.principal_from_token(world.admin_token))
    resolved = world.services.algorithm_envs.resolve_for_job(actor, v["id"])
    import subprocess

    out = subprocess.run(
        [str(resolved.python), "-c", "import sklearn; print(sklearn.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip()


@pytest.mark.slow
@pytest.mark.example_envs
def test_digits_example_builds_with_the_local_torch_wheel(world: World, tmp_path: Path) -> None:
    bundle, _ = pack_folder(EXAMPLES / "digits-classifier", out=tmp_path / "d.tar.gz")
    v = register(world, bundle.read_bytes(), build=True)
    assert drain(world.services) == 1
    assert get(world, v)["status"] == "ready", get(world, v)["failure_reason"]
    actor = Actor(world.services.auth.principal_from_token(world.admin_token))
    resolved = world.services.algorithm_envs.resolve_for_job(actor, v["id"])
    import subprocess

    out = subprocess.run(
        [str(resolved.python), "-c", "import torch; print(torch.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "2.13.0+cpu"
