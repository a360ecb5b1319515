"""Jobs whose inputs SageMaker allows and ForgeML used to refuse: no channel at all, and an empty
dataset version (an empty channel folder the program handles itself).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from forgeml.config import Settings
from forgeml.db.engine import Database
from tests.support.jobs import (
    JOBS,
    job_settings,
    logs_text,
    register_algorithm,
    register_fixture,
    run_to_end,
    submit,
    upload_dataset,
)
from tests.support.world import World


@pytest.fixture
def settings(tmp_path: Path, database: Database, envs_dir: Path) -> Settings:
    return job_settings(tmp_path, database.url, envs_dir)


def test_a_job_without_channels_completes(world: World) -> None:
    v = register_fixture(world, "generated-data")
    job = submit(world, world.a.h(), {"name": "no-inputs", "algorithm": v["id"]})
    assert job["inputs"] == {}
    done = run_to_end(world, job["id"])
    assert done["secondary_status"] == "Completed", done.get("failure_reason")
    text = logs_text(world, world.a.h(), job["id"])
    assert "channels: (none)" in text
    assert done["final_metrics"]["train:mse"] < 0.1
    assert "model.tar.gz" in done["artifacts"]


def test_a_channel_the_manifest_requires_is_still_required(world: World) -> None:
    v = register_algorithm(world)  # its manifest says `train: {required: true}`
    resp = world.client.post(
        JOBS, json={"name": "nothing", "algorithm": v["id"]}, headers=world.a.h()
    )
    assert resp.status_code == 422, resp.text
    locs = [e["loc"] for e in resp.json()["error"]["details"]["errors"]]
    assert locs == ["input_data.train"]


def test_an_empty_dataset_version_trains_as_an_empty_channel(world: World) -> None:
    ds = upload_dataset(world, world.a.h(), "nothing-yet", {})
    versions = world.client.get(f"/api/v1/datasets/{ds}/versions", headers=world.a.h()).json()
    committed = [x for x in versions["items"] if x["status"] == "committed"]
    assert [(x["file_count"], x["size_bytes"]) for x in committed] == [(0, 0)]
    v = register_fixture(world, "generated-data")
    body = {
        "name": "empty-channel",
        "algorithm": v["id"],
        "input_data": {"train": {"dataset_id": ds}},
    }
    job = submit(world, world.a.h(), body)
    assert job["inputs"]["train"]["files"] == [] and job["inputs"]["train"]["digest"]
    done = run_to_end(world, job["id"])
    assert done["secondary_status"] == "Completed", done.get("failure_reason")
    text = logs_text(world, world.a.h(), job["id"])
    assert "channels: train" in text and "channel train: 0 files" in text
