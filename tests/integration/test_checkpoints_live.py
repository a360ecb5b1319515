"""Checkpoint locations while a job runs: a save is synced during the run (not only at the end;
the periodic interval is set far beyond the test), and a retry of the same job resumes from it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from forgeml.config import Settings
from forgeml.db.engine import Database
from tests.support.checkpoints import LOCATIONS, create_location
from tests.support.jobs import (
    job_settings,
    logs_text,
    register_fixture,
    run_to_end,
    run_until,
    submit,
)
from tests.support.world import World


@pytest.fixture
def settings(tmp_path: Path, database: Database, envs_dir: Path) -> Settings:
    return job_settings(tmp_path, database.url, envs_dir, checkpoint_interval_s=3600.0)


def saved_state(world: World, loc_id: str) -> dict[str, Any] | None:
    url = f"{LOCATIONS}/{loc_id}/files/state.json"
    resp = world.client.get(url, headers=world.a.h())
    return json.loads(resp.content) if resp.status_code == 200 else None


def test_saves_sync_during_the_run_and_a_retry_resumes_from_the_location(world: World) -> None:
    v = register_fixture(world, "checkpoint-resume")
    loc = create_location(world, world.a.h(), "live")
    body = {
        "name": "slow",
        "algorithm": v["id"],
        "hyperparameters": {"steps": 3, "step-seconds": 600, "slow-run": 1},
        "checkpoint_config": {"location": "live"},
    }
    job = submit(world, world.a.h(), body)
    running = run_until(world, job["id"], lambda j: saved_state(world, loc["id"]) is not None)
    assert running["secondary_status"] == "Training"  # the program is still asleep after step 1
    assert saved_state(world, loc["id"]) == {"step": 1, "runs": 1}
    world.services.job_runs.shutdown(30)  # the attempt gives itself up: a retry of the same job
    done = run_to_end(world, job["id"])
    assert done["secondary_status"] == "Completed", done.get("failure_reason")
    assert done["attempt"] == 2 and "Interrupted" in [
        t["secondary_status"] for t in done["transitions"]
    ]
    assert "resumed from checkpoint at step 1 (run 1)" in logs_text(world, world.a.h(), job["id"])
    assert saved_state(world, loc["id"]) == {"step": 4, "runs": 2}
