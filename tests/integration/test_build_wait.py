"""A job whose runner builds the algorithm's environment on first use: the tenant's describe shows
that build (a real uv build, held at one of its lines) while it runs, and nothing once it ran."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from forgeml.config import Settings
from forgeml.db.engine import Database
from forgeml.services.algorithms.build_recorder import BuildRecorder
from tests.support import jobs
from tests.support.world import World

HOLD_AT = "=== installer:"  # a line the build prints after creating its log, before the venv


@pytest.fixture
def settings(tmp_path: Path, database: Database) -> Settings:
    return jobs.job_settings(tmp_path, database.url, tmp_path / "envs")  # nothing built yet


def test_tenant_sees_the_build_its_job_waits_on(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    reached, release = threading.Event(), threading.Event()
    original = BuildRecorder.line

    def held(self: BuildRecorder, text: str) -> None:
        original(self, text)
        if text.startswith(HOLD_AT):
            self.flush()  # what the build printed so far is visible now
            reached.set()
            assert release.wait(60), "the test never released the build"

    monkeypatch.setattr(BuildRecorder, "line", held)
    v = jobs.register_algorithm(world, "first-use")
    ds = jobs.upload_dataset(world, world.a.h(), "rows", {"rows.csv": b"a,b\n1,2\n"})
    job = jobs.submit(world, world.a.h("member"), jobs.job_body("waits", v["id"], ds))
    try:
        world.services.job_runs.tick()  # claims the job; its attempt builds the environment
        assert reached.wait(60), "the runner never started the build"
        seen: dict[str, Any] = jobs.describe(world, world.a.h("viewer"), job["id"])
        assert seen["phase"] == "building environment"
        build = seen["environment_build"]
        assert build["phase"] == "creating" and build["packages_installed"] == 0
        assert build["elapsed_s"] >= 0 and build["started_at"]
    finally:
        release.set()
    done = jobs.run_to_end(world, job["id"])
    assert done["status"] == "Completed", done
    assert jobs.describe(world, world.a.h(), job["id"])["environment_build"] is None
    lines = world.client.get(
        f"/api/v1/admin/algorithms/{v['algorithm_id']}/versions/{v['id']}/build-log/lines",
        headers=world.admin,
    ).json()
    assert lines["build"]["phase"] == "done" and lines["finished"]  # the runner recorded it
