"""A worker that shuts down mid-training gives the attempt up as the platform's interruption:
the job is retried (elsewhere, or here after the restart) without spending the tenant's attempts.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from forgeml.config import Settings
from forgeml.db.engine import Database
from tests.support.jobs import (
    job_body,
    job_settings,
    register_algorithm,
    run_to_end,
    run_until,
    submit,
    upload_dataset,
)
from tests.support.world import World


@pytest.fixture
def settings(tmp_path: Path, database: Database, envs_dir: Path) -> Settings:
    return job_settings(tmp_path, database.url, envs_dir)


@pytest.mark.parametrize("database", ["postgres"], indirect=True)  # production shape
def test_a_shutdown_mid_training_interrupts_without_spending_max_attempts(world: World) -> None:
    v = register_algorithm(world)
    ds = upload_dataset(world, world.a.h(), "rows", {"rows.csv": b"a,b\n1,2\n"})
    body = job_body("long", v["id"], ds, hyperparameters={"sleep": 3}, retry={"max_attempts": 1})
    job_id = submit(world, world.a.h(), body)["id"]
    run_until(world, job_id, lambda j: j["secondary_status"] == "Training")
    world.services.job_runs.shutdown(30)  # what the runner loop does when the worker stops
    interrupted = run_until(world, job_id, lambda j: j["secondary_status"] != "Training")
    assert interrupted["secondary_status"] == "Interrupted", interrupted
    assert "the worker shut down" in interrupted["transitions"][-1]["message"]
    done = run_to_end(world, job_id)
    assert (done["status"], done["attempt"]) == ("Completed", 2), done
